"""Opening hours, date overrides and DST: local times become instants with the
venue's IANA zone, never the session's TimeZone, and every booking path
refuses what lies outside the hours (BK015)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from contract_kit import (
    Conn,
    add_resource,
    book,
    far_venue,
    local,
    next_transition,
    next_weekday,
    one,
    refuse,
    rows,
    scalar,
)

BOOK = "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s)"
HOLD = "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s)"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _every_day(conn: Conn, venue: int, opens: str, closes: str) -> None:
    for weekday in range(1, 8):
        conn.execute(
            "SELECT bookingdb.set_opening_hours(%s, %s, %s, %s)", (venue, weekday, opens, closes)
        )


# -- local_range: the conversion itself, table-driven ------------------------------------

LOCAL_RANGES = [
    # zone, local day, starts, ends, expected instants (UTC), why
    ("Europe/London", "2027-03-28", "00:00", "03:00", "2027-03-28 00:00", "2027-03-28 02:00",
     "spring forward: 00:00-03:00 lasts 2 hours"),
    ("Europe/London", "2027-10-31", "00:00", "03:00", "2027-10-30 23:00", "2027-10-31 03:00",
     "fall back: 00:00-03:00 lasts 4 hours"),
    ("Europe/London", "2027-03-27", "21:00", "03:00", "2027-03-27 21:00", "2027-03-28 02:00",
     "a bar's night across spring forward lasts 5 hours"),
    ("Europe/London", "2027-10-30", "21:00", "03:00", "2027-10-30 20:00", "2027-10-31 03:00",
     "a bar's night across fall back lasts 7 hours"),
    ("Europe/London", "2027-03-28", "01:30", "04:00", "2027-03-28 01:30", "2027-03-28 03:00",
     "a time in the gap is read with the offset before it"),
    ("America/New_York", "2027-03-14", "00:00", "04:00", "2027-03-14 05:00", "2027-03-14 08:00",
     "New York spring forward: 3 hours"),
    ("America/New_York", "2027-11-07", "00:00", "04:00", "2027-11-07 04:00", "2027-11-07 09:00",
     "New York fall back: 5 hours"),
    ("Australia/Lord_Howe", "2027-10-03", "00:00", "04:00", "2027-10-02 13:30", "2027-10-02 17:00",
     "Lord Howe's half-hour spring forward: 3.5 hours"),
    ("Australia/Lord_Howe", "2027-04-04", "00:00", "04:00", "2027-04-03 13:00", "2027-04-03 17:30",
     "Lord Howe's half-hour fall back: 4.5 hours"),
    ("Asia/Kolkata", "2027-03-28", "19:00", "01:00", "2027-03-28 13:30", "2027-03-28 19:30",
     "UTC+05:30, past midnight"),
]  # fmt: skip


@pytest.mark.parametrize("session_zone", ["UTC", "Pacific/Kiritimati", "America/Los_Angeles"])
@pytest.mark.parametrize(
    ("zone", "day", "starts", "ends", "lower", "upper", "why"),
    LOCAL_RANGES,
    ids=[case[-1] for case in LOCAL_RANGES],
)
def test_local_range_turns_local_times_into_instants_with_the_venue_zone(
    conn: Conn,
    session_zone: str,
    zone: str,
    day: str,
    starts: str,
    ends: str,
    lower: str,
    upper: str,
    why: str,
) -> None:
    venue = far_venue(conn, zone)
    conn.execute("SELECT set_config('TimeZone', %s, false)", (session_zone,))
    found = one(
        conn,
        "SELECT lower(r) AS lower, upper(r) AS upper"
        "  FROM bookingdb.local_range(%s, %s::date, %s::time, %s::time) AS r",
        (venue, day, starts, ends),
    )
    # In UTC: Python never finds a fold=1 time equal to one in another zone.
    got = (found["lower"].astimezone(UTC), found["upper"].astimezone(UTC))
    assert got == (_utc(lower), _utc(upper)), why


def test_local_range_refuses_missing_parts_and_unknown_venues(conn: Conn, venue: int) -> None:
    refuse(conn, "BK008", "SELECT bookingdb.local_range(%s, NULL, '10:00', '11:00')", (venue,))
    refuse(
        conn, "BK008", "SELECT bookingdb.local_range(%s, 'infinity', '10:00', '11:00')", (venue,)
    )
    refuse(conn, "BK007", "SELECT bookingdb.local_range(987654, '2027-01-01', '10:00', '11:00')")


# -- hours on the booking path -----------------------------------------------------------


def test_a_venue_without_hours_is_open_around_the_clock(conn: Conn, venue: int) -> None:
    table = add_resource(conn, venue, "T1")
    day = next_weekday("Europe/London", 3)
    assert book(
        conn, venue, [table], local("Europe/London", day, 3), local("Europe/London", day, 5)
    )
    rules = scalar(conn, "SELECT bookingdb.get_venue_rules(%s)", (venue,))
    assert rules["has_hours"] is False


@pytest.mark.parametrize("query", [BOOK, HOLD], ids=["create_booking_atomic", "create_hold"])
def test_bookings_must_lie_within_the_weekly_hours(conn: Conn, venue: int, query: str) -> None:
    zone = "Europe/London"
    table = add_resource(conn, venue, "T1")
    _every_day(conn, venue, "09:00", "17:00")
    day = next_weekday(zone, 2)
    refuse(conn, "BK015", query, (venue, [table], local(zone, day, 16), local(zone, day, 18)))
    refuse(conn, "BK015", query, (venue, [table], local(zone, day, 8), local(zone, day, 10)))
    refuse(conn, "BK015", query, (venue, [table], local(zone, day, 20), local(zone, day, 21)))
    assert one(conn, query, (venue, [table], local(zone, day, 9), local(zone, day, 17)))


def test_hours_are_read_in_the_venue_zone_whatever_the_session_zone(conn: Conn) -> None:
    zone = "Asia/Kolkata"
    venue = far_venue(conn, zone)
    table = add_resource(conn, venue, "T1")
    _every_day(conn, venue, "09:00", "17:00")
    conn.execute("SET TimeZone = 'America/Los_Angeles'")
    day = next_weekday(zone, 4)
    # 09:00 in Kolkata is 03:30 UTC: half an hour earlier is outside.
    opening = local(zone, day, 9)
    assert opening.astimezone(UTC).strftime("%H:%M") == "03:30"
    refuse(conn, "BK015", BOOK, (venue, [table], opening - timedelta(minutes=30), opening))
    assert book(conn, venue, [table], opening, opening + timedelta(hours=1))


def test_an_interval_past_midnight_belongs_to_the_day_it_opens(conn: Conn, venue: int) -> None:
    zone = "Europe/London"
    table = add_resource(conn, venue, "T1")
    # Open on Mondays only, 21:00 to 03:00 (Tuesday morning).
    conn.execute("SELECT bookingdb.set_opening_hours(%s, 1, '21:00', '03:00')", (venue,))
    monday = next_weekday(zone, 1)
    tuesday = monday + timedelta(days=1)
    assert book(conn, venue, [table], local(zone, monday, 22), local(zone, tuesday, 2))
    assert book(conn, venue, [table], local(zone, tuesday, 2), local(zone, tuesday, 3))
    refuse(
        conn, "BK015", BOOK, (venue, [table], local(zone, tuesday, 2, 30), local(zone, tuesday, 4))
    )
    refuse(
        conn, "BK015", BOOK, (venue, [table], local(zone, tuesday, 21), local(zone, tuesday, 22))
    )
    refuse(conn, "BK015", BOOK, (venue, [table], local(zone, monday, 20), local(zone, monday, 22)))


def test_several_intervals_a_day_and_a_booking_across_the_gap_is_refused(
    conn: Conn, venue: int
) -> None:
    zone = "Europe/London"
    table = add_resource(conn, venue, "T1")
    day = next_weekday(zone, 5)
    for opens, closes in (("12:00", "15:00"), ("18:00", "23:00")):
        conn.execute("SELECT bookingdb.set_opening_hours(%s, 5, %s, %s)", (venue, opens, closes))
    assert book(conn, venue, [table], local(zone, day, 12), local(zone, day, 13))
    assert book(conn, venue, [table], local(zone, day, 19), local(zone, day, 21))
    refuse(conn, "BK015", BOOK, (venue, [table], local(zone, day, 14), local(zone, day, 19)))


def test_date_overrides_close_a_day_or_replace_its_hours(conn: Conn, venue: int) -> None:
    zone = "Europe/London"
    table = add_resource(conn, venue, "T1")
    _every_day(conn, venue, "09:00", "17:00")
    closed = next_weekday(zone, 3)
    special = closed + timedelta(days=1)
    conn.execute("SELECT bookingdb.set_date_override(%s, %s)", (venue, closed))
    conn.execute("SELECT bookingdb.set_date_override(%s, %s, '18:00', '23:30')", (venue, special))

    refuse(conn, "BK015", BOOK, (venue, [table], local(zone, closed, 10), local(zone, closed, 11)))
    refuse(
        conn, "BK015", BOOK, (venue, [table], local(zone, special, 10), local(zone, special, 11))
    )
    assert book(conn, venue, [table], local(zone, special, 22), local(zone, special, 23, 30))

    # An interval added to a closed day opens it for that interval only.
    conn.execute("SELECT bookingdb.set_date_override(%s, %s, '12:00', '13:00')", (venue, closed))
    assert book(conn, venue, [table], local(zone, closed, 12), local(zone, closed, 13))
    refuse(conn, "BK015", BOOK, (venue, [table], local(zone, closed, 14), local(zone, closed, 15)))

    # Clearing the overrides brings the weekly hours back.
    conn.execute("SELECT bookingdb.clear_date_overrides(%s, %s)", (venue, special))
    assert book(conn, venue, [table], local(zone, special, 10), local(zone, special, 11))
    listed = rows(conn, "SELECT * FROM bookingdb.opening_hours(%s)", (venue,))
    assert [(r["weekday"], r["day"]) for r in listed if r["day"] is not None] == [(None, closed)]
    assert sum(1 for r in listed if r["weekday"] is not None) == 7


def test_a_venue_with_only_overrides_is_open_all_day_on_other_days(conn: Conn, venue: int) -> None:
    zone = "Europe/London"
    table = add_resource(conn, venue, "T1")
    closed = next_weekday(zone, 6)
    conn.execute("SELECT bookingdb.set_date_override(%s, %s)", (venue, closed))
    refuse(conn, "BK015", BOOK, (venue, [table], local(zone, closed, 10), local(zone, closed, 11)))
    other = closed + timedelta(days=1)
    assert book(conn, venue, [table], local(zone, other, 3), local(zone, other, 4))


def test_clearing_all_hours_reopens_around_the_clock(conn: Conn, venue: int) -> None:
    zone = "Europe/London"
    table = add_resource(conn, venue, "T1")
    _every_day(conn, venue, "09:00", "17:00")
    day = next_weekday(zone, 2)
    refuse(conn, "BK015", BOOK, (venue, [table], local(zone, day, 20), local(zone, day, 21)))
    conn.execute("SELECT bookingdb.clear_opening_hours(%s, 2)", (venue,))
    # Other weekdays still have hours: the cleared one is closed.
    refuse(conn, "BK015", BOOK, (venue, [table], local(zone, day, 10), local(zone, day, 11)))
    conn.execute("SELECT bookingdb.clear_opening_hours(%s)", (venue,))
    assert book(conn, venue, [table], local(zone, day, 20), local(zone, day, 21))
    assert scalar(conn, "SELECT bookingdb.get_venue_rules(%s)", (venue,))["has_hours"] is False


def test_reschedule_honours_the_hours(conn: Conn, venue: int) -> None:
    zone = "Europe/London"
    table = add_resource(conn, venue, "T1")
    _every_day(conn, venue, "09:00", "17:00")
    day = next_weekday(zone, 2)
    mine = book(conn, venue, [table], local(zone, day, 10), local(zone, day, 11))
    refuse(
        conn,
        "BK015",
        "SELECT * FROM bookingdb.reschedule_booking(%s, %s, 1, %s, %s)",
        (venue, mine["id"], local(zone, day, 17), local(zone, day, 18)),
    )


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("set_opening_hours(%s, 0, '09:00', '17:00')", ()),
        ("set_opening_hours(%s, 8, '09:00', '17:00')", ()),
        ("set_opening_hours(%s, NULL, '09:00', '17:00')", ()),
        ("set_opening_hours(%s, 1, NULL, '17:00')", ()),
        ("clear_opening_hours(%s, 9)", ()),
        ("set_date_override(%s, NULL)", ()),
        ("set_date_override(%s, '2030-01-01', '10:00', NULL)", ()),
    ],
)
def test_bad_hours_are_refused_with_bk010(
    conn: Conn, venue: int, call: str, args: tuple[()]
) -> None:
    refuse(conn, "BK010", f"SELECT bookingdb.{call}", (venue, *args))


def test_hours_setters_refuse_an_unknown_venue(conn: Conn) -> None:
    for call in (
        "set_opening_hours(987654, 1, '09:00', '17:00')",
        "clear_opening_hours(987654)",
        "set_date_override(987654, '2030-01-01')",
        "clear_date_overrides(987654)",
    ):
        refuse(conn, "BK007", f"SELECT bookingdb.{call}")
    refuse(conn, "BK007", "SELECT * FROM bookingdb.opening_hours(987654)")


# -- DST nights on the booking and availability paths (dates from the tz database) -------


def test_a_bar_night_across_fall_back_has_seven_bookable_hours(conn: Conn) -> None:
    zone = "Europe/London"
    venue = far_venue(conn, zone)
    table = add_resource(conn, venue, "T1")
    _every_day(conn, venue, "21:00", "03:00")
    sunday = next_transition(zone, forward=False)
    saturday = sunday - timedelta(days=1)
    opens, closes = local(zone, saturday, 21), local(zone, sunday, 3)
    assert closes - opens == timedelta(hours=7)

    starts = [
        r["starts_at"]
        for r in rows(
            conn,
            "SELECT * FROM bookingdb.availability(%s, tstzrange(%s, %s), '1 hour', '1 hour', %s)",
            (venue, opens, closes, [table]),
        )
    ]
    # The repeated 01:00 hour is offered twice, once per offset.
    assert starts == [opens + timedelta(hours=h) for h in range(7)]
    assert local(zone, sunday, 1, fold=1) - local(zone, sunday, 1) == timedelta(hours=1)

    assert book(conn, venue, [table], opens, closes)["ends_at"] == closes
    refuse(conn, "BK015", BOOK, (venue, [table], closes, closes + timedelta(minutes=30)))


def test_a_bar_night_across_spring_forward_has_five_bookable_hours(conn: Conn) -> None:
    zone = "Europe/London"
    venue = far_venue(conn, zone)
    table = add_resource(conn, venue, "T1")
    _every_day(conn, venue, "21:00", "03:00")
    sunday = next_transition(zone, forward=True)
    saturday = sunday - timedelta(days=1)
    opens, closes = local(zone, saturday, 21), local(zone, sunday, 3)
    assert closes - opens == timedelta(hours=5)
    slots = rows(
        conn,
        "SELECT * FROM bookingdb.availability(%s, tstzrange(%s, %s), '1 hour', '1 hour')",
        (venue, opens - timedelta(hours=3), closes + timedelta(hours=3)),
    )
    assert [r["starts_at"] for r in slots] == [opens + timedelta(hours=h) for h in range(5)]
    refuse(conn, "BK015", BOOK, (venue, [table], opens, closes + timedelta(minutes=15)))
    assert book(conn, venue, [table], opens, closes)


@pytest.mark.parametrize(
    ("zone", "forward", "hours"),
    [
        ("America/New_York", True, 3.0),
        ("America/New_York", False, 5.0),
        ("Australia/Lord_Howe", True, 3.5),
        ("Australia/Lord_Howe", False, 4.5),
    ],
)
def test_an_override_on_a_dst_day_lasts_the_real_elapsed_time(
    conn: Conn, zone: str, forward: bool, hours: float
) -> None:
    venue = far_venue(conn, zone)
    table = add_resource(conn, venue, "T1")
    day = next_transition(zone, forward=forward)
    conn.execute("SELECT bookingdb.set_date_override(%s, %s, '00:00', '04:00')", (venue, day))
    whole_day = (local(zone, day, 0), local(zone, day + timedelta(days=1), 0))
    free = scalar(
        conn, "SELECT bookingdb.free_time(%s, %s, tstzrange(%s, %s))", (venue, table, *whole_day)
    )
    parts = list(free)
    assert len(parts) == 1
    assert parts[0].lower.timestamp() == local(zone, day, 0).timestamp()
    assert parts[0].upper - parts[0].lower == timedelta(hours=hours)
    # Around the clock on the days before (no weekly hours): only the
    # override day is limited.
    assert book(
        conn,
        venue,
        [table],
        parts[0].lower - timedelta(hours=2),
        parts[0].lower - timedelta(hours=1),
    )


def test_the_slot_grid_of_a_half_hour_zone_starts_at_local_opening(conn: Conn) -> None:
    zone = "Asia/Kolkata"
    venue = far_venue(conn, zone)
    table = add_resource(conn, venue, "T1")
    _every_day(conn, venue, "09:00", "12:00")
    day = next_weekday(zone, 3)
    slots = rows(
        conn,
        "SELECT * FROM bookingdb.availability(%s, bookingdb.local_range(%s, %s, '00:00', '00:00'),"
        " '1 hour', '1 hour', %s)",
        (venue, venue, day, [table]),
    )
    assert [r["starts_at"] for r in slots] == [local(zone, day, h) for h in (9, 10, 11)]
    assert {r["starts_at"].astimezone(UTC).minute for r in slots} == {30}
