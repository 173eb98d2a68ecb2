"""``bookingdb migrate`` while a storm of bookings runs: migrate re-creates
every function, view and grant in one transaction, and the clients see
nothing but their ordinary refusals and the documented retryable codes.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
import pytest

from bookingdb.migrate import migrate

pytestmark = pytest.mark.concurrency

CLIENTS = 6
# Bookings acknowledged before the first migrate starts, and the calls each
# client makes after the last one ends: the storm surrounds the migrates.
BEFORE = 20
AFTER = 5
MIGRATES = 2
REFUSALS = {"BK001", "BK002"}  # the slot went to someone else
RETRYABLE = {"BK020", "55P03"}  # a lock wait passed its bound: retry, same key


@dataclass
class Storm:
    acked: dict[str, int] = field(default_factory=dict)  # idempotency key -> booking id
    refused: dict[str, int] = field(default_factory=dict)  # sqlstate -> count
    retried: int = 0
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    warmed: threading.Event = field(default_factory=threading.Event)
    migrated: threading.Event = field(default_factory=threading.Event)


def test_migrate_during_a_storm_fails_no_booking_and_keeps_the_invariants(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        venue = conn.execute("SELECT bookingdb.create_venue('Upgrade bar')").fetchone()
        assert venue is not None
        tables = [
            int(r[0])
            for r in conn.execute(
                "SELECT bookingdb.add_resource(%s, 'table ' || i) FROM generate_series(1, 8) i",
                (venue[0],),
            )
        ]
        base: datetime = conn.execute(
            "SELECT date_trunc('day', now()) + interval '2 days'"
        ).fetchone()[0]  # type: ignore[index]
    storm = Storm()
    took: list[float] = []

    def client(n: int) -> None:
        rng = random.Random(n)
        calls_after = 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not storm.migrated.is_set() or calls_after < AFTER:
                if storm.migrated.is_set():
                    calls_after += 1
                key = f"c{n}-{uuid.uuid4().hex[:8]}"
                starts = base + timedelta(minutes=30 * rng.randrange(2000))
                args = (venue[0], [rng.choice(tables)], starts, starts + timedelta(hours=1), key)
                while True:
                    try:
                        row = conn.execute(
                            "SELECT id FROM bookingdb.create_booking_atomic(%s, %s::bigint[],"
                            " %s, %s, idempotency_key => %s)",
                            args,
                        ).fetchone()
                    except psycopg.Error as err:
                        code = err.sqlstate or "?"
                        with storm.lock:
                            if code in RETRYABLE:
                                storm.retried += 1
                                continue
                            if code in REFUSALS:
                                storm.refused[code] = storm.refused.get(code, 0) + 1
                            else:
                                storm.unexpected.append(f"{code}: {err}")
                        break
                    assert row is not None
                    with storm.lock:
                        storm.acked[key] = int(row[0])
                        if len(storm.acked) >= BEFORE:
                            storm.warmed.set()
                    break
                if storm.unexpected:
                    return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        assert storm.warmed.wait(120), "the storm made no bookings"
        for _ in range(MIGRATES):
            started = time.monotonic()
            assert migrate(dsn)["migrations"] == []
            took.append(time.monotonic() - started)
    finally:
        storm.migrated.set()
        for thread in threads:
            thread.join(120)

    print(
        f"migrate x{MIGRATES} under load: {len(storm.acked)} booked, refused {storm.refused},"
        f" {storm.retried} retried (BK020/55P03), unexpected {len(storm.unexpected)};"
        f" each migrate took {', '.join(f'{t:.1f} s' for t in took)}"
    )
    assert storm.unexpected == []
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT * FROM bookingdb.verify_invariants()").fetchall() == []
        stored = dict(
            conn.execute(
                "SELECT idempotency_key, booking_id FROM bookingdb.bookings WHERE venue_id = %s",
                (venue[0],),
            ).fetchall()
        )
    # Every booking a client was told about is there, and nothing else is.
    assert stored == storm.acked
    assert len(storm.acked) > BEFORE
