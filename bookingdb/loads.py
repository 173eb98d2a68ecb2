"""Bookings through the asyncio client under load, for the benchmark: what
:class:`~bookingdb.AsyncBookingDB` sustains from N concurrent tasks, to set
next to :class:`~bookingdb.BookingDB` from N threads (S4).

Task ``k`` makes its ``n``-th booking on ``slot(k + tasks * n)``, the
numbering S4's threads use, so that no two attempts ask for the same slot
and every refusal is unexpected.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from bookingdb.aio import AsyncBookingDB
from bookingdb.errors import BookingError
from bookingdb.models import Booking

# slot(i): the i-th distinct slot, (resource_id, starts_at, ends_at).
SlotPicker = Callable[[int], tuple[int, datetime, datetime]]


@dataclass
class ClientLoad:
    """What a load run did: the bookings made, each one's latency (µs), the
    failures by SQLSTATE (or exception name), and the seconds it ran."""

    bookings: list[Booking] = field(default_factory=list)
    latencies_us: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def per_second(self) -> float | None:
        return len(self.bookings) / self.seconds if self.seconds else None


def run_async_load(
    dsn: str,
    venue_id: int,
    slot: SlotPicker,
    tasks: int,
    seconds: float,
    *,
    per_task: int | None = None,
) -> ClientLoad:
    """``tasks`` asyncio tasks calling ``create_booking_atomic`` on distinct
    slots for ``seconds`` (or until each has made ``per_task`` attempts),
    through one :class:`~bookingdb.AsyncBookingDB` whose pool has a
    connection per task (as S4 gives each thread one), on a fresh event loop."""
    return asyncio.run(_load(dsn, venue_id, slot, tasks, seconds, per_task))


async def _load(
    dsn: str, venue_id: int, slot: SlotPicker, tasks: int, seconds: float, per_task: int | None
) -> ClientLoad:
    load = ClientLoad()
    start = asyncio.Event()

    async def task(db: AsyncBookingDB, k: int) -> None:
        await start.wait()
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline and (per_task is None or n < per_task):
            resource_id, starts_at, ends_at = slot(k + tasks * n)
            n += 1
            began = time.perf_counter()
            try:
                booking = await db.create_booking_atomic(
                    venue_id, [resource_id], starts_at, ends_at
                )
            except (BookingError, psycopg.Error) as err:
                load.errors[str(getattr(err, "sqlstate", None) or type(err).__name__)] += 1
                continue
            load.latencies_us.append((time.perf_counter() - began) * 1e6)
            load.bookings.append(booking)

    async with await AsyncBookingDB.connect(dsn, min_size=tasks, max_size=tasks) as db:
        running = [asyncio.create_task(task(db, k)) for k in range(tasks)]
        began = time.monotonic()
        start.set()
        await asyncio.gather(*running)
        load.seconds = time.monotonic() - began
    return load
