"""Every refusal of the issue, triggered by a real call and matched by
SQLSTATE (never by message text). ``refuse`` also proves that the refusal
wrote nothing: row counts and row contents of every table are unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from contract_kit import (
    Conn,
    add_resource,
    book,
    hold,
    lapsed_hold,
    one,
    refuse,
    scalar,
)

HOLD = "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, %s, %s, %s, %s::interval)"
BOOK = "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
CONFIRM = "SELECT * FROM bookingdb.confirm_hold(%s, %s, %s::jsonb, %s)"
EXTEND = "SELECT * FROM bookingdb.extend_hold(%s, %s, %s::interval)"
RELEASE = "SELECT * FROM bookingdb.release_hold(%s, %s)"
CANCEL = "SELECT * FROM bookingdb.cancel_booking(%s, %s, %s, %s)"
RESCHEDULE = "SELECT * FROM bookingdb.reschedule_booking(%s, %s, %s, %s, %s, %s)"
GET = "SELECT * FROM bookingdb.get_booking(%s, %s)"
CHECK = "SELECT bookingdb.check_availability(%s, %s, %s, %s, %s, %s)"
LIST = "SELECT * FROM bookingdb.list_bookings(%s, %s, %s)"

At = Callable[[float], datetime]


# -- BK001 slot unavailable --------------------------------------------------------------


def test_exclusive_slot_taken_is_refused_with_bk001_and_writes_nothing(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    book(conn, venue, [table], at(10), at(12), party_size=2)
    # Identical, overlapping at the start, overlapping at the end, inside, around.
    for start, end in [(10, 12), (9, 11), (11, 13), (10.5, 11.5), (8, 14)]:
        refuse(conn, "BK001", HOLD, (venue, [table], at(start), at(end), 2, 1, None, None))
        refuse(conn, "BK001", BOOK, (venue, [table], at(start), at(end), 2, None, 1, None))


def test_touching_slots_on_one_table_do_not_conflict(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    book(conn, venue, [table], at(10), at(12))
    assert book(conn, venue, [table], at(12), at(13))["status"] == "confirmed"
    assert book(conn, venue, [table], at(9), at(10))["status"] == "confirmed"


def test_live_hold_blocks_the_slot_with_bk001(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    hold(conn, venue, [table], at(10), at(12))
    refuse(conn, "BK001", BOOK, (venue, [table], at(11), at(12), 1, None, 1, None))


# -- BK002 capacity exceeded -------------------------------------------------------------


def test_shared_resource_full_is_refused_with_bk002_and_writes_nothing(
    conn: Conn, venue: int, at: At
) -> None:
    yoga = add_resource(conn, venue, "Yoga class", capacity=3)
    book(conn, venue, [yoga], at(10), at(11), quantity=2)
    refuse(conn, "BK002", HOLD, (venue, [yoga], at(10), at(11), 1, 2, None, None))
    refuse(conn, "BK002", BOOK, (venue, [yoga], at(10.5), at(11.5), 1, None, 2, None))
    # The last free unit is still bookable.
    assert book(conn, venue, [yoga], at(10), at(11), quantity=1)["quantity"] == 1
    refuse(conn, "BK002", BOOK, (venue, [yoga], at(10), at(11), 1, None, 1, None))


# -- BK003 hold expired or released ------------------------------------------------------


def test_confirming_an_expired_hold_is_refused_with_bk003(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    held = lapsed_hold(conn, venue, [table], at(10), at(12))
    refuse(conn, "BK003", CONFIRM, (venue, held["id"], '{"name": "Ada"}', None))
    refuse(conn, "BK003", EXTEND, (venue, held["id"], "10 minutes"))
    refuse(conn, "BK003", RELEASE, (venue, held["id"]))


def test_confirming_a_released_hold_is_refused_with_bk003(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(10), at(12))
    one(conn, RELEASE, (venue, held["id"]))
    refuse(conn, "BK003", CONFIRM, (venue, held["id"], None, None))
    refuse(conn, "BK003", RELEASE, (venue, held["id"]))
    refuse(conn, "BK003", EXTEND, (venue, held["id"], "5 minutes"))


def test_confirming_a_hold_expired_by_the_sweeper_is_refused_with_bk003(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    held = lapsed_hold(conn, venue, [table], at(10), at(12))
    assert scalar(conn, "SELECT bookingdb.expire_holds()") == 1
    refuse(conn, "BK003", CONFIRM, (venue, held["id"], None, None))


# -- BK004 version conflict --------------------------------------------------------------


def test_stale_expected_version_is_refused_with_bk004_and_detail_names_the_current(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    moved = one(conn, RESCHEDULE, (venue, booking["id"], 1, at(13), at(14), None))
    assert moved["version"] == 2
    error = refuse(conn, "BK004", CANCEL, (venue, booking["id"], 1, None))
    assert "2" in (error.diag.message_detail or "")
    refuse(conn, "BK004", RESCHEDULE, (venue, booking["id"], 1, at(15), at(16), None))
    refuse(conn, "BK004", RESCHEDULE, (venue, booking["id"], 3, at(15), at(16), None))
    refuse(conn, "BK004", CANCEL, (venue, booking["id"], 0, None))


# -- BK005 idempotency key reused --------------------------------------------------------


def test_idempotency_key_reused_for_another_request_is_refused_with_bk005(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=6)
    other = add_resource(conn, venue, "T2", seats_max=6)
    hold(conn, venue, [table], at(10), at(12), party_size=2, idempotency_key="k-1")
    refuse(conn, "BK005", HOLD, (venue, [table], at(10), at(12), 3, 1, "k-1", None))
    refuse(conn, "BK005", HOLD, (venue, [table], at(10), at(13), 2, 1, "k-1", None))
    refuse(conn, "BK005", HOLD, (venue, [other], at(10), at(12), 2, 1, "k-1", None))
    refuse(conn, "BK005", HOLD, (venue, [table], at(10), at(12), 2, 1, "k-1", "1 hour"))
    # The same key on the other path (a confirmed booking) is another request too.
    refuse(conn, "BK005", BOOK, (venue, [table], at(10), at(12), 2, None, 1, "k-1"))


# -- BK006 invalid status transition -----------------------------------------------------


def test_cancelling_a_hold_is_refused_with_bk006(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(10), at(12))
    error = refuse(conn, "BK006", CANCEL, (venue, held["id"], None, None))
    assert error.diag.message_hint  # points to release_hold


def test_cancelling_twice_is_refused_with_bk006(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    one(conn, CANCEL, (venue, booking["id"], None, "first"))
    refuse(conn, "BK006", CANCEL, (venue, booking["id"], None, "second"))


def test_cancelling_a_released_or_expired_hold_is_refused_with_bk006(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    released = hold(conn, venue, [table], at(10), at(12))
    one(conn, RELEASE, (venue, released["id"]))
    refuse(conn, "BK006", CANCEL, (venue, released["id"], None, None))
    lapsed = lapsed_hold(conn, venue, [table], at(13), at(14))
    refuse(conn, "BK006", CANCEL, (venue, lapsed["id"], None, None))


def test_changing_a_confirmed_booking_like_a_hold_is_refused_with_bk006(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    refuse(conn, "BK006", RELEASE, (venue, booking["id"]))
    refuse(conn, "BK006", EXTEND, (venue, booking["id"], "10 minutes"))
    # Confirming again with different details is not a replay.
    refuse(conn, "BK006", CONFIRM, (venue, booking["id"], '{"name": "Bob"}', None))


def test_cancelled_booking_cannot_be_confirmed_or_moved(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    one(conn, CANCEL, (venue, booking["id"], None, None))
    refuse(conn, "BK006", CONFIRM, (venue, booking["id"], None, None))
    refuse(conn, "BK006", RESCHEDULE, (venue, booking["id"], None, at(13), at(14), None))
    refuse(conn, "BK006", RELEASE, (venue, booking["id"]))


# -- BK007 not found ---------------------------------------------------------------------


def test_unknown_venue_is_refused_with_bk007(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    missing = venue + 1000
    refuse(conn, "BK007", HOLD, (missing, [table], at(10), at(12), 1, 1, None, None))
    refuse(conn, "BK007", BOOK, (missing, [table], at(10), at(12), 1, None, 1, None))
    refuse(conn, "BK007", CHECK, (missing, [table], at(10), at(12), 1, None))
    refuse(conn, "BK007", LIST, (missing, at(10), at(12)))
    refuse(conn, "BK007", "SELECT bookingdb.add_resource(%s, 'T9')", (missing,))


def test_unknown_resource_is_refused_with_bk007(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    missing = table + 1000
    refuse(conn, "BK007", HOLD, (venue, [missing], at(10), at(12), 1, 1, None, None))
    refuse(conn, "BK007", BOOK, (venue, [table, missing], at(10), at(12), 1, None, 1, None))
    refuse(conn, "BK007", CHECK, (venue, [table, missing], at(10), at(12), 1, None))
    booking = book(conn, venue, [table], at(10), at(12))
    refuse(conn, "BK007", RESCHEDULE, (venue, booking["id"], None, at(13), at(14), [missing]))


def test_unknown_booking_is_refused_with_bk007(conn: Conn, venue: int, at: At) -> None:
    missing = 424242
    refuse(conn, "BK007", GET, (venue, missing))
    refuse(conn, "BK007", CONFIRM, (venue, missing, None, None))
    refuse(conn, "BK007", EXTEND, (venue, missing, "1 minute"))
    refuse(conn, "BK007", RELEASE, (venue, missing))
    refuse(conn, "BK007", CANCEL, (venue, missing, None, None))
    refuse(conn, "BK007", RESCHEDULE, (venue, missing, None, at(10), at(11), None))


def test_booking_or_resource_of_another_venue_is_refused_with_bk007(
    conn: Conn, venue: int, other_venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    foreign_table = add_resource(conn, other_venue, "Their T1")
    held = hold(conn, venue, [table], at(10), at(12))
    booked = book(conn, venue, [table], at(15), at(16))
    for query, params in [
        (GET, (other_venue, held["id"])),
        (GET, (other_venue, booked["id"])),
        (CANCEL, (other_venue, booked["id"], None, None)),
        (RESCHEDULE, (other_venue, booked["id"], None, at(17), at(18), None)),
        (CONFIRM, (other_venue, held["id"], None, None)),
        (EXTEND, (other_venue, held["id"], "1 minute")),
        (RELEASE, (other_venue, held["id"])),
        (CANCEL, (other_venue, held["id"], None, None)),
        (RESCHEDULE, (other_venue, held["id"], None, at(13), at(14), None)),
        (HOLD, (venue, [foreign_table], at(10), at(12), 1, 1, None, None)),
        (BOOK, (venue, [table, foreign_table], at(13), at(14), 1, None, 1, None)),
        (CHECK, (venue, [foreign_table], at(10), at(12), 1, None)),
        (RESCHEDULE, (venue, booked["id"], None, at(13), at(14), [foreign_table])),
    ]:
        refuse(conn, "BK007", query, params)


# -- BK008 invalid argument --------------------------------------------------------------


def test_malformed_arguments_are_refused_with_bk008(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    cases = [
        (HOLD, (venue, [], at(10), at(12), 1, 1, None, None)),
        (HOLD, (venue, None, at(10), at(12), 1, 1, None, None)),
        (HOLD, (venue, [table, None], at(10), at(12), 1, 1, None, None)),
        (HOLD, (venue, [table], at(10), at(12), 1, 1, None, "0 seconds")),
        (HOLD, (venue, [table], at(10), at(12), 1, 1, None, "-5 minutes")),
        (BOOK, (venue, [table], at(10), at(12), 1, "[1, 2]", 1, None)),
        (BOOK, (venue, [table], at(10), at(12), 1, '"Ada"', 1, None)),
        (BOOK, (venue, [table], at(10), at(12), 1, "null", 1, None)),
        (CHECK, (venue, [], at(10), at(12), 1, None)),
        ("SELECT bookingdb.create_venue('')", None),
        ("SELECT bookingdb.create_venue('Bar', 'Mars/Olympus_Mons')", None),
        ("SELECT bookingdb.create_venue('Bar', NULL)", None),
        ("SELECT bookingdb.add_resource(%s, 'T', 0)", (venue,)),
        ("SELECT bookingdb.add_resource(%s, 'T', 1, 0)", (venue,)),
        ("SELECT bookingdb.add_resource(%s, 'T', 1, 4, 2)", (venue,)),
        ("SELECT bookingdb.add_resource(%s, '')", (venue,)),
        ("SELECT bookingdb.expire_holds(0)", None),
    ]
    for query, params in cases:
        refuse(conn, "BK008", query, params)


def test_malformed_change_arguments_are_refused_with_bk008(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(10), at(12))
    refuse(conn, "BK008", EXTEND, (venue, held["id"], "0 seconds"))
    refuse(conn, "BK008", EXTEND, (venue, held["id"], "-1 hour"))
    refuse(conn, "BK008", EXTEND, (venue, held["id"], None))
    refuse(conn, "BK008", CONFIRM, (venue, held["id"], "[]", None))


def test_a_ttl_or_extension_past_the_end_of_time_is_refused_with_bk008(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    # now() + 300000 years overflows timestamptz: a documented refusal, not
    # a bare "timestamp out of range".
    refuse(conn, "BK008", HOLD, (venue, [table], at(10), at(12), 1, 1, None, "300000 years"))
    held = hold(conn, venue, [table], at(10), at(12))
    refuse(conn, "BK008", EXTEND, (venue, held["id"], "300000 years"))


# -- BK011 invalid time range ------------------------------------------------------------


@pytest.mark.parametrize(
    "starts_at,ends_at",
    [
        (12, 10),  # inverted
        (10, 10),  # empty
        (None, 10),
        (10, None),
        (10, "infinity"),
        ("-infinity", 10),
    ],
)
def test_invalid_time_range_is_refused_with_bk011(
    conn: Conn, venue: int, at: At, starts_at: float | str | None, ends_at: float | str | None
) -> None:
    table = add_resource(conn, venue, "T1")

    def value(when: float | str | None) -> datetime | str | None:
        return at(when) if isinstance(when, int | float) else when

    start, end = value(starts_at), value(ends_at)
    hold_q = "SELECT * FROM bookingdb.create_hold(%s, %s, %s::timestamptz, %s::timestamptz)"
    book_q = (
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s::timestamptz, %s::timestamptz)"
    )
    check_q = "SELECT bookingdb.check_availability(%s, %s, %s::timestamptz, %s::timestamptz)"
    refuse(conn, "BK011", hold_q, (venue, [table], start, end))
    refuse(conn, "BK011", book_q, (venue, [table], start, end))
    refuse(conn, "BK011", check_q, (venue, [table], start, end))
    booking = book(conn, venue, [table], at(20), at(21))
    refuse(
        conn,
        "BK011",
        "SELECT * FROM bookingdb.reschedule_booking("
        "%s, %s, NULL, %s::timestamptz, %s::timestamptz)",
        (venue, booking["id"], start, end),
    )


def test_list_bookings_with_an_inverted_window_is_refused_with_bk011(
    conn: Conn, venue: int, at: At
) -> None:
    refuse(conn, "BK011", LIST, (venue, at(12), at(10)))
    refuse(conn, "BK011", LIST, (venue, None, at(10)))


# -- BK012 in the past -------------------------------------------------------------------


def test_booking_that_starts_in_the_past_is_refused_with_bk012(conn: Conn, venue: int) -> None:
    table = add_resource(conn, venue, "T1")
    past = "now() - interval '1 hour'"
    future = "now() + interval '1 hour'"
    refuse(
        conn,
        "BK012",
        f"SELECT * FROM bookingdb.create_hold(%s, %s, {past}, {future})",
        (venue, [table]),
    )
    refuse(
        conn,
        "BK012",
        f"SELECT * FROM bookingdb.create_booking_atomic(%s, %s, {past}, {future})",
        (venue, [table]),
    )
    booking = one(
        conn,
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, now() + interval '2 hours', "
        "now() + interval '3 hours')",
        (venue, [table]),
    )
    refuse(
        conn,
        "BK012",
        f"SELECT * FROM bookingdb.reschedule_booking(%s, %s, NULL, {past}, {future})",
        (venue, booking["id"]),
    )


# -- BK014 / BK018 party size --------------------------------------------------------------------


@pytest.mark.parametrize("party_size", [0, -1, 51, None, 2_147_483_647])
def test_party_outside_venue_limits_is_refused_with_bk014(
    conn: Conn, venue: int, at: At, party_size: int | None
) -> None:
    hall = add_resource(conn, venue, "Hall", capacity=100)
    refuse(conn, "BK014", HOLD, (venue, [hall], at(10), at(12), party_size, 1, None, None))
    refuse(conn, "BK014", BOOK, (venue, [hall], at(10), at(12), party_size, None, 1, None))


def test_party_at_the_venue_limits_is_accepted(conn: Conn, venue: int, at: At) -> None:
    hall = add_resource(conn, venue, "Hall", capacity=100)
    assert book(conn, venue, [hall], at(10), at(12), party_size=1)["party_size"] == 1
    assert book(conn, venue, [hall], at(10), at(12), party_size=50)["party_size"] == 50


def test_party_outside_the_tables_seats_is_refused_with_bk018(
    conn: Conn, venue: int, at: At
) -> None:
    four_top = add_resource(conn, venue, "Four-top", seats_min=2, seats_max=4)
    refuse(conn, "BK018", HOLD, (venue, [four_top], at(10), at(12), 1, 1, None, None))
    refuse(conn, "BK018", BOOK, (venue, [four_top], at(10), at(12), 5, None, 1, None))
    assert book(conn, venue, [four_top], at(10), at(12), party_size=2)["party_size"] == 2
    assert book(conn, venue, [four_top], at(13), at(14), party_size=4)["party_size"] == 4


def test_party_larger_than_pushed_together_tables_is_refused_with_bk018(
    conn: Conn, venue: int, at: At
) -> None:
    a = add_resource(conn, venue, "A", seats_min=2, seats_max=4)
    b = add_resource(conn, venue, "B", seats_min=2, seats_max=4)
    assert book(conn, venue, [a, b], at(10), at(12), party_size=8)["party_size"] == 8
    refuse(conn, "BK018", BOOK, (venue, [a, b], at(13), at(14), 9, None, 1, None))


# -- BK017 quantity ----------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [0, -3, None])
def test_quantity_below_one_is_refused_with_bk017(
    conn: Conn, venue: int, at: At, quantity: int | None
) -> None:
    yoga = add_resource(conn, venue, "Yoga", capacity=5)
    refuse(conn, "BK017", HOLD, (venue, [yoga], at(10), at(12), 1, quantity, None, None))
    refuse(conn, "BK017", BOOK, (venue, [yoga], at(10), at(12), 1, None, quantity, None))
    refuse(conn, "BK017", CHECK, (venue, [yoga], at(10), at(12), quantity, None))


def test_quantity_above_capacity_is_refused_with_bk017(conn: Conn, venue: int, at: At) -> None:
    yoga = add_resource(conn, venue, "Yoga", capacity=5)
    table = add_resource(conn, venue, "T1")
    refuse(conn, "BK017", HOLD, (venue, [yoga], at(10), at(12), 1, 6, None, None))
    refuse(conn, "BK017", BOOK, (venue, [table], at(10), at(12), 1, None, 2, None))
    # With several resources the smallest capacity bounds the quantity.
    refuse(conn, "BK017", BOOK, (venue, [yoga, table], at(10), at(12), 1, None, 2, None))
    assert book(conn, venue, [yoga], at(10), at(12), quantity=5)["quantity"] == 5
    # check_availability answers false rather than refusing.
    assert scalar(conn, CHECK, (venue, [yoga], at(13), at(14), 6, None)) is False
