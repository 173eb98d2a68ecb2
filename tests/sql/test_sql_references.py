"""Bookings and allocations refer to venues and resources without foreign
keys (migrations/0001); triggers take their place and refuse to delete a
venue or resource that anything refers to. Unused ones can still go."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contract_kit import Conn, add_resource, book, refuse, scalar, violations

At = Callable[[float], datetime]


def test_deleting_a_venue_with_bookings_is_refused_with_bk006(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    booking = book(conn, venue, [table], at(10), at(12))
    conn.execute("DELETE FROM bookingdb.allocations WHERE booking_id = %s", (booking["id"],))
    conn.execute("DELETE FROM bookingdb.resources WHERE venue_id = %s", (venue,))
    refuse(conn, "BK006", "DELETE FROM bookingdb.venues WHERE venue_id = %s", (venue,))


def test_deleting_a_resource_with_allocations_is_refused_with_bk006(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    book(conn, venue, [table], at(10), at(12))
    refuse(conn, "BK006", "DELETE FROM bookingdb.resources WHERE resource_id = %s", (table,))
    assert violations(conn) == []


def test_an_unused_resource_can_be_deleted(conn: Conn, venue: int) -> None:
    table = add_resource(conn, venue, "T1")
    conn.execute("DELETE FROM bookingdb.resources WHERE resource_id = %s", (table,))
    assert scalar(conn, "SELECT count(*) FROM bookingdb.resources") == 0


def test_an_unused_venue_can_be_deleted(conn: Conn, venue: int) -> None:
    conn.execute("DELETE FROM bookingdb.venues WHERE venue_id = %s", (venue,))
    assert scalar(conn, "SELECT count(*) FROM bookingdb.venues") == 0
