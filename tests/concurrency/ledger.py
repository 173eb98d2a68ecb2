"""An independent check of a race, from the clients' own acknowledgements.

``verify_invariants()`` checks the database against itself. This module does
not trust the database's view: it records every booking row a client was
handed back (``Ledger.record``), keeps for each booking the acknowledgement
with the highest version (versions rise by one per change, so the highest is
the latest state anyone was told), and checks:

- no two acknowledged occupying bookings overlap on an exclusive resource;
- on a shared resource, at no instant do acknowledged units exceed capacity;
- the database agrees with the acknowledgements: exactly the acknowledged
  bookings exist (a refusal wrote nothing, no success was lost), and what
  ``list_bookings`` says occupies is exactly what the clients were told
  occupies.

Capacities come from the test's own set-up (``Ledger.resource``), not from
the database. Resources in these tests have no buffers, so a booking blocks
exactly ``[starts_at, ends_at)``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

OCCUPYING = ("held", "pending", "confirmed")


@dataclass(frozen=True)
class Ack:
    """The state of a booking as one call reported it to its client."""

    booking_id: int
    status: str
    resource_ids: tuple[int, ...]
    starts_at: datetime
    ends_at: datetime
    quantity: int
    expires_at: datetime | None
    version: int

    def occupies(self, now: datetime) -> bool:
        """Occupying at ``now``: a live hold, a pending or a confirmed booking."""
        if self.status == "held":
            return self.expires_at is not None and self.expires_at > now
        return self.status in OCCUPYING

    def effective_status(self, now: datetime) -> str:
        """The status a reader should see at ``now`` (a lapsed hold is expired)."""
        if self.status == "held" and not self.occupies(now):
            return "expired"
        return self.status


class Ledger:
    """Thread-safe record of every booking row handed to a client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[int, Ack] = {}
        self.capacity: dict[int, int] = {}

    def resource(self, resource_id: int, capacity: int) -> int:
        """Note a resource the test created, with the capacity it asked for."""
        self.capacity[resource_id] = capacity
        return resource_id

    def record(self, row: Mapping[str, Any]) -> Ack:
        """Record one acknowledgement (a booking row from a bookingdb function)."""
        # "expired" is a lapsed hold, marked or not (reads report the
        # effective status); stored as the hold it was, its expires_at says
        # when it stopped occupying.
        status = "held" if row["status"] == "expired" and row["expires_at"] else row["status"]
        ack = Ack(
            booking_id=row["id"],
            status=status,
            resource_ids=tuple(row["resource_ids"]),
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            quantity=row["quantity"],
            expires_at=row["expires_at"],
            version=row["version"],
        )
        with self._lock:
            known = self._latest.get(ack.booking_id)
            if known is None or ack.version > known.version:
                self._latest[ack.booking_id] = ack
            elif ack.version == known.version:
                # Two clients told the same version must have been told the same thing.
                assert ack == known, f"same version, different state: {known} vs {ack}"
        return ack

    def record_all(self, rows: Iterable[Mapping[str, Any] | None]) -> None:
        for row in rows:
            if row is not None:
                self.record(row)

    @property
    def acks(self) -> dict[int, Ack]:
        with self._lock:
            return dict(self._latest)

    def occupying(self, now: datetime) -> list[Ack]:
        return [ack for ack in self.acks.values() if ack.occupies(now)]

    def violations(self, now: datetime) -> list[str]:
        """Double bookings and oversold instants among the acknowledged bookings."""
        problems: list[str] = []
        claims: dict[int, list[Ack]] = {}
        for ack in self.occupying(now):
            for resource_id in ack.resource_ids:
                claims.setdefault(resource_id, []).append(ack)
        for resource_id, held in claims.items():
            capacity = self.capacity[resource_id]
            # Sweep over starts (+q) and ends (-q); at equal instants ends go
            # first because ranges are half-open.
            events = sorted(
                [(a.starts_at, a.quantity, a.booking_id) for a in held]
                + [(a.ends_at, -a.quantity, a.booking_id) for a in held],
                key=lambda e: (e[0], e[1]),
            )
            in_use, live = 0, set()
            for at, delta, booking_id in events:
                in_use += delta
                if delta > 0:
                    live.add(booking_id)
                else:
                    live.discard(booking_id)
                if in_use > capacity:
                    kind = "double booked" if capacity == 1 else "oversold"
                    problems.append(
                        f"resource {resource_id} {kind} at {at}: {in_use} units of {capacity} "
                        f"acknowledged to bookings {sorted(live)}"
                    )
        return problems


def verify_invariants(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """The rows of ``bookingdb.verify_invariants()`` (none when I1-I6 hold)."""
    rows = conn.execute("SELECT invariant, detail FROM bookingdb.verify_invariants()").fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def assert_invariants(dsn: str, venue_id: int, ledger: Ledger) -> None:
    """The two end-of-test checks: the database's own verify_invariants(), and
    the independent check of the acknowledgements against the database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert verify_invariants(conn) == []

    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        # One transaction: now() and list_bookings() see the same instant.
        now = conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        assert ledger.violations(now) == []

        acks = ledger.acks
        # Each get_booking a statement of its own: on Citus a call inside a
        # query over a distributed table cannot be sent to the venue's node.
        ids = conn.execute(
            "SELECT booking_id FROM bookingdb.bookings WHERE venue_id = %s", (venue_id,)
        ).fetchall()
        in_db = {}
        for found in ids:
            row = conn.execute(
                "SELECT id, status, version FROM bookingdb.get_booking(%s, %s)",
                (venue_id, found["booking_id"]),
            ).fetchone()
            assert row is not None
            in_db[row["id"]] = row
        assert sorted(in_db) == sorted(acks), "booking rows differ from acknowledged bookings"
        for booking_id, ack in acks.items():
            row = in_db[booking_id]
            assert row["status"] == ack.effective_status(now), (booking_id, row, ack)
            # A lapsed hold may have been marked expired since (lazily or by
            # the sweeper): one change nobody was told about.
            lapsed = ack.status == "held" and not ack.occupies(now)
            allowed = {ack.version, ack.version + 1} if lapsed else {ack.version}
            assert row["version"] in allowed, (booking_id, row, ack)

        if acks:
            window = (
                min(a.starts_at for a in acks.values()),
                max(a.ends_at for a in acks.values()),
            )
            listed = conn.execute(
                "SELECT booking_id, resource_id, starts_at, ends_at, quantity"
                "  FROM bookingdb.list_bookings(%s, %s, %s)",
                (venue_id, *window),
            ).fetchall()
            told = {
                (a.booking_id, r, a.starts_at, a.ends_at, a.quantity)
                for a in ledger.occupying(now)
                for r in a.resource_ids
            }
            seen = {
                (r["booking_id"], r["resource_id"], r["starts_at"], r["ends_at"], r["quantity"])
                for r in listed
            }
            assert seen == told, "what occupies differs from what clients were told"
        conn.rollback()
