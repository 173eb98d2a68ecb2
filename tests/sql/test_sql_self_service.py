"""Customer self-service (cancellation tokens, lookups) and operator controls
(hold limits, sellable capacity, the booking lock, bounded lock waits)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from contract_kit import (
    Conn,
    add_resource,
    book,
    counts,
    hold,
    one,
    refuse,
    rows,
    scalar,
    set_rules,
    violations,
)
from psycopg.types.json import Jsonb

CANCEL = "SELECT * FROM bookingdb.cancel_by_token(%s, %s, %s)"


@pytest.fixture
def other_conn(dsn: str) -> Iterator[Conn]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def booked_for(
    conn: Conn, venue: int, table: int, at: Callable[[float], datetime], email: str, hour: float
) -> dict[str, Any]:
    return one(
        conn,
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, 2, %s)",
        (venue, [table], at(hour), at(hour + 1), Jsonb({"name": "Ada", "email": email})),
    )


def test_a_confirmation_hands_out_a_token_once_that_cancels_the_booking(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    booking = booked_for(conn, venue, table, at, "ada@example.com", 19)
    token = booking["cancel_token"]
    assert isinstance(token, str) and len(token) == 64
    # Only its hash is stored; reads never show it.
    assert (
        one(conn, "SELECT * FROM bookingdb.get_booking(%s, %s)", (venue, booking["id"]))[
            "cancel_token"
        ]
        is None
    )
    stored = scalar(
        conn,
        "SELECT cancel_token_hash FROM bookingdb.bookings WHERE booking_id = %s",
        (booking["id"],),
    )
    assert bytes(stored) == bytes(scalar(conn, "SELECT sha256(convert_to(%s, 'UTF8'))", (token,)))

    cancelled = one(conn, CANCEL, (venue, booking["reference"], token))
    assert cancelled["status"] == "cancelled"
    # The link clicked again: the same cancelled booking, nothing written.
    audit_rows = scalar(
        conn, "SELECT count(*) FROM bookingdb.audit_log WHERE booking_id = %s", (booking["id"],)
    )
    again = one(conn, CANCEL, (venue, booking["reference"], token))
    assert again == cancelled
    assert audit_rows == scalar(
        conn, "SELECT count(*) FROM bookingdb.audit_log WHERE booking_id = %s", (booking["id"],)
    )
    # The token of a request the venue rejected cancels nothing: BK006.
    request = one(
        conn,
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, status => 'pending')",
        (venue, [table], at(22), at(23)),
    )
    one(conn, "SELECT * FROM bookingdb.reject_booking(%s, %s)", (venue, request["id"]))
    refuse(conn, "BK006", CANCEL, (venue, request["reference"], request["cancel_token"]))


def test_a_wrong_token_and_an_unknown_reference_get_the_same_refusal(
    conn: Conn, venue: int, other_venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    booking = booked_for(conn, venue, table, at, "ada@example.com", 19)
    wrong = refuse(conn, "BK007", CANCEL, (venue, booking["reference"], "0" * 64))
    unknown = refuse(conn, "BK007", CANCEL, (venue, "BK-0000-0000", booking["cancel_token"]))
    elsewhere = refuse(
        conn, "BK007", CANCEL, (other_venue, booking["reference"], booking["cancel_token"])
    )
    empty = refuse(conn, "BK007", CANCEL, (venue, booking["reference"], None))
    said = {
        (e.diag.message_primary, e.diag.message_detail, e.diag.message_hint)
        for e in (wrong, unknown, elsewhere, empty)
    }
    assert len(said) == 1
    assert booking["reference"] not in str(said)
    assert (
        one(conn, "SELECT * FROM bookingdb.get_booking(%s, %s)", (venue, booking["id"]))["status"]
        == "confirmed"
    )


def test_confirm_hold_hands_out_the_token_and_a_replay_does_not(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1")
    held = hold(conn, venue, [table], at(19), at(21))
    assert held["cancel_token"] is None  # a hold is not a booking yet
    confirmed = one(conn, "SELECT * FROM bookingdb.confirm_hold(%s, %s)", (venue, held["id"]))
    again = one(conn, "SELECT * FROM bookingdb.confirm_hold(%s, %s)", (venue, held["id"]))
    assert len(confirmed["cancel_token"]) == 64 and again["cancel_token"] is None
    keyed = book(conn, venue, [table], at(22), at(23), idempotency_key="k")
    replayed = book(conn, venue, [table], at(22), at(23), idempotency_key="k")
    assert keyed["cancel_token"] is not None and replayed["cancel_token"] is None
    one(conn, CANCEL, (venue, confirmed["reference"], confirmed["cancel_token"]))


def test_find_booking_and_customer_bookings(
    conn: Conn, venue: int, other_venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    early = booked_for(conn, venue, table, at, "Ada@Example.com", 12)
    late = booked_for(conn, venue, table, at, "ada@example.COM", 19)
    booked_for(conn, venue, table, at, "bob@example.com", 15)
    found = one(
        conn,
        "SELECT * FROM bookingdb.find_booking(%s, %s)",
        (venue, f" {late['reference'].lower()} "),
    )
    assert found["id"] == late["id"]
    refuse(conn, "BK007", "SELECT * FROM bookingdb.find_booking(%s, %s)", (venue, "BK-NONE-NONE"))
    refuse(
        conn,
        "BK007",
        "SELECT * FROM bookingdb.find_booking(%s, %s)",
        (other_venue, late["reference"]),
    )

    mine = rows(
        conn, "SELECT * FROM bookingdb.customer_bookings(%s, %s)", (venue, "ADA@example.com")
    )
    assert [b["id"] for b in mine] == [early["id"], late["id"]]
    later = rows(
        conn,
        "SELECT * FROM bookingdb.customer_bookings(%s, %s, %s)",
        (venue, "ada@example.com", at(13)),
    )
    assert [b["id"] for b in later] == [late["id"]]
    assert (
        rows(
            conn,
            "SELECT * FROM bookingdb.customer_bookings(%s, %s)",
            (other_venue, "ada@example.com"),
        )
        == []
    )
    refuse(conn, "BK008", "SELECT * FROM bookingdb.customer_bookings(%s, %s)", (venue, " "))


def test_one_customer_cannot_hold_more_than_the_venue_allows(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    tables = [add_resource(conn, venue, f"T{i}") for i in range(4)]
    set_rules(conn, venue, max_active_holds_per_customer=2)
    take = "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, holder => %s)"
    first = one(conn, take, (venue, [tables[0]], at(19), at(21), "cookie-1"))
    one(conn, take, (venue, [tables[1]], at(19), at(21), "cookie-1"))
    refuse(conn, "BK021", take, (venue, [tables[2]], at(19), at(21), "cookie-1"))
    # Someone else may; holds without a holder are not counted.
    one(conn, take, (venue, [tables[2]], at(19), at(21), "cookie-2"))
    hold(conn, venue, [tables[3]], at(19), at(21))
    # Releasing one makes room again.
    conn.execute("SELECT bookingdb.release_hold(%s, %s)", (venue, first["id"]))
    one(conn, take, (venue, [tables[0]], at(19), at(21), "cookie-1"))
    assert (
        scalar(
            conn,
            "SELECT bookingdb.get_venue_rules(%s) -> 'max_active_holds_per_customer'",
            (venue,),
        )
        == 2
    )
    set_rules(conn, venue, max_active_holds_per_customer=None)
    refuse(
        conn,
        "BK010",
        "SELECT bookingdb.set_venue_rules(%s, %s)",
        (venue, Jsonb({"max_active_holds_per_customer": 0})),
    )


def test_ticket_holds_count_by_customer_email(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    gig = int(
        scalar(conn, "SELECT bookingdb.create_event(%s, 'Gig', %s, %s)", (venue, at(20), at(23)))
    )
    floor = add_resource(conn, venue, "Floor", capacity=100, kind="ga")
    conn.execute(
        "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'standing', 1000)", (venue, gig, [floor])
    )
    set_rules(conn, venue, max_active_holds_per_customer=1)
    grab = "SELECT * FROM bookingdb.hold_event_tickets(%s, %s, 2, customer => %s)"
    one(conn, grab, (venue, gig, Jsonb({"email": "Scalper@example.com"})))
    refuse(conn, "BK021", grab, (venue, gig, Jsonb({"email": "scalper@EXAMPLE.com"})))
    one(conn, grab, (venue, gig, Jsonb({"email": "fan@example.com"})))


def test_sellable_capacity_keeps_places_back_or_overbooks_and_never_silently_invalidates(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    room = add_resource(conn, venue, "Hall", capacity=10, kind="class")
    table = add_resource(conn, venue, "T1")
    sellable = "SELECT bookingdb.set_sellable_capacity(%s, %s, %s)"
    conn.execute(sellable, (venue, room, 6))  # four places kept back for walk-ins
    book(conn, venue, [room], at(9), at(10), quantity=6)
    refuse(
        conn,
        "BK002",
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, 1, NULL, 1)",
        (venue, [room], at(9), at(10)),
    )
    slots = rows(
        conn,
        "SELECT * FROM bookingdb.availability(%s, tstzrange(%s, %s), '1 hour', '1 hour', %s)",
        (venue, at(9), at(11), [room]),
    )
    assert [(s["starts_at"], s["remaining"]) for s in slots] == [(at(10), 6)]

    # Lowering below what is booked is refused, naming the booking.
    error = refuse(conn, "BK022", sellable, (venue, room, 5))
    assert "BK-" in (error.diag.message_detail or "")
    # Overbooking on purpose: twelve places sold on ten.
    conn.execute(sellable, (venue, room, 12))
    book(conn, venue, [room], at(9), at(10), quantity=6)
    assert violations(conn) == []
    listed = {
        r["resource_id"]: r["sellable_capacity"]
        for r in rows(conn, "SELECT * FROM bookingdb.list_resources(%s)", (venue,))
    }
    assert listed == {room: 12, table: None}
    refuse(conn, "BK010", sellable, (venue, table, 2))
    refuse(conn, "BK010", sellable, (venue, room, 0))
    refuse(conn, "BK010", sellable, (venue, room, 101))
    refuse(conn, "BK022", sellable, (venue, room, None))  # back to 10 under 12 booked
    assert counts(conn)["bookings"] == 2


def test_the_booking_lock_holds_bookings_off_until_the_transaction_ends(
    conn: Conn, other_conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1")
    lock = "SELECT bookingdb.{}(%s, %s, %s, %s)"
    with other_conn.transaction():
        other_conn.execute(lock.format("acquire_booking_lock"), (venue, table, at(19), at(21)))
        # Its own transaction may book; nobody else can even try.
        assert (
            scalar(conn, lock.format("try_booking_lock"), (venue, table, at(19), at(21))) is False
        )
        book(other_conn, venue, [table], at(19), at(21))
    assert scalar(conn, lock.format("try_booking_lock"), (venue, table, at(19), at(21))) is True
    refuse(conn, "BK007", lock.format("acquire_booking_lock"), (venue, 10**9, at(19), at(21)))
    refuse(conn, "BK011", lock.format("try_booking_lock"), (venue, table, at(21), at(19)))


def test_a_lock_wait_longer_than_the_function_allows_is_bk020_and_writes_nothing(
    conn: Conn, other_conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    """A caller sits on the booking lock; a booking waits its 5 s and gives up
    with the retryable BK020 instead of hanging."""
    table = add_resource(conn, venue, "T1")
    with other_conn.transaction():
        other_conn.execute(
            "SELECT bookingdb.acquire_booking_lock(%s, %s, %s, %s)", (venue, table, at(19), at(21))
        )
        refuse(
            conn,
            "BK020",
            "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s)",
            (venue, [table], at(19), at(21)),
        )
    retryable = scalar(conn, "SELECT retryable FROM bookingdb.error_codes() WHERE code = 'BK020'")
    assert retryable is True
    assert hold(conn, venue, [table], at(19), at(21))["status"] == "held"
