"""The Python API of venue rules and the availability engine: typed arguments
in, frozen dataclasses out, one round trip each."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from api_kit import Connect

from bookingdb import (
    Alternative,
    BookingDB,
    InvalidRule,
    OpeningHours,
    OutsideOpeningHours,
    Slot,
    SlotRequest,
    SlotUnavailable,
    TableCombination,
)

At = Callable[[float], datetime]
H = timedelta(hours=1)


def test_rules_round_trip_with_timedeltas_and_text(db: BookingDB, venue: int) -> None:
    db.set_venue_rules(
        venue, {"min_notice": timedelta(hours=2), "max_advance": "1 year", "min_age": 18}
    )
    rules = db.get_venue_rules(venue)
    assert rules["min_age"] == 18 and rules["timezone"] == "Europe/Paris"
    with pytest.raises(InvalidRule) as info:
        db.set_venue_rules(venue, {"closing_time": "late"})
    assert info.value.sqlstate == "BK010" and "closing_time" in (info.value.detail or "")


def test_hours_overrides_and_local_range(db: BookingDB, venue: int) -> None:
    zone = ZoneInfo("Europe/Paris")
    day = datetime.now(zone).date() + timedelta(days=5)
    table = db.add_resource(venue, "T1")
    db.set_opening_hours(venue, day.isoweekday(), time(18), time(1))
    db.set_date_override(venue, day + timedelta(days=7))
    hours = db.opening_hours(venue)
    assert hours == [
        OpeningHours(weekday=day.isoweekday(), day=None, opens=time(18), closes=time(1)),
        OpeningHours(weekday=None, day=day + timedelta(days=7), opens=None, closes=None),
    ]
    opens, closes = db.local_range(venue, day, time(18), time(1))
    assert opens == datetime.combine(day, time(18), zone)
    assert closes == datetime.combine(day + timedelta(days=1), time(1), zone)
    assert db.create_booking_atomic(venue, [table], closes - 2 * H, closes).status == "confirmed"
    with pytest.raises(OutsideOpeningHours):
        db.create_hold(venue, [table], opens - H, opens + H)
    db.clear_date_overrides(venue)
    db.clear_opening_hours(venue)
    assert db.opening_hours(venue) == []
    db.create_hold(venue, [table], opens - H, opens)


def test_availability_and_free_time_are_typed(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    db.create_booking_atomic(venue, [table], at(11), at(12))
    slots = db.availability(venue, (at(10), at(13)), H, step=H)
    assert slots == [
        Slot(resource_id=table, starts_at=at(10), ends_at=at(11), remaining=1),
        Slot(resource_id=table, starts_at=at(12), ends_at=at(13), remaining=1),
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        slots[0].remaining = 5  # type: ignore[misc]
    assert db.free_time(venue, table, (at(10), at(13))) == [(at(10), at(11)), (at(12), at(13))]
    with pytest.raises(ValueError, match="timezone-aware"):
        db.availability(venue, (at(10).replace(tzinfo=None), at(13)), H)


def test_check_availability_many_answers_in_order(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    db.create_booking_atomic(venue, [table], at(11), at(12))
    requests = [SlotRequest([table], at(h), at(h + 1)) for h in range(9, 14)]
    assert db.check_availability_many(venue, requests) == [True, True, False, True, True]
    assert db.check_availability_many(venue, []) == []


def test_a_bk001_refusal_carries_bookable_alternatives(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1", seats_max=4)
    other = db.add_resource(venue, "T2", seats_max=4)
    db.create_booking_atomic(venue, [table], at(19), at(21), party_size=2)
    with pytest.raises(SlotUnavailable) as info:
        db.create_booking_atomic(venue, [table], at(19), at(21), party_size=2)
    alternatives = info.value.alternatives
    assert alternatives and all(isinstance(a, Alternative) for a in alternatives)
    assert (alternatives[0].resource_id, alternatives[0].starts_at) == (other, at(19))
    for alternative in alternatives:
        assert db.check_availability(
            venue, [alternative.resource_id], alternative.starts_at, alternative.ends_at
        )
    with pytest.raises(SlotUnavailable) as info:
        db.create_hold(venue, [table], at(20), at(21), party_size=2)
    assert info.value.alternatives


def test_alternatives_can_be_turned_off(connect: Connect, dsn: str, at: At) -> None:
    with connect(dsn, alternatives_on_refusal=False) as db:
        venue = db.create_venue("Quiet", "UTC")
        table = db.add_resource(venue, "T1")
        db.create_booking_atomic(venue, [table], at(19), at(21))
        with pytest.raises(SlotUnavailable) as info:
            db.create_booking_atomic(venue, [table], at(19), at(21))
        assert info.value.alternatives == ()


def test_table_combinations_pricing_links_and_booking_a_combination(
    db: BookingDB, venue: int, at: At
) -> None:
    a = db.add_resource(venue, "A", seats_min=2, seats_max=4)
    b = db.add_resource(venue, "B", seats_min=2, seats_max=4)
    db.set_resource_pricing(venue, a, 1000, 5000, zone="terrace")
    db.set_resource_pricing(venue, b, 1000, 5000, zone="terrace")
    db.link_resources(venue, a, b)
    combos = db.table_combinations(venue, at(19), at(21), 7)
    assert combos == [
        TableCombination(
            rank=1,
            resource_ids=(a, b),
            total_seats=8,
            wasted_seats=1,
            total_min_spend_cents=10000,
            total_deposit_cents=2000,
            zone="terrace",
        )
    ]
    booking = db.create_booking_atomic(venue, combos[0].resource_ids, at(19), at(21), party_size=7)
    assert booking.total_deposit_cents == 2000
    assert db.table_combinations(venue, at(19), at(21), 7) == []
    db.unlink_resources(venue, a, b)
    assert db.table_combinations(venue, at(22), at(23), 7) == []


def test_pending_requests_are_approved_or_rejected(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    request = db.create_booking_atomic(venue, [table], at(10), at(11), status="pending")
    assert request.status == "pending" and request.occupying
    approved = db.approve_booking(venue, request.id, expected_version=request.version)
    assert (approved.status, approved.version) == ("confirmed", 2)
    other = db.create_booking_atomic(venue, [table], at(12), at(13), status="pending")
    rejected = db.reject_booking(venue, other.id, reason="private event")
    assert (rejected.status, rejected.cancel_reason) == ("rejected", "private event")
    assert db.check_availability(venue, [table], at(12), at(13))


def test_buffers_from_the_client(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    db.set_resource_buffers(venue, table, timedelta(0), timedelta(minutes=30))
    db.create_booking_atomic(venue, [table], at(10), at(11))
    assert not db.check_availability(venue, [table], at(11), at(12))
    assert db.check_availability(venue, [table], at(11.5), at(12))


def test_list_resources_is_typed(db: BookingDB, venue: int) -> None:
    a = db.add_resource(venue, "A", seats_max=4)
    b = db.add_resource(venue, "B", seats_max=4)
    db.link_resources(venue, a, b)
    listed = db.list_resources(venue)
    assert [(r.resource_id, r.linked_to, r.seats_max) for r in listed] == [
        (a, (b,), 4),
        (b, (a,), 4),
    ]
    assert listed[0].buffer_after == timedelta(0)
