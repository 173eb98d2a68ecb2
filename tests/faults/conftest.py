"""Set-up shared by the fault tests: a venue and its booking requests, a
throwaway cluster to crash, and the one-line reports CI quotes."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from concurrency.ledger import Ledger

from .cluster import ThrowawayCluster

# One booking request, with named arguments so a retry sends exactly the
# same request (an idempotency key replays only the same request).
BOOK = (
    "SELECT * FROM bookingdb.create_booking_atomic("
    "venue_id => %(venue_id)s, resource_ids => %(resource_ids)s::bigint[], "
    "starts_at => %(starts_at)s, ends_at => %(ends_at)s, quantity => %(quantity)s, "
    "idempotency_key => %(idempotency_key)s)"
)

# The refusals a booking may meet in a storm: the slot or the room is taken.
# A refusal writes nothing, so the key stays unused.
TAKEN = frozenset({"BK001", "BK002"})
# Busy: a lock wait passed the function's lock_timeout; nothing was written.
BUSY = "BK020"


@dataclass(frozen=True)
class Request:
    """What one idempotency key asks for; sent unchanged on every retry."""

    resource_ids: tuple[int, ...]
    starts_at: datetime
    ends_at: datetime
    quantity: int

    def params(self, venue_id: int, key: str) -> dict[str, Any]:
        return {
            "venue_id": venue_id,
            "resource_ids": list(self.resource_ids),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "quantity": self.quantity,
            "idempotency_key": key,
        }


@dataclass
class Venue:
    """A venue with six tables and a room for three, and the ledger of what
    clients were told."""

    dsn: str
    venue_id: int
    tables: list[int]
    room: int
    # A whole hour two days ahead: no slot is in the past.
    base: datetime
    ledger: Ledger

    def request(self, rng: random.Random, days: int) -> Request:
        """A random request over ``days`` days on a half-hour grid: mostly one
        table, sometimes two pushed together, sometimes places in the room."""
        start = self.base + timedelta(minutes=30 * rng.randrange(48 * days))
        end = start + timedelta(minutes=rng.choice([60, 90]))
        pick = rng.random()
        if pick < 0.7:
            return Request((rng.choice(self.tables),), start, end, 1)
        if pick < 0.85:
            return Request(tuple(sorted(rng.sample(self.tables, 2))), start, end, 1)
        return Request((self.room,), start, end, rng.choice([1, 2]))


def create_venue(dsn: str) -> Venue:
    """Create the venue (as a psql user would) in the database at ``dsn``."""
    ledger = Ledger()
    with psycopg.connect(dsn, autocommit=True) as conn:

        def scalar(query: str, *args: object) -> int:
            row = conn.execute(query, args).fetchone()
            assert row is not None
            return int(row[0])

        venue_id = scalar("SELECT bookingdb.create_venue('Fault Bar', 'Europe/London')")
        add = "SELECT bookingdb.add_resource(venue_id => %s, name => %s, capacity => %s)"
        tables = [ledger.resource(scalar(add, venue_id, f"table {i}", 1), 1) for i in range(1, 7)]
        room = ledger.resource(scalar(add, venue_id, "back room", 3), 3)
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    return Venue(dsn, venue_id, tables, room, base, ledger)


@pytest.fixture
def venue(dsn: str) -> Venue:
    return create_venue(dsn)


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    """A PostgreSQL cluster of the test's own, to crash: always the embedded
    one, whatever server the rest of the suite uses. Stopped and deleted
    afterwards, whatever happened."""
    scratch = Path(tempfile.mkdtemp(prefix="bookingdb-crash-"))
    # As root the server runs as another OS user, which must enter it.
    scratch.chmod(0o755)
    throwaway = ThrowawayCluster(scratch / "pgdata")
    try:
        yield throwaway
    finally:
        try:
            throwaway.destroy()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def report(record_property: Callable[[str, object], None]) -> Callable[[str, str], None]:
    """Publish a test's one-line result: printed (``pytest -s``), in the
    JUnit XML as a property, and appended to ``$BOOKINGDB_FAULTS_REPORT``
    when set, so CI and the README can quote it."""

    def publish(name: str, line: str) -> None:
        print(line)
        record_property(name, line)
        path = os.environ.get("BOOKINGDB_FAULTS_REPORT")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")

    return publish


@pytest.fixture(scope="session")
def database_settings() -> tuple[tuple[str, str], ...]:
    """The product's own lock bound (5 s): these tests race real clients,
    whose lock waits on a loaded machine must not be cut short."""
    return ()
