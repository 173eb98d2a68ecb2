"""Recurring series from Python: typed bookings, all or nothing, cancel the rest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from bookingdb import BookingDB, SlotUnavailable

At = Callable[[float], datetime]


def test_create_series_returns_typed_bookings_of_one_series(
    db: BookingDB, venue: int, at: At
) -> None:
    room = db.add_resource(venue, "Studio", capacity=8, kind="class")
    booked = db.create_series(venue, [room], at(18), timedelta(hours=1), timedelta(days=1), 3)
    assert [b.starts_at for b in booked] == [at(18 + 24 * i) for i in range(3)]
    assert len({b.series_id for b in booked}) == 1 and booked[0].series_id is not None
    again = db.create_series(
        venue, [room], at(20), timedelta(hours=1), "1 day", 2, idempotency_key="evening"
    )
    assert (
        db.create_series(
            venue, [room], at(20), timedelta(hours=1), "1 day", 2, idempotency_key="evening"
        )
        == again
    )
    series_id = booked[0].series_id
    cancelled = db.cancel_series(venue, series_id, from_starts_at=at(18 + 24), reason="moved")
    assert [b.id for b in cancelled] == [booked[1].id, booked[2].id]
    assert {b.status for b in cancelled} == {"cancelled"}


def test_a_series_refusal_books_nothing(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    db.create_booking_atomic(venue, [table], at(18 + 48), at(19 + 48))
    with pytest.raises(SlotUnavailable) as info:
        db.create_series(venue, [table], at(18), timedelta(hours=1), timedelta(days=1), 3)
    assert "occurrence 3 of 3" in (info.value.detail or "")
    assert db.check_availability(venue, [table], at(18), at(19))
