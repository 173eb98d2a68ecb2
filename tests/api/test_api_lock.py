"""The booking lock through the Python client: a transaction of the caller's
own in which nobody else's booking of the resource runs; and load shedding,
a BK020 refusal retried only when an idempotency key makes it safe.

Two sessions, explicit steps: the other session's state is observed in
pg_stat_activity / pg_blocking_pids, never ordered by the clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from api_kit import Conn, alongside, retried_past_busy, table_counts, wait_until
from psycopg.rows import dict_row

from bookingdb import BookingDB, Busy, NotFound, SlotUnavailable, calls

At = Callable[[float], datetime]

BOOK = "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s)"


def _lock_holder(conn: Conn) -> int:
    """The pid of the one session of this database idle in a transaction."""
    [(pid,)] = conn.execute(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND state = 'idle in transaction'"
    ).fetchall()
    return int(pid)


def _blocked_by(conn: Conn, holder: int) -> bool:
    """Some statement of this database waits for ``holder``'s lock."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND %s = ANY(pg_blocking_pids(pid))",
        (holder,),
    ).fetchone()
    return row is not None and int(row[0]) > 0


def test_a_booking_from_another_connection_waits_for_the_lock_and_then_is_refused(
    db: BookingDB, conn: Conn, dsn: str, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    locked = threading.Event()
    theirs: list[BaseException | dict[str, Any]] = []

    def another_connection_books() -> None:
        assert locked.wait(30), "the lock was never taken"
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as other:
            try:
                theirs.append(other.execute(BOOK, (venue, [table], at(19), at(21))).fetchall()[0])
            except psycopg.Error as err:
                theirs.append(err)

    # The lock's block ends (step 4: commit, the lock is released) before
    # alongside() waits for the other session.
    with (
        alongside(another_connection_books),
        db.booking_lock(venue, table, at(19), at(21)) as tx,
    ):
        assert tx.check_availability(venue, [table], at(19), at(21))
        # Step 1: the lock is held; the other session tries to book...
        locked.set()
        holder = _lock_holder(conn)
        # Step 2: ...and waits for this transaction.
        wait_until(lambda: _blocked_by(conn, holder), what="the other booking to wait")
        # Step 3: this transaction books (its own calls do not wait).
        mine = tx.create_booking_atomic(venue, [table], at(19), at(21))
        assert mine.status == "confirmed" and mine.cancel_token is not None
        assert theirs == []
    [outcome] = theirs
    assert isinstance(outcome, psycopg.Error) and outcome.sqlstate == "BK001"
    assert db.get_booking(venue, mine.id).status == "confirmed"


def test_the_lock_lets_another_connection_book_once_it_is_released(
    db: BookingDB, conn: Conn, dsn: str, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    locked = threading.Event()
    theirs: list[dict[str, Any]] = []

    def another_connection_books() -> None:
        assert locked.wait(30), "the lock was never taken"
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as other:
            theirs.append(other.execute(BOOK, (venue, [table], at(22), at(23))).fetchall()[0])

    with alongside(another_connection_books), db.booking_lock(venue, table, at(19), at(21)):
        locked.set()
        holder = _lock_holder(conn)
        # The whole resource is locked, not just [19, 21).
        wait_until(lambda: _blocked_by(conn, holder), what="the other booking to wait")
        assert theirs == []
    [booking] = theirs
    assert booking["status"] == "confirmed"


@pytest.fixture
def lock_holder(dsn: str, venue: int, db: BookingDB, at: At) -> Iterator[tuple[Conn, int]]:
    """Another session holding the booking lock of a table, uncommitted."""
    table = db.add_resource(venue, "T1")
    with psycopg.connect(dsn) as other:
        other.execute(
            "SELECT bookingdb.acquire_booking_lock(%s, %s, %s, %s)",
            (venue, table, at(19), at(21)),
        )
        yield other, table
        other.rollback()


def test_without_waiting_a_held_lock_is_busy_at_once(
    db: BookingDB, venue: int, at: At, lock_holder: tuple[Conn, int]
) -> None:
    other, table = lock_holder
    with pytest.raises(Busy) as info, db.booking_lock(venue, table, at(19), at(21), wait=False):
        pytest.fail("the block ran without the lock")
    assert info.value.retryable and info.value.sqlstate == "BK020"
    other.rollback()
    with db.booking_lock(venue, table, at(19), at(21), wait=False) as tx:
        assert tx.create_booking_atomic(venue, [table], at(19), at(21)).status == "confirmed"


def test_an_exception_rolls_the_block_back_and_releases_the_lock(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    before = table_counts(conn)
    with (
        pytest.raises(RuntimeError, match="card declined"),
        db.booking_lock(venue, table, at(19), at(21)) as tx,
    ):
        tx.create_booking_atomic(venue, [table], at(19), at(21))
        raise RuntimeError("card declined")
    assert table_counts(conn) == before
    lock = "SELECT bookingdb.try_booking_lock(%s, %s, %s, %s)"
    assert conn.execute(lock, (venue, table, at(19), at(21))).fetchone() == (True,)
    # The handle does not outlive its transaction.
    with pytest.raises(RuntimeError, match="has ended"):
        tx.check_availability(venue, [table], at(19), at(21))


def test_a_refusal_in_the_block_is_counted_with_its_alternatives_after_the_rollback(
    db: BookingDB, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    other = db.add_resource(venue, "T2")
    db.create_booking_atomic(venue, [table], at(19), at(21))
    with (
        pytest.raises(SlotUnavailable) as info,
        db.booking_lock(venue, table, at(19), at(21)) as tx,
    ):
        tx.create_booking_atomic(venue, [table], at(19), at(21))
    assert info.value.alternatives and info.value.alternatives[0].resource_id == other
    assert db.stats(venue)["refusals"] == {"BK001": 1}


def test_a_refusal_caught_in_the_block_undoes_only_the_refused_call(
    db: BookingDB, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    other = db.add_resource(venue, "T2")
    db.create_booking_atomic(venue, [table], at(19), at(21))
    with db.booking_lock(venue, table, at(19), at(21)) as tx:
        first = tx.create_booking_atomic(venue, [table], at(22), at(23))
        with pytest.raises(SlotUnavailable):
            tx.create_booking_atomic(venue, [table], at(19), at(21))
        second = tx.create_booking_atomic(venue, [other], at(19), at(21))
    # Both bookings of the block were committed; the refusal was counted.
    assert {db.get_booking(venue, b.id).status for b in (first, second)} == {"confirmed"}
    assert db.stats(venue)["refusals"] == {"BK001": 1}


def test_the_lock_checks_what_it_locks(db: BookingDB, venue: int, at: At) -> None:
    with pytest.raises(NotFound), db.booking_lock(venue, 987654, at(19), at(21)):
        pytest.fail("the block ran without the lock")
    naive = at(19).replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone"), db.booking_lock(venue, 1, naive, at(21)):
        pytest.fail("the block ran without the lock")


def test_more_resources_can_be_locked_in_the_same_transaction(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    first = db.add_resource(venue, "T1", seats_max=2)
    second = db.add_resource(venue, "T2", seats_max=2)
    lock = "SELECT bookingdb.try_booking_lock(%s, %s, %s, %s)"
    with db.booking_lock(venue, first, at(19), at(21)) as tx:
        assert tx.try_booking_lock(venue, second, at(19), at(21)) is True
        for resource in (first, second):
            assert conn.execute(lock, (venue, resource, at(19), at(21))).fetchone() == (False,)
        pair = tx.create_booking_atomic(venue, [first, second], at(19), at(21), party_size=4)
    assert db.get_booking(venue, pair.id).status == "confirmed"


# -- load shedding: BK020 -------------------------------------------------------------------


def test_only_keyed_or_idempotent_calls_are_retried(at: At) -> None:
    slot = (1, [1], at(19), at(21))
    for declare in (calls.create_hold, calls.create_booking_atomic):
        assert declare(*slot, idempotency_key="k").retry_safe
        assert not declare(*slot).retry_safe
    assert calls.hold_event_tickets(1, 1, quantity=1, idempotency_key="k").retry_safe
    assert not calls.hold_event_tickets(1, 1, quantity=1).retry_safe
    # Idempotent by nature: a replay returns the same answer.
    assert calls.confirm_hold(1, 1).retry_safe and calls.find_booking(1, "BK-1").retry_safe
    assert calls.set_sellable_capacity(1, 1, 5).retry_safe
    # A second cancel would be refused: never run twice.
    assert not calls.cancel_by_token(1, "BK-1", "t").retry_safe


def test_busy_without_a_key_is_raised_not_retried(
    db: BookingDB, venue: int, at: At, lock_holder: tuple[Conn, int]
) -> None:
    _, table = lock_holder
    with pytest.raises(Busy):
        db.create_booking_atomic(venue, [table], at(19), at(21))
    assert db.stats(venue)["refusals"] == {"BK020": 1}


def test_busy_with_a_key_is_retried_until_the_lock_is_free(
    db: BookingDB, conn: Conn, venue: int, at: At, lock_holder: tuple[Conn, int]
) -> None:
    other, table = lock_holder
    booking = retried_past_busy(
        conn,
        lambda: db.create_booking_atomic(venue, [table], at(19), at(21), idempotency_key="rush-1"),
        other,
    )
    assert (booking.status, booking.resource_ids) == ("confirmed", (table,))
    # A refusal that was retried away is not counted.
    assert db.stats(venue)["refusals"] == {}
