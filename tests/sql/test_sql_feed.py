"""The change feed (rows numbered in commit order, NOTIFY to wake listeners),
operator stats and health."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from contract_kit import (
    Conn,
    add_resource,
    book,
    expire_now,
    hold,
    one,
    refuse,
    rows,
    scalar,
    set_rules,
)
from psycopg.types.json import Jsonb


def feed(conn: Conn, venue: int, after: int = 0, max_rows: int = 1000) -> list[dict[str, Any]]:
    return rows(conn, "SELECT * FROM bookingdb.changes_since(%s, %s, %s)", (venue, after, max_rows))


@pytest.fixture
def other_conn(dsn: str) -> Iterator[Conn]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def test_every_change_is_in_the_feed_once_in_order_per_resource(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    t1, t2 = add_resource(conn, venue, "T1"), add_resource(conn, venue, "T2")
    held = hold(conn, venue, [t1], at(19), at(21))
    conn.execute("SELECT bookingdb.confirm_hold(%s, %s)", (venue, held["id"]))
    conn.execute(
        "SELECT bookingdb.reschedule_booking(%s, %s, NULL, %s, %s, %s)",
        (venue, held["id"], at(20), at(22), [t2]),
    )
    conn.execute("SELECT bookingdb.cancel_booking(%s, %s)", (venue, held["id"]))

    changes = feed(conn, venue)
    assert [c["seq"] for c in changes] == list(range(1, len(changes) + 1))
    assert [(c["action"], c["resource_id"], c["old_status"], c["new_status"]) for c in changes] == [
        ("create", t1, None, "held"),
        ("confirmed", t1, "held", "confirmed"),
        # A move touches the resource it left and the one it went to.
        ("rescheduled", t1, "confirmed", "confirmed"),
        ("rescheduled", t2, "confirmed", "confirmed"),
        ("cancelled", t2, "confirmed", "cancelled"),
    ]
    assert {c["reference"] for c in changes} == {held["reference"]}
    assert changes[-1]["starts_at"] == at(20)
    # Paging: after a seq, at most max_rows; reading again changes nothing.
    assert [c["seq"] for c in feed(conn, venue, after=2, max_rows=2)] == [3, 4]
    assert feed(conn, venue) == changes


def test_numbering_new_rows_does_not_read_the_whole_feed(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    # A plan cached while the feed was small joined the rows to number on the
    # venue alone: each read then went through every row of the venue
    # (measured: 216 ms for 500 rows after 2,500, growing with the feed).
    table = add_resource(conn, venue, "T1")
    book(conn, venue, [table], at(30), at(31))
    assert len(feed(conn, venue)) == 1
    # A long history, already read.
    conn.execute(
        """INSERT INTO bookingdb.changes (venue_id, seq, booking_id, resource_id, starts_at,
                                          ends_at, new_status, action, reference)
           SELECT %s, g, 0, %s, now(), now() + interval '1 hour', 'confirmed', 'create', 'history'
             FROM generate_series(2, 5001) AS g""",
        (venue, table),
    )
    conn.execute("UPDATE bookingdb.feed_heads SET last_seq = 5001 WHERE venue_id = %s", (venue,))
    for hour in range(10):
        book(conn, venue, [table], at(40 + hour), at(41 + hour))
    with conn.transaction():
        assert len(feed(conn, venue, after=5001)) == 10
        read = scalar(
            conn,
            "SELECT pg_stat_get_xact_tuples_fetched('bookingdb.changes'::regclass)"
            " + pg_stat_get_xact_tuples_returned('bookingdb.changes'::regclass)",
        )
    assert read < 500, f"{read} feed rows read to number and return 10"


def test_numbers_follow_commit_order_so_a_late_commit_is_not_skipped(
    conn: Conn, other_conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    """Booking A is written first but commits last: a consumer that has read
    B's change must still get A's, after it."""
    t1, t2 = add_resource(conn, venue, "T1"), add_resource(conn, venue, "T2")
    with other_conn.transaction():
        early = hold(other_conn, venue, [t1], at(19), at(21))  # written, not committed
        late = hold(conn, venue, [t2], at(19), at(21))  # written after, committed first
        seen = feed(conn, venue)
        assert [(c["seq"], c["booking_id"]) for c in seen] == [(1, late["id"])]
    after = feed(conn, venue, after=seen[-1]["seq"])
    assert [(c["seq"], c["booking_id"]) for c in after] == [(2, early["id"])]


def test_refusals_leave_no_trace_in_the_feed(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1")
    book(conn, venue, [table], at(19), at(21))
    refuse(
        conn,
        "BK001",
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s)",
        (venue, [table], at(20), at(22)),
    )
    assert len(feed(conn, venue)) == 1


def test_a_change_notifies_listeners_only_when_the_venue_turned_it_on(
    conn: Conn, other_conn: Conn, venue: int, other_venue: int, at: Callable[[float], datetime]
) -> None:
    quiet_table = add_resource(conn, venue, "T1")
    loud_table = add_resource(conn, other_venue, "T1")
    # Off by default: NOTIFY serialises commits (issue 19).
    rules = one(conn, "SELECT bookingdb.get_venue_rules(%s) AS rules", (venue,))["rules"]
    assert rules["notify"] is False
    set_rules(conn, other_venue, notify=True)
    other_conn.execute("LISTEN bookingdb_changes")
    book(conn, venue, [quiet_table], at(19), at(21))
    book(conn, other_venue, [loud_table], at(19), at(21))
    # Notifications arrive in commit order: the first one is the loud venue's.
    received = next(other_conn.notifies(timeout=10, stop_after=1))
    assert (received.channel, received.payload) == ("bookingdb_changes", str(other_venue))
    # Either way the feed has both.
    assert len(feed(conn, venue)) == 1 and len(feed(conn, other_venue)) == 1
    refuse(conn, "BK010", "SELECT bookingdb.set_venue_rules(%s, %s)", (venue, Jsonb({"notify": 1})))


def test_prune_keeps_what_no_consumer_has_read(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1")
    book(conn, venue, [table], at(19), at(21))
    assert scalar(conn, "SELECT bookingdb.prune_changes(%s, '0')", (venue,)) == 0  # unread
    feed(conn, venue)
    book(conn, venue, [table], at(22), at(23))
    assert scalar(conn, "SELECT bookingdb.prune_changes(%s, '0')", (venue,)) == 1
    assert [c["seq"] for c in feed(conn, venue)] == [2]


@pytest.mark.parametrize(
    ("venue_id", "after", "max_rows", "code"),
    [(-1, 0, 10, "BK007"), (None, 0, 10, "BK007"), (0, -1, 10, "BK008"), (0, 0, 0, "BK008")],
)
def test_bad_feed_reads_are_refused(
    conn: Conn, venue: int, venue_id: int | None, after: int, max_rows: int, code: str
) -> None:
    refuse(
        conn,
        code,
        "SELECT * FROM bookingdb.changes_since(%s, %s, %s)",
        (venue if venue_id == 0 else venue_id, after, max_rows),
    )


def test_stats_count_bookings_holds_refusals_utilisation_and_hours(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1")
    confirmed = hold(conn, venue, [table], at(10), at(12))
    conn.execute("SELECT bookingdb.confirm_hold(%s, %s)", (venue, confirmed["id"]))
    released = hold(conn, venue, [table], at(13), at(14))
    conn.execute("SELECT bookingdb.release_hold(%s, %s)", (venue, released["id"]))
    lapsed = hold(conn, venue, [table], at(15), at(16), ttl="1 millisecond")
    expire_now(conn, lapsed)
    book(conn, venue, [table], at(17), at(18))
    for code in ("BK001", "BK001", "BK002", "nonsense"):
        conn.execute("SELECT bookingdb.record_refusal(%s, %s)", (venue, code))

    # From midnight today (holds made now count) to the end of the booked day.
    stats = scalar(conn, "SELECT bookingdb.stats(%s, %s, %s)", (venue, at(-48), at(24)))
    assert stats["bookings_by_status"] == {"confirmed": 2, "released": 1, "expired": 1}
    holds = stats["holds"]
    assert (holds["created"], holds["confirmed"], holds["released"], holds["expired"]) == (
        3,
        1,
        1,
        1,
    )
    assert holds["conversion_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert stats["refusals"] == {"BK001": 2, "BK002": 1}
    # Three booked hours (10-12 and 17-18) in a 72-hour window.
    assert stats["utilisation"] == [
        {
            "resource_id": table,
            "name": "T1",
            "capacity": 1,
            "utilisation": pytest.approx(3 / 72, abs=1e-4),
        }
    ]
    assert sum(h["bookings"] for h in stats["bookings_per_hour"]) == 2
    refuse(conn, "BK011", "SELECT bookingdb.stats(%s, %s, %s)", (venue, at(5), at(1)))
    refuse(conn, "BK007", "SELECT bookingdb.stats(%s)", (-1,))
    # The ends of timestamptz: a refusal, not an overflow (22008).
    for since, until in [
        ("294276-12-31 23:59:59+00", None),
        ("4713-01-01 00:00+00 BC", "294276-12-31 00:00+00"),
        ("1899-12-31 00:00+00", None),
    ]:
        refuse(
            conn,
            "BK011",
            "SELECT bookingdb.stats(%s, %s::timestamptz, %s::timestamptz)",
            (venue, since, until),
        )


def test_health_reports_unswept_holds_feed_lag_and_broken_invariants(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    report = scalar(conn, "SELECT bookingdb.health()")
    assert report["healthy"] is True and report["problems"] == []
    assert report["invariant_violations"] == []

    table = add_resource(conn, venue, "T1")
    lapsed = hold(conn, venue, [table], at(10), at(12), ttl="1 millisecond")
    expire_now(conn, lapsed)
    lagging = scalar(conn, "SELECT bookingdb.health(max_unswept => '0', max_feed_lag => '0')")
    assert lagging["healthy"] is False and len(lagging["problems"]) == 2
    assert lagging["unswept_holds"] == 1 and lagging["unread_changes"] == 1
    # Without thresholds, an unswept hold is reported but is not a problem.
    assert scalar(conn, "SELECT bookingdb.health()")["healthy"] is True

    # Break I3 behind the functions' back: health sees it.
    booked = book(conn, venue, [table], at(13), at(14))
    conn.execute(
        "UPDATE bookingdb.allocations SET active = false WHERE booking_id = %s", (booked["id"],)
    )
    broken = scalar(conn, "SELECT bookingdb.health()")
    assert broken["healthy"] is False and broken["invariant_violations"] != []
    skipped = scalar(conn, "SELECT bookingdb.health(check_invariants => false)")
    assert skipped["healthy"] is True and skipped["invariants_checked"] is False


def test_stats_default_window_is_a_week_either_side(conn: Conn, venue: int) -> None:
    stats = one(conn, "SELECT (bookingdb.stats(%s)) AS s", (venue,))["s"]
    since = datetime.fromisoformat(stats["since"])
    until = datetime.fromisoformat(stats["until"])
    assert until - since == timedelta(days=14)
