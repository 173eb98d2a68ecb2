"""Set-up shared by the concurrency tests: a venue, its resources, a ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from .ledger import Ledger, assert_invariants
from .racing import wait_until


@dataclass
class Venue:
    """A venue in the test's own database, and the ledger of what clients were told."""

    dsn: str
    venue_id: int
    ledger: Ledger
    # A whole hour two days ahead: far enough that no slot is in the past.
    base: datetime

    def add_resource(self, name: str, capacity: int = 1) -> int:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT bookingdb.add_resource(venue_id => %s, name => %s, capacity => %s)",
                (self.venue_id, name, capacity),
            ).fetchone()
        assert row is not None
        return self.ledger.resource(int(row[0]), capacity)

    def at(self, minutes: float) -> datetime:
        """The instant ``minutes`` after :attr:`base`."""
        return self.base + timedelta(minutes=minutes)

    def check(self) -> None:
        """End of every concurrency test: verify_invariants() and the ledger."""
        assert_invariants(self.dsn, self.venue_id, self.ledger)


@pytest.fixture
def venue(dsn: str) -> Venue:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT bookingdb.create_venue('Race Bar', 'Europe/London')").fetchone()
    assert row is not None
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    return Venue(dsn=dsn, venue_id=int(row[0]), ledger=Ledger(), base=base)


@pytest.fixture
def lapsed(venue: Venue) -> Iterator[Callable[[int], None]]:
    """Wait until a hold's expires_at has passed on the database clock."""

    def wait(booking_id: int) -> None:
        def passed() -> bool:
            with psycopg.connect(venue.dsn, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT now() > expires_at FROM bookingdb.get_booking(%s, %s)",
                    (venue.venue_id, booking_id),
                ).fetchone()
            return bool(row and row[0])

        wait_until(passed, f"hold {booking_id} has lapsed")

    yield wait


@pytest.fixture(scope="session")
def database_settings() -> tuple[tuple[str, str], ...]:
    """The product's own lock bound (5 s): these tests race real clients,
    whose lock waits on a loaded machine must not be cut short."""
    return ()
