"""The Python client: one method per public SQL function, frozen dataclass
results with the right types, no business rules of its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from api_kit import Conn, Connect, table_counts

from bookingdb import Booking, BookingDB, BookingSlot, Customer, InvariantViolation, Venue

At = Callable[[float], datetime]


def _assert_aware(value: datetime) -> None:
    assert isinstance(value, datetime)
    assert value.tzinfo is not None and value.utcoffset() is not None


def test_create_venue_and_add_resource_return_integer_ids(db: BookingDB) -> None:
    venue = db.create_venue("Salon", "America/New_York")
    chair = db.add_resource(venue, "Chair", capacity=2, seats_min=1, seats_max=1, kind="service")
    table = db.add_resource(venue, "Table")
    assert isinstance(venue, int) and isinstance(chair, int) and isinstance(table, int)
    assert chair != table


def test_list_venues_returns_every_venue_with_its_zone_and_resource_count(
    db: BookingDB, venue: int
) -> None:
    db.add_resource(venue, "T1")
    other = db.create_venue("API cafe", "Asia/Tokyo")
    found = {v.venue_id: v for v in db.list_venues()}
    assert (found[venue].name, found[venue].timezone, found[venue].resources) == (
        "API bistro",
        "Europe/Paris",
        1,
    )
    assert (found[other].timezone, found[other].resources) == ("Asia/Tokyo", 0)
    assert isinstance(found[other], Venue) and found[other].created_at.tzinfo is not None


def test_create_hold_returns_a_frozen_booking_with_typed_fields(
    db: BookingDB, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1", seats_max=4)
    hold = db.create_hold(venue, [table], at(10), at(12), party_size=3)
    assert isinstance(hold, Booking)
    assert dataclasses.is_dataclass(hold)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hold.status = "confirmed"  # type: ignore[misc]
    assert isinstance(hold.id, int) and isinstance(hold.version, int)
    assert hold.venue_id == venue
    assert isinstance(hold.reference, str) and hold.reference
    assert hold.status == "held"
    assert hold.occupying is True
    assert (hold.starts_at, hold.ends_at) == (at(10), at(12))
    for value in (hold.starts_at, hold.ends_at, hold.created_at, hold.updated_at):
        _assert_aware(value)
    assert hold.expires_at is not None
    _assert_aware(hold.expires_at)
    assert hold.expires_at > hold.created_at
    assert (hold.party_size, hold.quantity, hold.version) == (3, 1, 1)
    assert hold.resource_ids == (table,)
    assert isinstance(hold.resource_ids, tuple)
    assert all(isinstance(r, int) for r in hold.resource_ids)
    assert (hold.customer, hold.payment_ref, hold.cancel_reason) == (None, None, None)


def test_create_hold_honours_ttl_and_idempotency_key(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    hold = db.create_hold(
        venue, [table], at(10), at(12), idempotency_key="checkout-1", ttl=timedelta(minutes=3)
    )
    assert hold.expires_at is not None
    assert hold.expires_at - hold.created_at == timedelta(minutes=3)
    again = db.create_hold(
        venue, [table], at(10), at(12), idempotency_key="checkout-1", ttl=timedelta(minutes=3)
    )
    assert again.id == hold.id


def test_confirm_hold_records_a_customer_dataclass(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1", seats_max=2)
    hold = db.create_hold(venue, [table], at(10), at(12), party_size=2)
    booking = db.confirm_hold(
        venue,
        hold.id,
        customer=Customer(name="Ada", email="ada@example.com", date_of_birth=date(1990, 5, 17)),
        payment_ref="pi_123",
    )
    assert booking.id == hold.id
    assert booking.status == "confirmed"
    assert booking.expires_at is None
    assert booking.version == 2
    assert booking.payment_ref == "pi_123"
    assert booking.customer == {
        "name": "Ada",
        "email": "ada@example.com",
        "date_of_birth": "1990-05-17",
    }
    # A retried confirm returns the same booking unchanged.
    assert db.confirm_hold(venue, hold.id) == booking


def test_confirm_hold_accepts_a_plain_mapping(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    hold = db.create_hold(venue, [table], at(10), at(12))
    booking = db.confirm_hold(venue, hold.id, customer={"name": "Bo", "notes": "allergic: nuts"})
    assert booking.customer == {"name": "Bo", "notes": "allergic: nuts"}


def test_extend_hold_adds_the_timedelta(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    hold = db.create_hold(venue, [table], at(10), at(12))
    extended = db.extend_hold(venue, hold.id, timedelta(minutes=30))
    assert hold.expires_at is not None and extended.expires_at is not None
    assert extended.expires_at - hold.expires_at == timedelta(minutes=30)
    assert extended.version == 2


def test_release_hold_frees_the_slot(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    hold = db.create_hold(venue, [table], at(10), at(12))
    released = db.release_hold(venue, hold.id)
    assert released.status == "released"
    assert released.occupying is False
    assert db.check_availability(venue, [table], at(10), at(12)) is True


def test_expire_holds_returns_how_many_lapsed_holds_it_tidied(
    db: BookingDB, venue: int, at: At
) -> None:
    tables = [db.add_resource(venue, f"T{i}") for i in range(3)]
    holds = [
        db.create_hold(venue, [t], at(10), at(12), ttl=timedelta(microseconds=1))
        for t in tables[:2]
    ]
    db.create_hold(venue, [tables[2]], at(10), at(12))
    # Each call is its own transaction with a later now(): the tiny holds lapsed.
    assert [db.get_booking(venue, h.id).status for h in holds] == ["expired", "expired"]
    assert db.expire_holds() == 2
    assert db.expire_holds(max_rows=10) == 0


def test_create_booking_atomic_confirms_in_one_step(db: BookingDB, venue: int, at: At) -> None:
    a = db.add_resource(venue, "A", seats_max=4)
    b = db.add_resource(venue, "B", seats_max=4)
    booking = db.create_booking_atomic(
        venue,
        [b, a],
        at(10),
        at(12),
        party_size=7,
        customer=Customer(name="Big party", phone="+33 1 23"),
        idempotency_key="book-1",
    )
    assert booking.status == "confirmed"
    assert booking.expires_at is None
    assert set(booking.resource_ids) == {a, b}
    assert booking.customer == {"name": "Big party", "phone": "+33 1 23"}
    assert db.create_booking(
        venue,
        [a, b],
        at(10),
        at(12),
        party_size=7,
        customer=Customer(name="Big party", phone="+33 1 23"),
        idempotency_key="book-1",
    ) == db.get_booking(venue, booking.id)


def test_cancel_booking_records_reason_and_checks_version(
    db: BookingDB, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    booking = db.create_booking_atomic(venue, [table], at(10), at(12))
    cancelled = db.cancel_booking(
        venue, booking.id, expected_version=booking.version, reason="weather"
    )
    assert (cancelled.status, cancelled.cancel_reason, cancelled.version) == (
        "cancelled",
        "weather",
        2,
    )
    assert cancelled.occupying is False


def test_reschedule_booking_moves_it(db: BookingDB, venue: int, at: At) -> None:
    first = db.add_resource(venue, "T1")
    second = db.add_resource(venue, "T2")
    booking = db.create_booking_atomic(venue, [first], at(10), at(12))
    moved = db.reschedule_booking(venue, booking.id, 1, at(11), at(13))
    assert (moved.starts_at, moved.ends_at, moved.version) == (at(11), at(13), 2)
    moved = db.reschedule_booking(venue, booking.id, None, at(11), at(13), resource_ids=[second])
    assert moved.resource_ids == (second,)
    assert moved.version == 3


def test_get_booking_equals_what_the_change_returned(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    booking = db.create_booking_atomic(venue, [table], at(10), at(12))
    assert db.get_booking(venue, booking.id) == booking


def test_list_bookings_returns_frozen_slots(db: BookingDB, venue: int, at: At) -> None:
    a = db.add_resource(venue, "A", seats_max=4)
    b = db.add_resource(venue, "B", seats_max=4)
    pair = db.create_booking_atomic(venue, [a, b], at(10), at(12), party_size=6)
    hold = db.create_hold(venue, [a], at(13), at(14))
    slots = db.list_bookings(venue, at(0), at(24))
    assert all(isinstance(s, BookingSlot) for s in slots)
    assert [(s.booking_id, s.resource_id, s.status) for s in slots] == [
        (pair.id, a, "confirmed"),
        (pair.id, b, "confirmed"),
        (hold.id, a, "held"),
    ]
    first = slots[0]
    assert (first.reference, first.starts_at, first.ends_at) == (pair.reference, at(10), at(12))
    assert (first.quantity, first.version, first.expires_at) == (1, 1, None)
    _assert_aware(first.starts_at)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.status = "x"  # type: ignore[misc]
    assert db.list_bookings(venue, at(20), at(21)) == []


def test_check_availability_returns_a_bool(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    room = db.add_resource(venue, "Room", capacity=4)
    booking = db.create_booking_atomic(venue, [table], at(10), at(12))
    assert db.check_availability(venue, [table], at(10), at(12)) is False
    assert db.check_availability(venue, [table], at(12), at(13)) is True
    assert db.check_availability(venue, [table], at(11), at(13), exclude_booking_id=booking.id)
    assert db.check_availability(venue, [room], at(10), at(12), quantity=4) is True
    assert db.check_availability(venue, [room], at(10), at(12), quantity=5) is False


def test_verify_invariants_returns_typed_violations(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    booking = db.create_booking_atomic(venue, [table], at(10), at(12))
    assert db.verify_invariants() == []
    conn.execute("DELETE FROM bookingdb.audit_log WHERE booking_id = %s", (booking.id,))
    found = db.verify_invariants()
    assert found and all(isinstance(v, InvariantViolation) for v in found)
    assert {v.invariant for v in found} == {"I6"}
    assert all(isinstance(v.detail, str) and v.detail for v in found)


def test_migrate_on_a_migrated_database_changes_nothing(
    db: BookingDB, conn: Conn, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    booking = db.create_booking_atomic(venue, [table], at(10), at(12))
    before = table_counts(conn)
    result = db.migrate()
    assert isinstance(result, dict)
    assert table_counts(conn) == before
    assert db.get_booking(venue, booking.id) == booking
    assert db.verify_invariants() == []


def test_the_client_closes_its_pool_when_used_as_a_context_manager(
    connect: Connect, dsn: str
) -> None:
    with connect(dsn, max_size=1) as client:
        assert client.verify_invariants() == []
    assert client.pool.closed
