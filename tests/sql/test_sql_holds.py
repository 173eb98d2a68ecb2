"""Holds: they block while live, expire by themselves without any sweeper (I4),
can be extended, released and confirmed; expire_holds only tidies up.

A lapsed hold is made without sleeping: it is created with a ttl of one
microsecond in one autocommit statement, and every later statement is a new
transaction whose now() is later (expire_now asserts it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from contract_kit import (
    Conn,
    add_resource,
    available,
    book,
    expire_now,
    get,
    hold,
    lapsed_hold,
    one,
    refuse,
    rows,
    scalar,
    violations,
)

At = Callable[[float], datetime]

BOOK = "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s)"


def _active_allocations(conn: Conn, booking_id: int) -> list[bool]:
    return [
        r["active"]
        for r in rows(
            conn,
            "SELECT active FROM bookingdb.allocations WHERE booking_id = %s ORDER BY resource_id",
            (booking_id,),
        )
    ]


def test_a_lapsed_hold_never_blocks_a_new_booking_without_any_sweeper(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    lapsed = lapsed_hold(conn, venue, [table], at(10), at(12))
    assert get(conn, venue, lapsed["id"])["status"] == "expired"
    assert available(conn, venue, [table], at(10), at(12)) is True
    listed = rows(conn, "SELECT * FROM bookingdb.list_bookings(%s, %s, %s)", (venue, at(0), at(24)))
    assert listed == []
    assert violations(conn) == []
    booking = book(conn, venue, [table], at(11), at(13))
    assert booking["status"] == "confirmed"
    assert get(conn, venue, lapsed["id"])["status"] == "expired"
    assert violations(conn) == []


def test_a_hold_is_live_for_the_whole_transaction_that_made_it(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    with conn.transaction():
        held = hold(conn, venue, [table], at(10), at(12), ttl="1 microsecond")
        assert held["status"] == "held"
        assert get(conn, venue, held["id"])["status"] == "held"
        inside = conn.execute(
            "SELECT bookingdb.check_availability(%s, %s, %s, %s)", (venue, [table], at(10), at(12))
        ).fetchone()
        assert inside == (False,)
    expire_now(conn, held)
    assert get(conn, venue, held["id"])["status"] == "expired"


def test_a_lapsed_hold_on_a_shared_resource_frees_its_units(conn: Conn, venue: int, at: At) -> None:
    yoga = add_resource(conn, venue, "Yoga", capacity=2)
    lapsed_hold(conn, venue, [yoga], at(10), at(11), quantity=2)
    assert available(conn, venue, [yoga], at(10), at(11), quantity=2) is True
    assert book(conn, venue, [yoga], at(10), at(11), quantity=2)["quantity"] == 2
    assert violations(conn) == []


def _stored_status(conn: Conn, booking_id: int) -> str:
    query = "SELECT status FROM bookingdb.bookings WHERE booking_id = %s"
    return str(scalar(conn, query, (booking_id,)))


def _feed_actions(conn: Conn, venue: int, booking_id: int) -> list[str]:
    return [
        r["action"]
        for r in rows(conn, "SELECT * FROM bookingdb.changes_since(%s)", (venue,))
        if r["booking_id"] == booking_id
    ]


def test_a_booking_marks_a_lapsed_hold_on_its_table_expired_in_its_own_transaction(
    conn: Conn, venue: int, at: At
) -> None:
    # As the README says: the feed and the audit show the hold expiring in
    # the transaction of the booking that took its table.
    table = add_resource(conn, venue, "T1")
    lapsed = lapsed_hold(conn, venue, [table], at(10), at(12))
    book(conn, venue, [table], at(10), at(12))
    assert _stored_status(conn, lapsed["id"]) == "expired"
    assert _feed_actions(conn, venue, lapsed["id"])[-1] == "expired"


def test_a_lapsed_hold_on_a_shared_resource_is_left_to_the_sweeper(
    conn: Conn, venue: int, at: At
) -> None:
    # On a shared resource a lapsed hold is not counted, so it is in nobody's
    # way and a booking leaves it as it is (its places go to whoever asks;
    # marking it would take a lock on its row for nothing). The sweeper marks
    # it, and offers its places to the waitlist, as the README says.
    yoga = add_resource(conn, venue, "Yoga", capacity=2)
    lapsed = lapsed_hold(conn, venue, [yoga], at(10), at(11), quantity=2)
    book(conn, venue, [yoga], at(10), at(11), quantity=2)
    assert _stored_status(conn, lapsed["id"]) == "held"
    assert get(conn, venue, lapsed["id"])["status"] == "expired"
    assert "expired" not in _feed_actions(conn, venue, lapsed["id"])
    assert scalar(conn, "SELECT bookingdb.expire_holds()") == 1
    assert _stored_status(conn, lapsed["id"]) == "expired"
    assert _feed_actions(conn, venue, lapsed["id"])[-1] == "expired"
    assert violations(conn) == []


def test_a_live_hold_blocks_and_a_confirmed_hold_keeps_blocking(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(10), at(12))
    assert held["status"] == "held"
    assert held["expires_at"] > held["created_at"]
    assert available(conn, venue, [table], at(10), at(12)) is False
    confirmed = one(
        conn,
        "SELECT * FROM bookingdb.confirm_hold(%s, %s, %s::jsonb, %s)",
        (venue, held["id"], '{"name": "Ada", "email": "ada@example.com"}', "pay-1"),
    )
    assert confirmed["status"] == "confirmed"
    assert confirmed["expires_at"] is None
    assert confirmed["customer"] == {"name": "Ada", "email": "ada@example.com"}
    refuse(conn, "BK001", BOOK, (venue, [table], at(10), at(12)))
    assert violations(conn) == []


def test_extend_hold_pushes_expiry_later_and_the_hold_keeps_blocking(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(10), at(12), ttl="10 minutes")
    extended = one(
        conn, "SELECT * FROM bookingdb.extend_hold(%s, %s, '1 hour')", (venue, held["id"])
    )
    assert extended["status"] == "held"
    assert extended["expires_at"] == held["expires_at"] + timedelta(hours=1)
    assert get(conn, venue, held["id"])["expires_at"] == extended["expires_at"]
    allocation_expiry = scalar(
        conn,
        "SELECT max(expires_at) FROM bookingdb.allocations WHERE booking_id = %s",
        (held["id"],),
    )
    assert allocation_expiry == extended["expires_at"]
    refuse(conn, "BK001", BOOK, (venue, [table], at(10), at(12)))
    assert violations(conn) == []


def test_extending_saves_a_hold_that_would_lapse(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    with conn.transaction():
        held = hold(conn, venue, [table], at(10), at(12), ttl="1 microsecond")
        one(conn, "SELECT * FROM bookingdb.extend_hold(%s, %s, '1 hour')", (venue, held["id"]))
    assert get(conn, venue, held["id"])["status"] == "held"
    confirmed = one(conn, "SELECT * FROM bookingdb.confirm_hold(%s, %s)", (venue, held["id"]))
    assert confirmed["status"] == "confirmed"


def test_release_hold_frees_the_slot_at_once(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(10), at(12))
    released = one(conn, "SELECT * FROM bookingdb.release_hold(%s, %s)", (venue, held["id"]))
    assert released["status"] == "released"
    assert _active_allocations(conn, held["id"]) == [False]
    assert available(conn, venue, [table], at(10), at(12)) is True
    assert book(conn, venue, [table], at(10), at(12))["status"] == "confirmed"
    assert violations(conn) == []


def test_expire_holds_counts_the_lapsed_holds_and_tidies_them(
    conn: Conn, venue: int, at: At
) -> None:
    tables = [add_resource(conn, venue, f"T{i}") for i in range(4)]
    lapsed = [hold(conn, venue, [t], at(10), at(12), ttl="1 microsecond") for t in tables[:3]]
    live = hold(conn, venue, [tables[3]], at(10), at(12))
    for h in lapsed:
        expire_now(conn, h)
    assert scalar(conn, "SELECT bookingdb.expire_holds(2)") == 2
    assert scalar(conn, "SELECT bookingdb.expire_holds()") == 1
    assert scalar(conn, "SELECT bookingdb.expire_holds()") == 0
    for h in lapsed:
        stored = scalar(
            conn, "SELECT status FROM bookingdb.bookings WHERE booking_id = %s", (h["id"],)
        )
        assert stored == "expired"
        assert _active_allocations(conn, h["id"]) == [False]
    assert get(conn, venue, live["id"])["status"] == "held"
    assert _active_allocations(conn, live["id"]) == [True]
    assert violations(conn) == []


def test_expire_holds_leaves_confirmed_bookings_alone(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    with conn.transaction():
        held = hold(conn, venue, [table], at(10), at(12), ttl="1 microsecond")
        one(conn, "SELECT * FROM bookingdb.confirm_hold(%s, %s)", (venue, held["id"]))
    assert scalar(conn, "SELECT bookingdb.expire_holds()") == 0
    assert get(conn, venue, held["id"])["status"] == "confirmed"
