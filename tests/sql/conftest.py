"""Fixtures of the SQL contract layer: a venue and times in the future."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from contract_kit import Conn, scalar


@pytest.fixture
def venue(conn: Conn) -> int:
    """A venue with the default rules (party sizes 1 to 50)."""
    return int(scalar(conn, "SELECT bookingdb.create_venue('Test bar', 'Europe/London')"))


@pytest.fixture
def other_venue(conn: Conn) -> int:
    return int(scalar(conn, "SELECT bookingdb.create_venue('Other bar')"))


@pytest.fixture
def at(conn: Conn) -> Callable[[float], datetime]:
    """``at(10)`` is 10:00 on a day two days ahead of the database's clock
    (a whole hour, so slots line up), as an aware datetime."""
    base: datetime = scalar(conn, "SELECT date_trunc('day', now()) + interval '2 days'")

    def at_(hours: float) -> datetime:
        return base + timedelta(hours=hours)

    return at_
