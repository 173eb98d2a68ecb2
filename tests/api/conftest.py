"""Fixtures of the Python API layer: a venue and future times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bookingdb import BookingDB


@pytest.fixture
def venue(db: BookingDB) -> int:
    return db.create_venue("API bistro", "Europe/Paris")


@pytest.fixture
def at() -> Callable[[float], datetime]:
    """``at(10)`` is 10:00 UTC, two days from now: an aware datetime."""
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)

    def at_(hours: float) -> datetime:
        return base + timedelta(hours=hours)

    return at_
