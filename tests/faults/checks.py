"""What must hold after a fault, read from the tables themselves.

The tests run as a superuser, so they read ``bookingdb.bookings`` and
``bookingdb.allocations`` directly instead of trusting the functions that
are under test: a booking is *whole* when it has one allocation per resource
it names and those allocations are active exactly while it occupies; an
allocation is an *orphan* when no booking row owns it, or when it is still
active for a booking that no longer occupies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

OCCUPYING = frozenset({"held", "pending", "confirmed"})


@dataclass(frozen=True)
class Stored:
    """One booking row and the allocation rows that belong to it."""

    booking_id: int
    key: str | None
    status: str
    version: int
    resource_ids: tuple[int, ...]
    allocated: tuple[int, ...]
    active: tuple[bool, ...]

    @property
    def whole(self) -> bool:
        """One allocation per resource, active exactly while the booking occupies."""
        occupying = self.status in OCCUPYING
        return sorted(self.allocated) == sorted(set(self.resource_ids)) and all(
            flag == occupying for flag in self.active
        )


def stored_bookings(conn: psycopg.Connection[Any], venue_id: int) -> dict[int, Stored]:
    """Every booking row of the venue with its allocations, by booking id."""
    rows = conn.execute(
        """
        SELECT b.booking_id, b.idempotency_key, b.status, b.version, b.resource_ids,
               coalesce(array_agg(a.resource_id ORDER BY a.resource_id)
                            FILTER (WHERE a.resource_id IS NOT NULL), '{}') AS allocated,
               coalesce(array_agg(a.active ORDER BY a.resource_id)
                            FILTER (WHERE a.resource_id IS NOT NULL), '{}') AS active
          FROM bookingdb.bookings b
          LEFT JOIN bookingdb.allocations a
            ON a.venue_id = b.venue_id AND a.booking_id = b.booking_id
         WHERE b.venue_id = %s
         GROUP BY b.venue_id, b.booking_id
        """,
        (venue_id,),
    ).fetchall()
    return {
        int(r[0]): Stored(
            booking_id=int(r[0]),
            key=r[1],
            status=str(r[2]),
            version=int(r[3]),
            resource_ids=tuple(int(x) for x in r[4]),
            allocated=tuple(int(x) for x in r[5]),
            active=tuple(bool(x) for x in r[6]),
        )
        for r in rows
    }


def orphan_allocations(conn: psycopg.Connection[Any], venue_id: int) -> list[tuple[int, int]]:
    """(booking_id, resource_id) of allocations without a live booking behind them."""
    rows = conn.execute(
        """
        SELECT a.booking_id, a.resource_id
          FROM bookingdb.allocations a
          LEFT JOIN bookingdb.bookings b
            ON b.venue_id = a.venue_id AND b.booking_id = a.booking_id
         WHERE a.venue_id = %s
           AND (b.booking_id IS NULL OR (a.active AND b.status <> ALL (%s)))
         ORDER BY 1, 2
        """,
        (venue_id, sorted(OCCUPYING)),
    ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def by_key(stored: dict[int, Stored]) -> dict[str, list[Stored]]:
    """The booking rows each idempotency key names (I5 says: at most one)."""
    keys: dict[str, list[Stored]] = {}
    for booking in stored.values():
        if booking.key is not None:
            keys.setdefault(booking.key, []).append(booking)
    return keys
