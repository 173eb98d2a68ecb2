"""Recurring series: every occurrence at the first one's local wall-clock time
(across DST), checked like any booking, booked all or nothing; the rest of a
series can be cancelled at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from contract_kit import (
    Conn,
    add_resource,
    book,
    counts,
    far_venue,
    local,
    next_transition,
    next_weekday,
    one,
    refuse,
    rows,
    scalar,
    violations,
)

ZONE = "Europe/London"
SERIES = (
    "SELECT * FROM bookingdb.create_series(%s, %s, %s, %s::interval, %s::interval, %s, 1, NULL, %s)"
)


def test_a_weekly_series_keeps_its_local_time_across_a_dst_change(conn: Conn) -> None:
    venue = far_venue(conn, ZONE)
    room = add_resource(conn, venue, "Studio", capacity=12, kind="class")
    change = next_transition(ZONE, forward=True)
    first_day = change - timedelta(days=8)  # two weeks before, one after the change
    booked = rows(
        conn, SERIES, (venue, [room], local(ZONE, first_day, 18), "1 hour", "7 days", 3, None)
    )
    assert [b["starts_at"] for b in booked] == [
        local(ZONE, first_day + timedelta(days=7 * i), 18) for i in range(3)
    ]
    # Same local 18:00, so one hour apart in UTC across the change.
    offsets = {b["starts_at"] - local(ZONE, first_day, 18) for b in booked}
    assert timedelta(days=14, hours=-1) in offsets or timedelta(days=14, hours=1) in offsets
    assert {b["status"] for b in booked} == {"confirmed"}
    assert len({b["series_id"] for b in booked}) == 1 and booked[0]["series_id"] is not None
    assert all(b["ends_at"] - b["starts_at"] == timedelta(hours=1) for b in booked)
    assert violations(conn) == []


def test_a_series_is_all_or_nothing_and_names_the_refused_occurrence(conn: Conn) -> None:
    venue = far_venue(conn, ZONE)
    table = add_resource(conn, venue, "T1")
    monday = next_weekday(ZONE, 1)
    book(
        conn,
        venue,
        [table],
        local(ZONE, monday + timedelta(days=14), 19),
        local(ZONE, monday + timedelta(days=14), 20),
    )
    before = counts(conn)
    error = refuse(
        conn,
        "BK001",
        SERIES,
        (venue, [table], local(ZONE, monday, 19), "1 hour", "7 days", 4, None),
    )
    assert "occurrence 3 of 4" in (error.diag.message_detail or "")
    assert counts(conn) == before


def test_every_occurrence_passes_the_venue_rules(conn: Conn) -> None:
    venue = int(scalar(conn, "SELECT bookingdb.create_venue('Studio', %s)", (ZONE,)))
    table = add_resource(conn, venue, "T1")
    monday = next_weekday(ZONE, 1)
    # The default max_advance (6 months) refuses the occurrences beyond it.
    error = refuse(
        conn,
        "BK013",
        SERIES,
        (venue, [table], local(ZONE, monday, 19), "1 hour", "7 days", 40, None),
    )
    assert "occurrence" in (error.diag.message_detail or "")
    # Closed on one of the days: BK015.
    conn.execute("SELECT bookingdb.set_date_override(%s, %s)", (venue, monday + timedelta(days=7)))
    refuse(
        conn,
        "BK015",
        SERIES,
        (venue, [table], local(ZONE, monday, 19), "1 hour", "7 days", 3, None),
    )


def test_a_series_replays_by_idempotency_key(conn: Conn) -> None:
    venue = far_venue(conn, ZONE)
    table = add_resource(conn, venue, "T1")
    monday = next_weekday(ZONE, 1)
    args = (venue, [table], local(ZONE, monday, 19), "1 hour", "7 days", 3, "standing-1")
    first = rows(conn, SERIES, args)
    again = rows(conn, SERIES, args)
    assert [b["id"] for b in again] == [b["id"] for b in first]
    before = counts(conn)
    refuse(conn, "BK005", SERIES, (*args[:5], 4, "standing-1"))
    refuse(conn, "BK005", SERIES, (args[0], args[1], local(ZONE, monday, 20), *args[3:]))
    assert counts(conn) == before


def test_cancel_series_cancels_the_rest_and_frees_the_slots(conn: Conn) -> None:
    venue = far_venue(conn, ZONE)
    table = add_resource(conn, venue, "T1")
    monday = next_weekday(ZONE, 1)
    booked = rows(
        conn, SERIES, (venue, [table], local(ZONE, monday, 19), "1 hour", "7 days", 4, None)
    )
    series = booked[0]["series_id"]
    # One occurrence by itself, then the rest from the third on.
    one(conn, "SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, booked[0]["id"]))
    cancelled = rows(
        conn,
        "SELECT * FROM bookingdb.cancel_series(%s, %s, %s, 'course ended')",
        (venue, series, booked[2]["starts_at"]),
    )
    assert [b["id"] for b in cancelled] == [booked[2]["id"], booked[3]["id"]]
    assert {b["cancel_reason"] for b in cancelled} == {"course ended"}
    statuses = [
        r["status"]
        for r in rows(
            conn,
            "SELECT status FROM bookingdb.bookings WHERE venue_id = %s AND series_id = %s"
            " ORDER BY starts_at",
            (venue, series),
        )
    ]
    assert statuses == ["cancelled", "confirmed", "cancelled", "cancelled"]
    assert book(conn, venue, [table], booked[3]["starts_at"], booked[3]["ends_at"])
    # Nothing left from then on: an empty answer, not an error.
    assert (
        rows(
            conn,
            "SELECT * FROM bookingdb.cancel_series(%s, %s, %s)",
            (venue, series, booked[2]["starts_at"]),
        )
        == []
    )
    refuse(conn, "BK007", "SELECT * FROM bookingdb.cancel_series(%s, 987654)", (venue,))
    assert violations(conn) == []


@pytest.mark.parametrize(
    ("duration", "every", "occurrences", "code"),
    [
        ("0", "7 days", 3, "BK008"),
        ("1 hour", "0", 3, "BK008"),
        ("1 hour", "-7 days", 3, "BK008"),
        ("1 hour", "7 days", 0, "BK008"),
        ("1 hour", "7 days", 367, "BK008"),
        ("1 hour", None, 3, "BK008"),
    ],
)
def test_bad_series_arguments_are_refused(
    conn: Conn, duration: str, every: str | None, occurrences: int, code: str
) -> None:
    venue = far_venue(conn, ZONE)
    table = add_resource(conn, venue, "T1")
    monday = next_weekday(ZONE, 1)
    refuse(
        conn,
        code,
        SERIES,
        (venue, [table], local(ZONE, monday, 19), duration, every, occurrences, None),
    )
    refuse(conn, "BK011", SERIES, (venue, [table], None, "1 hour", "7 days", 3, None))
    # The end of timestamptz: a refusal, not an overflow (22008).
    refuse(
        conn,
        "BK011",
        SERIES,
        (venue, [table], "294276-12-31 23:59:59+00", "1 hour", "7 days", 3, None),
    )


def test_a_series_across_a_dst_change_is_refused_whole_by_a_clash_in_local_time(
    conn: Conn,
) -> None:
    """The second occurrence lies after the clocks go forward. At the same
    local 18:00 it clashes with an existing booking; 168 elapsed hours later
    (19:00 local) it would not. The clash is found and nothing is booked."""
    venue = far_venue(conn, ZONE)
    table = add_resource(conn, venue, "T1")
    change = next_transition(ZONE, forward=True)
    first_day = change - timedelta(days=5)
    second = local(ZONE, first_day + timedelta(days=7), 18)
    assert second - local(ZONE, first_day, 18) == timedelta(days=7, hours=-1)
    book(conn, venue, [table], second, second + timedelta(hours=1))
    before = counts(conn)

    error = refuse(
        conn,
        "BK001",
        SERIES,
        (venue, [table], local(ZONE, first_day, 18), "1 hour", "7 days", 3, None),
    )
    assert "occurrence 2 of 3" in (error.diag.message_detail or "")
    assert counts(conn) == before
    # Moved to 20:00 local, the same series fits and keeps 20:00 on both sides of the change.
    booked = rows(
        conn, SERIES, (venue, [table], local(ZONE, first_day, 20), "1 hour", "7 days", 3, None)
    )
    assert [b["starts_at"] for b in booked] == [
        local(ZONE, first_day + timedelta(days=7 * i), 20) for i in range(3)
    ]
    assert violations(conn) == []
