"""The change feed through the Python client: ``changes_since`` numbers every
change once, gap-free; ``watch()`` yields each change exactly once, in order,
woken by NOTIFY (or polling), across a dropped connection too."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from api_kit import Conn, Connect, alongside, wait_until

from bookingdb import Booking, BookingDB, Change, NotFound
from bookingdb.client import WATCH

At = Callable[[float], datetime]


def _watchers(conn: Conn) -> list[tuple[int, str, str]]:
    """The watch() backends on this test's database: (pid, state, last query)."""
    return [
        (int(pid), str(state), str(query))
        for pid, state, query in conn.execute(
            "SELECT pid, state, query FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            (WATCH,),
        )
    ]


def _waiting_for_news(conn: Conn) -> bool:
    """A watcher has caught up and sits waiting for a notification."""
    return any(state == "idle" and "changes_since" in query for _, state, query in _watchers(conn))


def _terminate(conn: Conn, pid: int) -> None:
    row = conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()
    assert row is not None and row[0] is True


def test_changes_since_numbers_one_row_per_change_and_resource(
    db: BookingDB, venue: int, at: At
) -> None:
    t1 = db.add_resource(venue, "T1", seats_max=2)
    t2 = db.add_resource(venue, "T2", seats_max=2)
    booking = db.create_booking_atomic(venue, [t2, t1], at(10), at(12), party_size=4)
    db.cancel_booking(venue, booking.id)
    changes = db.changes_since(venue)
    assert all(isinstance(c, Change) for c in changes)
    assert [(c.seq, c.resource_id, c.old_status, c.new_status, c.action) for c in changes] == [
        (1, t1, None, "confirmed", "create"),
        (2, t2, None, "confirmed", "create"),
        (3, t1, "confirmed", "cancelled", "cancelled"),
        (4, t2, "confirmed", "cancelled", "cancelled"),
    ]
    assert {(c.booking_id, c.reference, c.starts_at, c.ends_at) for c in changes} == {
        (booking.id, booking.reference, at(10), at(12))
    }
    assert [c.seq for c in db.changes_since(venue, 2, 1)] == [3]
    assert db.changes_since(venue, 4) == []


def test_pruned_rows_are_gone_and_their_numbers_never_come_back(
    db: BookingDB, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    db.create_booking_atomic(venue, [table], at(10), at(11))
    assert [c.seq for c in db.changes_since(venue)] == [1]
    assert db.prune_changes(venue, timedelta(0)) == 1
    assert db.changes_since(venue) == []
    db.create_booking_atomic(venue, [table], at(12), at(13))
    assert [c.seq for c in db.changes_since(venue)] == [2]


def _book(db: BookingDB, venue: int, table: int, at: At, hour: float) -> Booking:
    return db.create_booking_atomic(venue, [table], at(hour), at(hour + 1))


def test_watch_yields_every_change_once_in_order_across_a_dropped_connection(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    first, second = _book(db, venue, table, at, 10), _book(db, venue, table, at, 11)
    feed = db.watch(venue, idle_timeout=30)
    seen = [next(feed)]
    # Mid-stream: one change of the first page yielded, one still to come.
    [(pid, _, _)] = _watchers(conn)
    _terminate(conn, pid)
    db.cancel_booking(venue, first.id)
    db.cancel_booking(venue, second.id)
    seen += [next(feed) for _ in range(3)]
    assert [c.seq for c in seen] == [1, 2, 3, 4]
    assert seen == db.changes_since(venue)
    [(again, _, _)] = _watchers(conn)
    assert again != pid
    feed.close()
    wait_until(lambda: not _watchers(conn), what="the watcher's connection to close")


def test_watch_reconnects_when_dropped_while_waiting(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    # Woken by NOTIFY, not by a poll: the wait that is dropped is the wait
    # for a notification.
    db.set_venue_rules(venue, {"notify": True})
    table = db.add_resource(venue, "T1")
    _book(db, venue, table, at, 10)
    feed = db.watch(venue, poll_interval=3600, idle_timeout=30)
    assert next(feed).seq == 1

    def drop_then_book() -> None:
        wait_until(lambda: _waiting_for_news(conn), what="the watcher to wait")
        [(pid, _, _)] = _watchers(conn)
        _terminate(conn, pid)
        _book(db, venue, table, at, 11)

    with alongside(drop_then_book):
        change = next(feed)
    assert (change.seq, change.action) == (2, "create")
    feed.close()


def _delivery(
    db: BookingDB, conn: Conn, feed: Iterator[Change], book: Callable[[], object]
) -> tuple[Change, float]:
    """Once the watcher waits for news, ``book()`` in another thread: the change
    ``feed`` yields next and the seconds from its commit to its delivery."""
    committed: list[float] = []

    def book_when_waiting() -> None:
        wait_until(lambda: _waiting_for_news(conn), what="the watcher to wait")
        book()
        committed.append(time.monotonic())

    with alongside(book_when_waiting):
        change = next(feed)
    return change, time.monotonic() - committed[0]


# The watchers below give up after IDLE seconds, and their last look at the
# feed would find the change anyway: delivered in far less, it was woken.
IDLE = 20


def test_watch_is_woken_by_notify(db: BookingDB, conn: Conn, venue: int, at: At) -> None:
    db.set_venue_rules(venue, {"notify": True})
    table = db.add_resource(venue, "T1")
    feed = db.watch(venue, poll_interval=3600, idle_timeout=IDLE)
    change, delay = _delivery(db, conn, feed, lambda: _book(db, venue, table, at, 10))
    assert (change.seq, change.new_status) == (1, "confirmed")
    assert delay < IDLE / 2
    feed.close()


def test_watch_polls_a_venue_without_notify(db: BookingDB, conn: Conn, venue: int, at: At) -> None:
    assert db.get_venue_rules(venue)["notify"] is False
    table = db.add_resource(venue, "T1")
    feed = db.watch(venue, idle_timeout=IDLE)
    change, delay = _delivery(db, conn, feed, lambda: _book(db, venue, table, at, 10))
    assert change.seq == 1
    assert delay < IDLE / 2
    feed.close()


def test_watch_starts_after_the_given_seq_and_stops_when_idle(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    for hour in (10, 11, 12):
        _book(db, venue, table, at, hour)
    assert [c.seq for c in db.watch(venue, after_seq=1, idle_timeout=0)] == [2, 3]
    # Run to its end, the generator has closed its connection.
    wait_until(lambda: not _watchers(conn), what="the watcher's connection to close")


def test_watch_refuses_an_unknown_venue(db: BookingDB) -> None:
    with pytest.raises(NotFound):
        next(db.watch(987654, idle_timeout=0))


def test_watch_checks_its_arguments_before_connecting(connect: Connect, dsn: str) -> None:
    client = connect(dsn, max_size=1)
    client.close()
    for kwargs in ({"poll_interval": 0}, {"idle_timeout": -1}, {"after_seq": -1}):
        with pytest.raises(ValueError):
            client.watch(1, **kwargs)  # type: ignore[arg-type]
