"""The benchmark's asyncio load (bookingdb.loads): concurrent tasks through
AsyncBookingDB book distinct slots, every one stored once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from api_kit import Conn

from bookingdb.loads import run_async_load

TABLES = 4


def _new_id(conn: Conn, query: str, params: tuple[object, ...]) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def test_async_tasks_book_distinct_slots_each_once(dsn: str, conn: Conn) -> None:
    venue = _new_id(conn, "SELECT bookingdb.create_venue(%s, 'UTC')", ("Load",))
    tables = [
        _new_id(conn, "SELECT bookingdb.add_resource(%s, %s)", (venue, f"T{i}"))
        for i in range(TABLES)
    ]
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)

    def slot(i: int) -> tuple[int, datetime, datetime]:
        starts = base + timedelta(hours=i // TABLES)
        return tables[i % TABLES], starts, starts + timedelta(hours=1)

    load = run_async_load(dsn, venue, slot, tasks=4, seconds=60, per_task=5)
    assert load.errors == Counter()
    assert len(load.bookings) == len(load.latencies_us) == 20
    assert {(b.resource_ids, b.starts_at) for b in load.bookings} == {
        ((slot(i)[0],), slot(i)[1]) for i in range(20)
    }
    assert load.per_second is not None and load.per_second > 0
    stored = conn.execute(
        "SELECT count(*) FROM bookingdb.bookings WHERE venue_id = %s", (venue,)
    ).fetchone()
    assert stored == (20,)
    assert conn.execute("SELECT * FROM bookingdb.verify_invariants()").fetchall() == []
