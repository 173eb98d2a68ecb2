"""Helpers for the SQL contract tests: call bookingdb functions as a psql user
does, and prove that a refusal leaves the tables exactly as they were."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]

# The columns the issue promises in every "booking row".
BOOKING_COLUMNS = (
    "id",
    "venue_id",
    "reference",
    "status",
    "starts_at",
    "ends_at",
    "party_size",
    "expires_at",
    "version",
    "created_at",
)

TABLES = (
    "venues",
    "resources",
    "bookings",
    "allocations",
    "audit_log",
    "opening_hours",
    "date_overrides",
    "resource_links",
    "series",
    "events",
    "event_inventory",
    "waitlist",
    "changes",
    "refusal_counts",
    "tenant_roles",
)

# Row counts per table, and one digest of every row of every table (ordered
# by the row text, so it needs no key per table).
_SNAPSHOT_QUERY = "SELECT {}, md5(concat_ws('|', {})) AS digest".format(
    ", ".join(f"(SELECT count(*) FROM bookingdb.{t}) AS {t}" for t in TABLES),
    ", ".join(
        f"(SELECT string_agg(x::text, ',' ORDER BY x::text) FROM bookingdb.{t} x)" for t in TABLES
    ),
)


@dataclass(frozen=True)
class Snapshot:
    """Row counts per table plus a digest of every row, so an UPDATE that
    changes no count is caught as well as an INSERT."""

    counts: dict[str, int]
    digest: str


def snapshot(conn: Conn) -> Snapshot:
    # Row text depends on the session's TimeZone and IntervalStyle; read it
    # with fixed ones so snapshots from differently set sessions compare.
    saved = conn.execute(
        "SELECT current_setting('TimeZone'), current_setting('IntervalStyle')"
    ).fetchone()
    assert saved is not None
    conn.execute("SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SNAPSHOT_QUERY).fetchone()
    conn.execute(
        "SELECT set_config('TimeZone', %s, false), set_config('IntervalStyle', %s, false)", saved
    )
    assert row is not None
    return Snapshot(counts={t: row[t] for t in TABLES}, digest=row["digest"])


def counts(conn: Conn) -> dict[str, int]:
    return snapshot(conn).counts


def refuse(conn: Conn, code: str, query: str, params: Any = None) -> psycopg.Error:
    """Run ``query``; it must fail with SQLSTATE ``code`` and write nothing."""
    before = snapshot(conn)
    with pytest.raises(psycopg.Error) as info:
        conn.execute(query, params)
    error = info.value
    assert error.diag.sqlstate == code, (
        f"expected {code}, got {error.diag.sqlstate}: {error.diag.message_primary}"
    )
    after = snapshot(conn)
    assert after.counts == before.counts, "a refusal changed row counts"
    assert after.digest == before.digest, "a refusal changed rows"
    return error


def error_of(
    conn: Conn, query: str, params: Any = None, *, bound_to: str | None = None
) -> psycopg.Error | None:
    """Run ``query`` in a transaction that is always rolled back (with
    ``bookingdb.venue_id`` set to ``bound_to``, if given); its error, if any."""
    try:
        with conn.transaction(force_rollback=True):
            if bound_to is not None:
                conn.execute("SELECT set_config('bookingdb.venue_id', %s, true)", (bound_to,))
            conn.execute(query, params)
    except psycopg.Error as err:
        return err
    return None


def one(conn: Conn, query: str, params: Any = None) -> dict[str, Any]:
    """The single row a function returns, as a dict keyed by column name."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def rows(conn: Conn, query: str, params: Any = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def scalar(conn: Conn, query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def add_resource(
    conn: Conn,
    venue_id: int,
    name: str = "table",
    capacity: int = 1,
    seats_min: int = 1,
    seats_max: int | None = None,
    kind: str = "table",
) -> int:
    return int(
        scalar(
            conn,
            "SELECT bookingdb.add_resource(%s, %s, %s, %s, %s, %s)",
            (venue_id, name, capacity, seats_min, seats_max, kind),
        )
    )


def hold(
    conn: Conn,
    venue_id: int,
    resource_ids: list[int],
    starts_at: datetime,
    ends_at: datetime,
    party_size: int = 1,
    quantity: int = 1,
    idempotency_key: str | None = None,
    ttl: timedelta | str | None = None,
) -> dict[str, Any]:
    return one(
        conn,
        "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, %s, %s, %s, %s::interval)",
        (venue_id, resource_ids, starts_at, ends_at, party_size, quantity, idempotency_key, ttl),
    )


def lapsed_hold(
    conn: Conn,
    venue_id: int,
    resource_ids: list[int],
    starts_at: datetime,
    ends_at: datetime,
    **kwargs: Any,
) -> dict[str, Any]:
    """A hold made with a 1 microsecond ttl, lapsed (expire_now) by the time
    the caller's next statement runs; no sweeper has marked it."""
    made = hold(conn, venue_id, resource_ids, starts_at, ends_at, ttl="1 microsecond", **kwargs)
    expire_now(conn, made)
    return made


def book(
    conn: Conn,
    venue_id: int,
    resource_ids: list[int],
    starts_at: datetime,
    ends_at: datetime,
    party_size: int = 1,
    quantity: int = 1,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    return one(
        conn,
        """SELECT * FROM bookingdb.create_booking_atomic(
               venue_id => %s, resource_ids => %s, starts_at => %s, ends_at => %s,
               party_size => %s, quantity => %s, idempotency_key => %s)""",
        (venue_id, resource_ids, starts_at, ends_at, party_size, quantity, idempotency_key),
    )


def get(conn: Conn, venue_id: int, booking_id: int) -> dict[str, Any]:
    return one(conn, "SELECT * FROM bookingdb.get_booking(%s, %s)", (venue_id, booking_id))


def available(
    conn: Conn,
    venue_id: int,
    resource_ids: list[int],
    starts_at: datetime,
    ends_at: datetime,
    quantity: int = 1,
    exclude_booking_id: int | None = None,
) -> bool:
    return bool(
        scalar(
            conn,
            "SELECT bookingdb.check_availability(%s, %s, %s, %s, %s, %s)",
            (venue_id, resource_ids, starts_at, ends_at, quantity, exclude_booking_id),
        )
    )


def violations(conn: Conn) -> list[tuple[str, str]]:
    return [
        (r["invariant"], r["detail"])
        for r in rows(conn, "SELECT * FROM bookingdb.verify_invariants()")
    ]


def expire_now(conn: Conn, booking: dict[str, Any]) -> None:
    """Make sure a hold made with a tiny ttl in an earlier transaction has
    lapsed by the clock of the caller's next transaction: the server's clock
    is waited for when the hold's instant is not behind it yet (on a fast
    server the next statement may start within the same millisecond)."""
    conn.execute(
        "SELECT pg_sleep(greatest(0, extract(epoch FROM %s - clock_timestamp())))",
        (booking["expires_at"],),
    )
    assert scalar(conn, "SELECT now() >= %s", (booking["expires_at"],)) is True


# -- local times at a venue (venue rules, opening hours, DST) ----------------------------


def local(zone: str, day: date, hours: int, minutes: int = 0, *, fold: int = 0) -> datetime:
    """The instant of a local wall-clock time in ``zone`` (``fold=1``: the second
    of a repeated fall-back hour), in UTC: Python subtracts two times of one
    zone on the wall clock, ignoring a DST change between them."""
    wall = datetime.combine(day, time(hours, minutes), ZoneInfo(zone)).replace(fold=fold)
    return wall.astimezone(UTC)


def local_today(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def next_weekday(zone: str, isoweekday: int, *, after_days: int = 3) -> date:
    """The first local date at least ``after_days`` ahead that falls on ``isoweekday``."""
    day = local_today(zone) + timedelta(days=after_days)
    return day + timedelta(days=(isoweekday - day.isoweekday()) % 7)


def next_transition(zone: str, *, forward: bool) -> date:
    """The next local date (at least three days ahead) on which ``zone``'s clocks
    go forward (spring) or back (autumn), read from the tz database, so the
    tests stay in the future whenever they run."""
    tz = ZoneInfo(zone)
    day = local_today(zone) + timedelta(days=3)
    for _ in range(800):
        before = datetime.combine(day - timedelta(days=1), time(12), tz).utcoffset()
        after = datetime.combine(day, time(12), tz).utcoffset()
        assert before is not None and after is not None
        if before != after and (after > before) == forward:
            return day
        day += timedelta(days=1)
    raise AssertionError(f"{zone} has no DST change ahead")


def set_rules(conn: Conn, venue_id: int, **rules: object) -> None:
    conn.execute("SELECT bookingdb.set_venue_rules(%s, %s)", (venue_id, Jsonb(rules)))


def far_venue(conn: Conn, zone: str, name: str = "Far ahead") -> int:
    """A venue in ``zone`` that takes bookings two years ahead (DST dates and
    series can be most of a year away; the default limit is six months)."""
    venue = int(scalar(conn, "SELECT bookingdb.create_venue(%s, %s)", (name, zone)))
    set_rules(conn, venue, max_advance="2 years")
    return venue
