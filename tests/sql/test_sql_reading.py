"""Reading: list_bookings shows what occupies a window, check_availability
answers without booking, get_booking returns one booking."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contract_kit import (
    Conn,
    add_resource,
    available,
    book,
    get,
    hold,
    lapsed_hold,
    one,
    rows,
    scalar,
)

At = Callable[[float], datetime]

LIST = "SELECT * FROM bookingdb.list_bookings(%s, %s, %s)"
LIST_COLUMNS = [
    "booking_id",
    "reference",
    "status",
    "resource_id",
    "starts_at",
    "ends_at",
    "quantity",
    "expires_at",
    "version",
]


def test_list_bookings_has_the_documented_columns(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    book(conn, venue, [table], at(10), at(12))
    with conn.cursor() as cur:
        cur.execute(LIST, (venue, at(0), at(24)))
        assert [c.name for c in cur.description or ()] == LIST_COLUMNS


def test_list_bookings_shows_only_what_occupies_the_window(
    conn: Conn, venue: int, other_venue: int, at: At
) -> None:
    a = add_resource(conn, venue, "A", seats_max=4)
    b = add_resource(conn, venue, "B", seats_max=4)
    c = add_resource(conn, venue, "C", seats_max=4)
    theirs = add_resource(conn, other_venue, "Theirs")
    pair = book(conn, venue, [a, b], at(10), at(12), party_size=6)
    held = hold(conn, venue, [c], at(9), at(10))
    cancelled = book(conn, venue, [c], at(13), at(14))
    one(conn, "SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, cancelled["id"]))
    released = hold(conn, venue, [c], at(14), at(15))
    one(conn, "SELECT * FROM bookingdb.release_hold(%s, %s)", (venue, released["id"]))
    lapsed_hold(conn, venue, [c], at(15), at(16))
    book(conn, other_venue, [theirs], at(10), at(12))

    listed = rows(conn, LIST, (venue, at(0), at(24)))
    assert [(r["booking_id"], r["resource_id"], r["status"]) for r in listed] == [
        (held["id"], c, "held"),
        (pair["id"], a, "confirmed"),
        (pair["id"], b, "confirmed"),
    ]
    first = listed[1]
    assert first["reference"] == pair["reference"]
    assert (first["starts_at"], first["ends_at"]) == (at(10), at(12))
    assert (first["quantity"], first["version"], first["expires_at"]) == (1, 1, None)
    assert listed[0]["expires_at"] == held["expires_at"]


def test_list_bookings_window_is_half_open(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    assert [r["booking_id"] for r in rows(conn, LIST, (venue, at(11), at(13)))] == [booking["id"]]
    assert [r["booking_id"] for r in rows(conn, LIST, (venue, at(9), at(10.5)))] == [booking["id"]]
    assert rows(conn, LIST, (venue, at(12), at(13))) == []
    assert rows(conn, LIST, (venue, at(8), at(10))) == []


def test_check_availability_answers_true_and_false(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    room = add_resource(conn, venue, "Room", capacity=3)
    assert available(conn, venue, [table], at(10), at(12)) is True
    booking = book(conn, venue, [table], at(10), at(12))
    assert available(conn, venue, [table], at(10), at(12)) is False
    assert available(conn, venue, [table], at(11), at(11.5)) is False
    assert available(conn, venue, [table], at(12), at(13)) is True
    assert available(conn, venue, [table, room], at(11), at(13)) is False
    assert available(conn, venue, [room], at(11), at(13), quantity=3) is True
    assert available(conn, venue, [room], at(11), at(13), quantity=4) is False
    book(conn, venue, [room], at(11), at(12), quantity=2)
    assert available(conn, venue, [room], at(11), at(13), quantity=2) is False
    assert available(conn, venue, [room], at(12), at(13), quantity=3) is True
    one(conn, "SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, booking["id"]))
    assert available(conn, venue, [table], at(10), at(12)) is True


def test_check_availability_can_ignore_the_booking_being_moved(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    room = add_resource(conn, venue, "Room", capacity=2)
    mine = book(conn, venue, [table], at(10), at(12))
    shared = book(conn, venue, [room], at(10), at(12), quantity=2)
    other = book(conn, venue, [table], at(13), at(14))
    assert available(conn, venue, [table], at(11), at(13)) is False
    assert available(conn, venue, [table], at(11), at(13), exclude_booking_id=mine["id"]) is True
    assert available(conn, venue, [table], at(11), at(14), exclude_booking_id=mine["id"]) is False
    assert (
        available(conn, venue, [room], at(11), at(13), 2, exclude_booking_id=shared["id"]) is True
    )
    assert (
        available(conn, venue, [room], at(11), at(13), 1, exclude_booking_id=other["id"]) is False
    )


def test_check_availability_of_a_past_slot_is_false(conn: Conn, venue: int) -> None:
    table = add_resource(conn, venue, "T1")
    assert (
        scalar(
            conn,
            "SELECT bookingdb.check_availability(%s, %s, now() - interval '2 hours', "
            "now() - interval '1 hour')",
            (venue, [table]),
        )
        is False
    )


def test_get_booking_returns_what_was_booked(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    booking = one(
        conn,
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, 3, %s::jsonb)",
        (venue, [table], at(10), at(12), '{"name": "Ada", "notes": "window seat"}'),
    )
    stored = get(conn, venue, booking["id"])
    # The cancellation token is handed out once, with the booking that made it.
    assert len(booking["cancel_token"]) == 64 and stored["cancel_token"] is None
    assert stored == {**booking, "cancel_token": None}
    assert stored["reference"].startswith("BK-")
    assert stored["customer"] == {"name": "Ada", "notes": "window seat"}
    assert (stored["venue_id"], stored["party_size"], stored["status"]) == (venue, 3, "confirmed")
    assert stored["created_at"] <= stored["starts_at"]
