"""The waitlist through the Python client: capacity that frees up is offered to
the first matching entry as a hold, in the same transaction as the change
that freed it; an offer that is given back passes to the next in line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from api_kit import Conn

from bookingdb import BookingDB, Customer, InvalidTransition, NotFound, WaitlistEntry

At = Callable[[float], datetime]


def _entry(db: BookingDB, venue: int, entry_id: int) -> WaitlistEntry:
    [entry] = [e for e in db.waitlist(venue, include_closed=True) if e.entry_id == entry_id]
    return entry


def test_joining_when_the_slot_is_taken_waits(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1", seats_max=4)
    db.create_booking_atomic(venue, [table], at(10), at(12), party_size=2)
    entry_id = db.join_waitlist(
        venue, [table], at(10), at(12), party_size=2, customer=Customer(name="Ada"), priority=0
    )
    assert isinstance(entry_id, int)
    [entry] = db.waitlist(venue)
    assert isinstance(entry, WaitlistEntry)
    assert (entry.entry_id, entry.status, entry.booking_id) == (entry_id, "waiting", None)
    assert entry.resource_ids == (table,)
    assert (entry.starts_at, entry.ends_at, entry.party_size) == (at(10), at(12), 2)
    assert entry.customer == {"name": "Ada"}
    assert (entry.priority, entry.event_id) == (0, None)


def test_a_cancellation_offers_the_slot_to_the_first_entry(
    db: BookingDB, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1", seats_max=4)
    booking = db.create_booking_atomic(venue, [table], at(10), at(12), party_size=2)
    entry_id = db.join_waitlist(
        venue, [table], at(10), at(12), party_size=2, customer={"name": "Grace"}
    )
    db.cancel_booking(venue, booking.id)
    [entry] = db.waitlist(venue)
    assert (entry.entry_id, entry.status) == (entry_id, "offered")
    assert entry.booking_id is not None
    offer = db.get_booking(venue, entry.booking_id)
    assert (offer.status, offer.waitlist_entry_id) == ("held", entry_id)
    assert (offer.resource_ids, offer.starts_at, offer.ends_at) == ((table,), at(10), at(12))
    assert (offer.party_size, offer.customer) == (2, {"name": "Grace"})
    # Confirming the offer books the entry.
    db.confirm_hold(venue, offer.id)
    assert db.waitlist(venue) == []
    assert _entry(db, venue, entry_id).status == "booked"


def test_a_released_hold_is_offered_to_the_higher_priority_entry_first(
    db: BookingDB, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1", seats_max=4)
    hold = db.create_hold(venue, [table], at(10), at(12))
    first_come = db.join_waitlist(venue, [table], at(10), at(12))
    vip = db.join_waitlist(venue, [table], at(10), at(12), priority=5)
    assert [e.entry_id for e in db.waitlist(venue)] == [vip, first_come]
    db.release_hold(venue, hold.id)
    offered, waiting = db.waitlist(venue)
    assert (offered.entry_id, offered.status) == (vip, "offered")
    assert (waiting.entry_id, waiting.status) == (first_come, "waiting")


def test_leaving_with_an_offer_passes_it_to_the_next_in_line(
    db: BookingDB, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1", seats_max=4)
    booking = db.create_booking_atomic(venue, [table], at(10), at(12))
    first = db.join_waitlist(venue, [table], at(10), at(12))
    second = db.join_waitlist(venue, [table], at(10), at(12))
    db.cancel_booking(venue, booking.id)
    left = db.leave_waitlist(venue, first)
    assert (left.entry_id, left.status) == (first, "left")
    assert left.booking_id is not None
    assert db.get_booking(venue, left.booking_id).status == "released"
    [entry] = db.waitlist(venue)
    assert (entry.entry_id, entry.status) == (second, "offered")
    with pytest.raises(InvalidTransition):
        db.leave_waitlist(venue, first)
    with pytest.raises(NotFound):
        db.leave_waitlist(venue, 987654)


def test_a_ticket_entry_is_offered_seats_of_the_event(db: BookingDB, venue: int, at: At) -> None:
    event = db.create_event(venue, "Gig", at(20), at(23))
    seats = db.add_seat_block(venue, "Balcony", "A", 1, 2)
    db.add_event_inventory(venue, event, seats, "Balcony", 4000)
    taken = db.hold_event_tickets(venue, event, quantity=2)
    # The event's own time when none is given.
    entry_id = db.join_waitlist(venue, seats, None, None, party_size=2, event_id=event)
    assert _entry(db, venue, entry_id).starts_at == at(20)
    db.release_hold(venue, taken.id)
    entry = _entry(db, venue, entry_id)
    assert entry.status == "offered" and entry.booking_id is not None
    offer = db.get_booking(venue, entry.booking_id)
    assert (offer.event_id, offer.total_cents, offer.resource_ids) == (event, 8000, tuple(seats))


def test_process_waitlist_offers_what_a_lapsed_hold_left_free(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1", seats_max=4)
    # One transaction, one now(): the hold is live when the entry joins, and
    # has lapsed by the next transaction. Nobody is sweeping.
    with conn.transaction():
        conn.execute(
            "SELECT bookingdb.create_hold(%s, %s, %s, %s, ttl => %s)",
            (venue, [table], at(10), at(12), timedelta(microseconds=1)),
        )
        row = conn.execute(
            "SELECT bookingdb.join_waitlist(%s, %s, %s, %s)", (venue, [table], at(10), at(12))
        ).fetchone()
    assert row is not None
    entry_id = int(row[0])
    assert _entry(db, venue, entry_id).status == "waiting"
    assert db.process_waitlist(venue) == 1
    assert _entry(db, venue, entry_id).status == "offered"
    assert db.process_waitlist(venue) == 0


def test_closed_entries_are_listed_only_on_request(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    db.create_booking_atomic(venue, [table], at(10), at(12))
    entry_id = db.join_waitlist(venue, [table], at(10), at(12))
    db.leave_waitlist(venue, entry_id)
    assert db.waitlist(venue) == []
    assert [(e.entry_id, e.status) for e in db.waitlist(venue, include_closed=True)] == [
        (entry_id, "left")
    ]
