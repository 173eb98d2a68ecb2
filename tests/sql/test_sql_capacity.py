"""Shared resources count the maximum number of units in use at any instant
(not the number of overlapping bookings); bookings over several resources
are all or nothing (I2, I3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contract_kit import (
    Conn,
    add_resource,
    available,
    book,
    counts,
    hold,
    refuse,
    rows,
    violations,
)

At = Callable[[float], datetime]

BOOK = "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, 1, NULL, %s)"
HOLD = "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, %s, %s)"


def test_capacity_counts_units_at_an_instant_not_overlapping_bookings(
    conn: Conn, venue: int, at: At
) -> None:
    salon = add_resource(conn, venue, "Two chairs", capacity=2, kind="service")
    book(conn, venue, [salon], at(9), at(10))
    book(conn, venue, [salon], at(11), at(12))
    # 09-12 overlaps two bookings, but they never meet: at most 1 + 1 in use.
    assert available(conn, venue, [salon], at(9), at(12)) is True
    long = book(conn, venue, [salon], at(9), at(12))
    assert long["status"] == "confirmed"
    # 10-11 meets only the long one.
    assert book(conn, venue, [salon], at(10), at(11))["status"] == "confirmed"
    # 09:30-11:30 would make three at 09:30-10:00 (and 10-11, 11-11:30).
    assert available(conn, venue, [salon], at(9.5), at(11.5)) is False
    refuse(conn, "BK002", BOOK, (venue, [salon], at(9.5), at(11.5), 1))
    # 12-13 is free: ranges are half-open, so a booking ending at 12 is gone.
    assert book(conn, venue, [salon], at(12), at(13))["status"] == "confirmed"
    assert violations(conn) == []


def test_staggered_bookings_fill_capacity_exactly(conn: Conn, venue: int, at: At) -> None:
    room = add_resource(conn, venue, "Room", capacity=5)
    book(conn, venue, [room], at(10), at(12), quantity=3)
    book(conn, venue, [room], at(11), at(13), quantity=2)  # 5 in use at 11-12
    refuse(conn, "BK002", BOOK, (venue, [room], at(11.5), at(11.75), 1))
    refuse(conn, "BK002", HOLD, (venue, [room], at(9), at(14), 1, 1))
    # Before 11 and after 12 three units are free at most... then two.
    assert book(conn, venue, [room], at(10), at(11), quantity=2)["quantity"] == 2
    assert book(conn, venue, [room], at(12), at(13), quantity=3)["quantity"] == 3
    refuse(conn, "BK002", BOOK, (venue, [room], at(10), at(10.5), 1))
    assert violations(conn) == []


def test_touching_bookings_on_a_shared_resource_do_not_add_up(
    conn: Conn, venue: int, at: At
) -> None:
    room = add_resource(conn, venue, "Room", capacity=2)
    book(conn, venue, [room], at(10), at(11), quantity=2)
    assert book(conn, venue, [room], at(11), at(12), quantity=2)["quantity"] == 2
    assert book(conn, venue, [room], at(9), at(10), quantity=2)["quantity"] == 2
    assert violations(conn) == []


def test_holds_count_towards_capacity(conn: Conn, venue: int, at: At) -> None:
    room = add_resource(conn, venue, "Room", capacity=3)
    hold(conn, venue, [room], at(10), at(11), quantity=2)
    refuse(conn, "BK002", BOOK, (venue, [room], at(10), at(11), 2))
    assert book(conn, venue, [room], at(10), at(11), quantity=1)["quantity"] == 1


def test_multi_resource_booking_with_one_table_taken_writes_nothing(
    conn: Conn, venue: int, at: At
) -> None:
    a = add_resource(conn, venue, "A", seats_max=4)
    b = add_resource(conn, venue, "B", seats_max=4)
    book(conn, venue, [b], at(10), at(12))
    before = counts(conn)
    for tables in ([a, b], [b, a]):
        refuse(
            conn,
            "BK001",
            "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, 6)",
            (venue, tables, at(11), at(13)),
        )
    assert counts(conn) == before
    # Table A was never claimed.
    assert available(conn, venue, [a], at(10), at(13)) is True
    assert book(conn, venue, [a], at(10), at(13))["status"] == "confirmed"
    assert violations(conn) == []


def test_exclusive_taken_undoes_the_shared_part_of_the_same_booking(
    conn: Conn, venue: int, at: At
) -> None:
    room = add_resource(conn, venue, "Room", capacity=2)
    table = add_resource(conn, venue, "Table")
    book(conn, venue, [table], at(10), at(12))
    refuse(conn, "BK001", BOOK, (venue, [room, table], at(10), at(12), 1))
    # No unit of the room was consumed by the refused booking.
    assert book(conn, venue, [room], at(10), at(12), quantity=2)["quantity"] == 2


def test_shared_full_undoes_the_exclusive_part_of_the_same_booking(
    conn: Conn, venue: int, at: At
) -> None:
    room = add_resource(conn, venue, "Room", capacity=2)
    table = add_resource(conn, venue, "Table")
    book(conn, venue, [room], at(10), at(12), quantity=2)
    refuse(conn, "BK002", BOOK, (venue, [room, table], at(10), at(12), 1))
    assert book(conn, venue, [table], at(10), at(12))["status"] == "confirmed"


def test_multi_resource_booking_claims_every_resource(conn: Conn, venue: int, at: At) -> None:
    a = add_resource(conn, venue, "A", seats_max=4)
    b = add_resource(conn, venue, "B", seats_max=4)
    booking = book(conn, venue, [b, a, b], at(10), at(12), party_size=7)
    assert sorted(booking["resource_ids"]) == sorted([a, b])
    claims = rows(
        conn,
        "SELECT resource_id, active FROM bookingdb.allocations WHERE booking_id = %s "
        "ORDER BY resource_id",
        (booking["id"],),
    )
    assert claims == [{"resource_id": a, "active": True}, {"resource_id": b, "active": True}]
    for table in (a, b):
        refuse(
            conn,
            "BK001",
            "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s)",
            (venue, [table], at(11), at(12)),
        )
