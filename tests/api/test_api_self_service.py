"""Customer self-service and operator controls through the Python client:
cancellation by token, lookups by reference and e-mail, the per-customer
hold limit, and sellable capacity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from api_kit import Conn, table_counts

from bookingdb import (
    Booking,
    BookingDB,
    CapacityExceeded,
    CapacityInUse,
    Customer,
    InvalidRule,
    NotFound,
    TooManyHolds,
)

At = Callable[[float], datetime]


def _book_for(db: BookingDB, venue: int, table: int, at: At, email: str, hour: float) -> Booking:
    return db.create_booking_atomic(
        venue,
        [table],
        at(hour),
        at(hour + 1),
        customer=Customer(name="Ada", email=email),
    )


# -- cancel_by_token -----------------------------------------------------------------------


def test_the_token_of_a_booking_cancels_it_once(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    booking = _book_for(db, venue, table, at, "ada@example.com", 19)
    assert booking.cancel_token is not None and len(booking.cancel_token) == 64
    cancelled = db.cancel_by_token(venue, booking.reference, booking.cancel_token, "ill")
    assert (cancelled.id, cancelled.status, cancelled.cancel_reason) == (
        booking.id,
        "cancelled",
        "ill",
    )
    assert db.check_availability(venue, [table], at(19), at(20))
    # A second click on the link: the same cancelled booking, no new version.
    again = db.cancel_by_token(venue, booking.reference, booking.cancel_token)
    assert (again.id, again.status, again.version) == (booking.id, "cancelled", cancelled.version)


def test_a_wrong_token_and_an_unknown_reference_are_the_same_not_found(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    booking = _book_for(db, venue, table, at, "ada@example.com", 19)
    assert booking.cancel_token is not None
    before = table_counts(conn)
    with pytest.raises(NotFound) as wrong:
        db.cancel_by_token(venue, booking.reference, "0" * 64)
    with pytest.raises(NotFound) as unknown:
        db.cancel_by_token(venue, "BK-0000-0000", booking.cancel_token)
    said = {(e.value.message, e.value.detail, e.value.hint) for e in (wrong, unknown)}
    assert len(said) == 1
    assert str(wrong.value) == str(unknown.value)
    assert booking.reference not in str(wrong.value)
    assert db.get_booking(venue, booking.id).status == "confirmed"
    assert table_counts(conn) == before


def test_the_token_is_only_in_the_result_that_confirmed(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    booked = db.create_booking_atomic(venue, [table], at(10), at(11), idempotency_key="k1")
    replayed = db.create_booking_atomic(venue, [table], at(10), at(11), idempotency_key="k1")
    assert booked.cancel_token is not None and replayed.cancel_token is None
    # The same booking all the same: the token is not part of its state.
    assert replayed == booked
    assert db.get_booking(venue, booked.id).cancel_token is None
    assert db.find_booking(venue, booked.reference).cancel_token is None

    hold = db.create_hold(venue, [table], at(12), at(13))
    assert hold.cancel_token is None
    confirmed = db.confirm_hold(venue, hold.id)
    again = db.confirm_hold(venue, hold.id)
    assert confirmed.cancel_token is not None and again.cancel_token is None
    # The token stays out of logs.
    assert confirmed.cancel_token not in repr(confirmed)
    assert db.cancel_by_token(venue, hold.reference, confirmed.cancel_token).status == "cancelled"


# -- lookups -------------------------------------------------------------------------------


def test_find_booking_by_its_reference_in_any_case(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    booking = _book_for(db, venue, table, at, "ada@example.com", 19)
    found = db.find_booking(venue, f"  {booking.reference.lower()} ")
    assert isinstance(found, Booking) and found == booking
    with pytest.raises(NotFound):
        db.find_booking(venue, "BK-NONE-NONE")
    elsewhere = db.create_venue("Elsewhere", "UTC")
    with pytest.raises(NotFound):
        db.find_booking(elsewhere, booking.reference)


def test_customer_bookings_match_the_email_in_any_case_in_start_order(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    late = _book_for(db, venue, table, at, "ada@example.COM", 19)
    early = _book_for(db, venue, table, at, "Ada@Example.com", 12)
    _book_for(db, venue, table, at, "bob@example.com", 15)
    mine = db.customer_bookings(venue, "ADA@example.com")
    assert all(isinstance(b, Booking) for b in mine)
    assert [b.id for b in mine] == [early.id, late.id]
    assert [b.id for b in db.customer_bookings(venue, "ada@example.com", at(13))] == [late.id]

    # A booking that has started (moved back by hand: the engine refuses to
    # book in the past) counts from now only on request.
    conn.execute(
        "UPDATE bookingdb.bookings SET starts_at = starts_at - interval '10 days',"
        " ends_at = ends_at - interval '10 days' WHERE booking_id = %s",
        (early.id,),
    )
    assert [b.id for b in db.customer_bookings(venue, "ada@example.com")] == [late.id]
    everything = db.customer_bookings(venue, "ada@example.com", include_past=True)
    assert [b.id for b in everything] == [early.id, late.id]
    with pytest.raises(ValueError, match="not both"):
        db.customer_bookings(venue, "ada@example.com", at(0), include_past=True)
    with pytest.raises(ValueError, match="timezone"):
        db.customer_bookings(venue, "ada@example.com", at(0).replace(tzinfo=None))


# -- the per-customer hold limit -----------------------------------------------------------


def test_one_holder_may_keep_only_as_many_live_holds_as_the_venue_allows(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    tables = [db.add_resource(venue, f"T{i}") for i in range(4)]
    db.set_venue_rules(venue, {"max_active_holds_per_customer": 2})
    assert db.get_venue_rules(venue)["max_active_holds_per_customer"] == 2
    first = db.create_hold(venue, [tables[0]], at(19), at(21), holder="cookie-1")
    db.create_hold(venue, [tables[1]], at(19), at(21), holder="cookie-1")
    before = table_counts(conn)
    with pytest.raises(TooManyHolds) as info:
        db.create_hold(venue, [tables[2]], at(19), at(21), holder="cookie-1")
    assert info.value.sqlstate == "BK021" and not info.value.retryable
    assert table_counts(conn) == before
    # Another holder may; holds without one are not counted.
    db.create_hold(venue, [tables[2]], at(19), at(21), holder="cookie-2")
    db.create_hold(venue, [tables[3]], at(19), at(21))
    # Releasing one makes room again.
    db.release_hold(venue, first.id)
    assert db.create_hold(venue, [tables[0]], at(19), at(21), holder="cookie-1").status == "held"
    with pytest.raises(InvalidRule):
        db.set_venue_rules(venue, {"max_active_holds_per_customer": 0})


def test_ticket_holds_count_by_holder(db: BookingDB, venue: int, at: At) -> None:
    gig = db.create_event(venue, "Gig", at(20), at(23))
    floor = db.add_resource(venue, "Floor", capacity=100, seats_max=100, kind="ga")
    db.add_event_inventory(venue, gig, [floor], "Standing", 1000)
    db.set_venue_rules(venue, {"max_active_holds_per_customer": 1})
    db.hold_event_tickets(venue, gig, quantity=2, holder="session-9")
    with pytest.raises(TooManyHolds):
        db.hold_event_tickets(venue, gig, quantity=2, holder="session-9")
    assert db.hold_event_tickets(venue, gig, quantity=2, holder="session-10").quantity == 2


# -- sellable capacity ---------------------------------------------------------------------


def test_sellable_capacity_keeps_places_back_and_overbooks_on_purpose(
    db: BookingDB, venue: int, at: At
) -> None:
    hall = db.add_resource(venue, "Hall", capacity=10, kind="class")
    table = db.add_resource(venue, "T1")
    db.set_sellable_capacity(venue, hall, 6)  # four places kept for walk-ins
    db.create_booking_atomic(venue, [hall], at(9), at(10), quantity=6)
    with pytest.raises(CapacityExceeded):
        db.create_booking_atomic(venue, [hall], at(9), at(10))
    assert {r.resource_id: r.sellable_capacity for r in db.list_resources(venue)} == {
        hall: 6,
        table: None,
    }
    db.set_sellable_capacity(venue, hall, 12)  # twelve places sold on ten
    db.create_booking_atomic(venue, [hall], at(9), at(10), quantity=6)
    assert db.verify_invariants() == []
    with pytest.raises(InvalidRule):
        db.set_sellable_capacity(venue, table, 2)


def test_lowering_sellable_capacity_under_what_is_booked_is_refused(
    db: BookingDB, venue: int, at: At
) -> None:
    hall = db.add_resource(venue, "Hall", capacity=10, kind="class")
    db.set_sellable_capacity(venue, hall, 12)
    booking = db.create_booking_atomic(venue, [hall], at(9), at(10), quantity=11)
    with pytest.raises(CapacityInUse) as info:
        db.set_sellable_capacity(venue, hall, None)  # back to 10 under 11 booked
    assert booking.reference in (info.value.detail or "")
    assert [r.sellable_capacity for r in db.list_resources(venue)] == [12]
    db.cancel_booking(venue, booking.id)
    db.set_sellable_capacity(venue, hall, None)
    assert [r.sellable_capacity for r in db.list_resources(venue)] == [None]


def test_an_out_of_range_sellable_capacity_is_refused_before_the_database(
    db: BookingDB, venue: int
) -> None:
    hall = db.add_resource(venue, "Hall", capacity=10)
    with pytest.raises(ValueError, match="32-bit"):
        db.set_sellable_capacity(venue, hall, 2**40)
