"""A deliberately damaged allocation index, made the same way on every server.

The PostgreSQL 16-18 GiST bug marks live entries of allocations_no_overlap
dead; tests/concurrency/test_gist_bug.py replays it, but PostgreSQL 15 does
not have it. The doctor's tests need the same damage on 15 too, so they make
it another way: while an index is marked not ready (``pg_index.indisready =
false``, superuser only), PostgreSQL adds no new row to it and checks no
exclusion against it, yet queries still read it. Marked ready again, it
lacks exactly the rows written meanwhile: what the bug leaves behind (rows
that index scans and the constraint no longer see), with no timing involved.

:func:`damage` builds the situation the doctor is for: three tables, booking
A on the first, booking B moved onto it over A's time while the indexes were
not maintained (a double booking the constraint should have refused, as the
bug let in before bookingdb had a second line), and booking C made
meanwhile on a third table (a live row missing from the indexes, no overlap).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

# The allocation indexes bookings rely on: the exclusion constraint's GiST
# index and the btree of the check behind it.
GIST = "allocations_no_overlap"
BTREE = "allocations_active_by_end"
DAMAGED = (GIST, BTREE)

Conn = psycopg.Connection[Any]


@contextmanager
def unmaintained(conn: Conn, indexes: tuple[str, ...] = DAMAGED) -> Iterator[None]:
    """Within the block, ``indexes`` get no new entries (and the constraint
    checks nothing). ``conn`` must be a superuser's, in autocommit."""
    names = [f"bookingdb.{name}" for name in indexes]
    flip = (
        "UPDATE pg_catalog.pg_index SET indisready = %s"
        " WHERE indexrelid = ANY (%s::text[]::regclass[])"
    )
    conn.execute(flip, (False, names))
    try:
        yield
    finally:
        conn.execute(flip, (True, names))


@dataclass(frozen=True)
class Booked:
    id: int
    reference: str


@dataclass(frozen=True)
class Damage:
    venue: int
    table: int  # where A and B overlap
    first: Booked  # A: in every index
    second: Booked  # B: moved over A unseen by the indexes
    stray: Booked  # C: booked unseen by the indexes, overlapping nothing


def _book(conn: Conn, venue: int, table: int, hours: float, length: float) -> Booked:
    row = conn.execute(
        "SELECT id, reference FROM bookingdb.create_booking_atomic("
        "  %s, ARRAY[%s]::bigint[],"
        "  date_trunc('hour', now()) + interval '2 days' + %s * interval '1 hour',"
        "  date_trunc('hour', now()) + interval '2 days' + %s * interval '1 hour')",
        (venue, table, hours, hours + length),
    ).fetchone()
    assert row is not None
    return Booked(int(row[0]), str(row[1]))


def _scalar(conn: Conn, query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def damage(conn: Conn) -> Damage:
    """A venue whose allocation indexes lost two live rows each, one of them
    half of a double booking (see the module's docstring)."""
    venue = int(_scalar(conn, "SELECT bookingdb.create_venue('Damaged bar')"))
    tables = [
        int(_scalar(conn, "SELECT bookingdb.add_resource(%s, %s)", (venue, f"T{i}")))
        for i in (1, 2, 3)
    ]
    first = _book(conn, venue, tables[0], 10, 2)
    second = _book(conn, venue, tables[1], 11, 2)
    with unmaintained(conn):
        move_unseen(conn, second.id, tables[0])
        stray = _book(conn, venue, tables[2], 10, 2)
    return Damage(venue, tables[0], first, second, stray)


def move_unseen(conn: Conn, booking_id: int, table: int) -> None:
    """Move a one-table booking to ``table`` behind the functions' back (call
    it inside :func:`unmaintained`: then nothing checks or indexes the move)."""
    conn.execute(
        "UPDATE bookingdb.allocations SET resource_id = %s WHERE booking_id = %s",
        (table, booking_id),
    )
    conn.execute(
        "UPDATE bookingdb.bookings SET resource_ids = ARRAY[%s]::bigint[] WHERE booking_id = %s",
        (table, booking_id),
    )


def overlapping_insert(conn: Conn, damage: Damage, booking_id: int) -> None:
    """Insert, bypassing the functions, an allocation for ``booking_id`` on
    the damaged table over B's time only: the exclusion constraint alone
    decides (ExclusionViolation when it sees B)."""
    conn.execute(
        "INSERT INTO bookingdb.allocations"
        "  (venue_id, booking_id, resource_id, blocked, quantity, exclusive)"
        " SELECT venue_id, %s, resource_id,"
        "        tstzrange(upper(blocked) - interval '30 minutes', upper(blocked)), 1, true"
        "   FROM bookingdb.allocations WHERE booking_id = %s",
        (booking_id, damage.second.id),
    )
