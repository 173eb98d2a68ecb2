"""Fixtures of the Python API layer: every test runs through both clients,
:class:`~bookingdb.BookingDB` and :class:`~bookingdb.AsyncBookingDB` (behind
a blocking face, see ``async_kit``); a venue and future times."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from api_kit import Connect
from async_kit import Blocking, Portal

from bookingdb import AsyncBookingDB, BookingDB


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Which client the test runs through."""
    return str(request.param)


@pytest.fixture
def connect(flavour: str, dsn: str) -> Iterator[Connect]:
    """``connect(dsn, **kwargs)``: a client of this test's flavour, as
    ``BookingDB.connect`` makes one; closed at the end of the test."""
    # dsn comes first, so that its database outlives the clients.
    opened: list[Any] = []
    portal = Portal() if flavour == "async" else None

    def connect_(target: str, **kwargs: Any) -> BookingDB:
        if portal is None:
            client: Any = BookingDB.connect(target, **kwargs)
        else:
            client = Blocking(portal.call(AsyncBookingDB.connect(target, **kwargs)), portal)
        opened.append(client)
        # The same methods, arguments and results: typed as the blocking client.
        return cast(BookingDB, client)

    try:
        yield connect_
    finally:
        for client in opened:
            client.close()
        if portal is not None:
            portal.close()


@pytest.fixture
def db(connect: Connect, dsn: str) -> BookingDB:
    return connect(dsn, max_size=4)


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
