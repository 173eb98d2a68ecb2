"""Holds that have expired while others race for their slot.

A hold past expires_at must never block a new booking, whether or not a
sweeper has run (I4): the booking functions expire it lazily. These tests
create holds with a tiny ttl and wait until the database clock has passed
their expires_at (waiting for a state, not sleeping to order anything).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from .conftest import Venue
from .racing import Session, Step, assert_refused_only_with, backend_pid, race, refusals

pytestmark = pytest.mark.concurrency

RACERS = 32
LAPSED_AT_ONCE = timedelta(microseconds=1)


def hold(venue: Venue, resource_ids: list[int], start: float, end: float) -> int:
    """Create a hold that lapses at once; record it; return its id."""
    with psycopg.connect(venue.dsn, autocommit=True, row_factory=dict_row) as conn:
        row = Session(conn, -1).call(
            "create_hold",
            venue_id=venue.venue_id,
            resource_ids=resource_ids,
            starts_at=venue.at(start),
            ends_at=venue.at(end),
            ttl=LAPSED_AT_ONCE,
        )
    venue.ledger.record(row)
    return int(row["id"])


def status_of(venue: Venue, booking_id: int) -> str:
    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT status FROM bookingdb.get_booking(%s, %s)", (venue.venue_id, booking_id)
        ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize("function", ["create_booking_atomic", "create_hold"])
def test_racers_for_a_slot_behind_an_expired_hold_exactly_one_wins(
    venue: Venue, lapsed: Callable[[int], None], function: str
) -> None:
    table = venue.add_resource("table 1")
    expired = hold(venue, [table], 0, 120)
    lapsed(expired)

    outcomes = race(
        venue.dsn,
        RACERS,
        function,
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [table],
            "starts_at": venue.at(30),
            "ends_at": venue.at(90),
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK001"})
    assert sum(o.won for o in outcomes) == 1
    assert refusals(outcomes) == {"BK001": RACERS - 1}
    assert status_of(venue, expired) == "expired"
    venue.check()


def test_racers_for_a_shared_room_behind_expired_holds_fill_it_exactly(
    venue: Venue, lapsed: Callable[[int], None]
) -> None:
    room = venue.add_resource("meeting room, 3 desks", capacity=3)
    expired = [hold(venue, [room], 0, 60) for _ in range(3)]
    for booking_id in expired:
        lapsed(booking_id)

    outcomes = race(
        venue.dsn,
        10,
        "create_booking_atomic",
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [room],
            "starts_at": venue.at(0),
            "ends_at": venue.at(60),
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK002"})
    assert sum(o.won for o in outcomes) == 3
    assert {status_of(venue, b) for b in expired} == {"expired"}
    venue.check()


def test_racers_for_disjoint_quarters_of_an_expired_hold_all_win(
    venue: Venue, lapsed: Callable[[int], None]
) -> None:
    table = venue.add_resource("table 1")
    expired = hold(venue, [table], 0, 120)
    lapsed(expired)

    # Eight racers, a different quarter hour each: nobody overlaps anybody,
    # and the lapsed hold in everyone's way blocks nobody (I4).
    outcomes = race(
        venue.dsn,
        8,
        "create_booking_atomic",
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [table],
            "starts_at": venue.at(15 * i),
            "ends_at": venue.at(15 * i + 15),
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, set())
    assert status_of(venue, expired) == "expired"
    venue.check()


def test_racers_for_tables_behind_one_expired_two_table_hold_never_double_book(
    venue: Venue, lapsed: Callable[[int], None]
) -> None:
    t1 = venue.add_resource("table 1")
    t2 = venue.add_resource("table 2")
    expired = hold(venue, [t1, t2], 0, 120)
    lapsed(expired)

    # A third of the racers want t1, a third t2, a third both (in either order).
    wants = [[t1], [t2], [t1, t2], [t2, t1]]
    outcomes = race(
        venue.dsn,
        RACERS,
        "create_booking_atomic",
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": wants[i % 4],
            "starts_at": venue.at(0),
            "ends_at": venue.at(120),
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK001"})
    won = sorted(len(o.row["resource_ids"]) for o in outcomes if o.row)
    # Either one party got both tables, or one got t1 and another t2.
    assert won in ([2], [1, 1])
    assert status_of(venue, expired) == "expired"
    venue.check()


def test_bookings_expiring_holds_in_their_way_never_deadlock(
    venue: Venue, lapsed: Callable[[int], None]
) -> None:
    """Two bookings for [q, r] whose way is blocked by two lapsed holds.

    Steps (each waits until the previous one is blocked where stated):

    1. A third session (a customer's confirm in flight) holds hold H2's row lock.
    2. B asks for [q, r] 10:00-11:00. Both tables are blocked by lapsed holds
       (H on q, H2 on r), so B starts expiring them: locks H, waits for H2.
    3. A asks for [q, r] 10:30-11:30. Lapsed H blocks q; r is free for A's
       time (H2 ended at 10:10), so A places r, then waits to expire H (B has it).
    4. The third session lets go of H2.

    B expires both holds and retries q and r; A's uncommitted r overlaps B's
    r, so B waits for A while A waits for B. The engine must not let that
    surface as 40P01: one of them books, the other is told BK001.
    """
    q = venue.add_resource("table q")
    r = venue.add_resource("table r")
    h = hold(venue, [q], 0, 60)  # 10:00-11:00 in the docstring's clock
    h2 = hold(venue, [r], -60, 10)  # 09:00-10:10
    lapsed(h)
    lapsed(h2)

    with (
        psycopg.connect(venue.dsn, autocommit=True) as observer,
        psycopg.connect(venue.dsn) as confirm_in_flight,
    ):
        confirm_in_flight.execute(
            "SELECT 1 FROM bookingdb.bookings WHERE venue_id = %s AND booking_id = %s FOR UPDATE",
            (venue.venue_id, h2),
        )
        holder = backend_pid(confirm_in_flight)

        b = Step(
            venue.dsn,
            "create_booking_atomic",
            venue_id=venue.venue_id,
            resource_ids=[q, r],
            starts_at=venue.at(0),
            ends_at=venue.at(60),
        ).start()
        b.wait_blocked_by(observer, holder)

        a = Step(
            venue.dsn,
            "create_booking_atomic",
            venue_id=venue.venue_id,
            resource_ids=[q, r],
            starts_at=venue.at(30),
            ends_at=venue.at(90),
        ).start()
        a.wait_blocked_by(observer, b.pid)

        confirm_in_flight.rollback()
        outcomes = [a.join(), b.join()]

    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, {"BK001"})
    assert sum(o.won for o in outcomes) == 1
    assert {status_of(venue, h), status_of(venue, h2)} == {"expired"}
    venue.check()


def test_bookings_for_the_two_halves_of_an_expired_hold_both_win(
    venue: Venue, lapsed: Callable[[int], None]
) -> None:
    """A lapsed hold H covers 10:00-12:00 on a table. W wants 10:00-11:00,
    R wants 11:00-12:00: they do not overlap, and H blocks neither (I4).
    Steps:

    1. A third session (a customer's confirm in flight) holds H's row lock.
    2. W and R each find H in the way and wait to expire it.
    3. The third session lets go. One of W, R expires H and books.

    The other must then find its half free and book too, not be told BK001
    because someone else expired H first.
    """
    table = venue.add_resource("table 1")
    h = hold(venue, [table], 0, 120)
    lapsed(h)

    with (
        psycopg.connect(venue.dsn, autocommit=True) as observer,
        psycopg.connect(venue.dsn) as confirm_in_flight,
    ):
        confirm_in_flight.execute(
            "SELECT 1 FROM bookingdb.bookings WHERE venue_id = %s AND booking_id = %s FOR UPDATE",
            (venue.venue_id, h),
        )
        holder = backend_pid(confirm_in_flight)
        steps = [
            Step(
                venue.dsn,
                "create_booking_atomic",
                venue_id=venue.venue_id,
                resource_ids=[table],
                starts_at=venue.at(start),
                ends_at=venue.at(start + 60),
            )
            for start in (0, 60)
        ]
        # The second queues behind the first for H's row lock: it starts only
        # once the first waits (started together, either could queue first,
        # and the first would then never be seen waiting for the holder).
        steps[0].start().wait_blocked_by(observer, holder)
        steps[1].start().wait_blocked_by(observer, holder, steps[0].pid)

        confirm_in_flight.rollback()
        outcomes = [step.join() for step in steps]

    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, set())
    assert status_of(venue, h) == "expired"
    venue.check()
