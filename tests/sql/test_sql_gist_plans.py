"""No bookingdb function or view reads a GiST index of the allocations with a
plain (rescannable) index scan.

On PostgreSQL 16 to 18 a GiST index scan that is rescanned (the inner side of
a nested loop, a correlated subquery) keeps its list of entries to mark dead
across rescans; after a root split it marks live entries dead, and the
exclusion constraint then admits a second booking. Bitmap scans never mark
entries dead. So every plan bookingdb itself runs over the allocations must
reach a GiST index through a bitmap scan only (or not at all).

The plans are the ones the functions really run, nested statements included:
auto_explain logs every statement's plan to this client while a workload
calls every public function and view that reads the allocations, under both
generic and custom plans. A second check makes sure the workload reaches
every function whose body reads the allocations, so a new reader cannot slip
past.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
from contract_kit import Conn, add_resource, book, expire_now, hold, rows, scalar
from psycopg.types.json import Jsonb

# Functions that read the allocations only by primary key or write them, or
# whose reads cannot use a GiST index; each is named with the reason.
NOT_A_READER_OF_OVERLAPS: dict[str, str] = {}


def gist_indexes(conn: Conn) -> list[str]:
    return [
        r["name"]
        for r in rows(
            conn,
            """SELECT c.relname AS name
                 FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid
                 JOIN pg_am am ON am.oid = c.relam
                WHERE i.indrelid = 'bookingdb.allocations'::regclass AND am.amname = 'gist'""",
        )
    ]


class PlanLog:
    """Every plan auto_explain reports to this connection, as text."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.plans: list[str] = []
        conn.add_notice_handler(self._on_notice)

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        message = diag.message_primary or ""
        if "Query Text:" in message or "\n" in message:
            self.plans.append(message)


@pytest.fixture
def plan_log(conn: Conn) -> Iterator[PlanLog]:
    log = PlanLog(conn)
    conn.execute("LOAD 'auto_explain'")
    conn.execute("SET auto_explain.log_min_duration = 0")
    conn.execute("SET auto_explain.log_nested_statements = on")
    conn.execute("SET auto_explain.log_level = 'notice'")
    conn.execute("SET track_functions = 'all'")
    yield log


def workload(conn: Conn, at: Callable[[float], datetime]) -> None:
    """Calls every public function and view that reads the allocations, with
    data that makes each one read: tables (linked, some taken, a lapsed hold),
    a shared resource, an event with seats and standing places, a waitlist."""
    venue = int(scalar(conn, "SELECT bookingdb.create_venue('Plans', 'Europe/London')"))
    tables = [add_resource(conn, venue, f"T{i}", seats_max=4) for i in range(6)]
    for a, b in itertools.pairwise(tables):
        conn.execute("SELECT bookingdb.link_resources(%s, %s, %s)", (venue, a, b))
    room = add_resource(conn, venue, "Class", capacity=10, seats_max=10, kind="class")
    conn.execute("SELECT bookingdb.set_resource_buffers(%s, %s, '10m', '10m')", (venue, tables[0]))

    # Taken and lapsed slots, shared units in use.
    b1 = book(conn, venue, [tables[0]], at(10), at(11))
    book(conn, venue, [tables[1], tables[2]], at(10), at(11), party_size=6)
    lapsed = hold(conn, venue, [tables[3]], at(10), at(11), ttl=timedelta(milliseconds=1))
    book(conn, venue, [room], at(10), at(11), party_size=3, quantity=3)
    hold(conn, venue, [room], at(10), at(11), party_size=2, quantity=2, ttl="1 hour")
    expire_now(conn, lapsed)

    # Readers: availability of every kind.
    conn.execute(
        "SELECT * FROM bookingdb.check_availability(%s, %s, %s, %s)",
        (venue, tables, at(10), at(11)),
    )
    conn.execute(
        "SELECT * FROM bookingdb.check_availability_many(%s, %s)",
        (
            venue,
            Jsonb(
                [
                    {
                        "resource_ids": [t],
                        "starts_at": at(10).isoformat(),
                        "ends_at": at(11).isoformat(),
                    }
                    for t in [*tables, room]
                ]
            ),
        ),
    )
    conn.execute(
        "SELECT * FROM bookingdb.availability(%s, tstzrange(%s, %s), '1 hour')",
        (venue, at(8), at(14)),
    )
    conn.execute(
        "SELECT * FROM bookingdb.availability(%s, tstzrange(%s, %s), '1 hour', quantity => 2)",
        (venue, at(8), at(14)),
    )
    conn.execute(
        "SELECT * FROM bookingdb.free_time(%s, %s, tstzrange(%s, %s))",
        (venue, tables[0], at(8), at(14)),
    )
    conn.execute(
        "SELECT * FROM bookingdb.free_time(%s, %s, tstzrange(%s, %s))",
        (venue, room, at(8), at(14)),
    )
    conn.execute(
        "SELECT * FROM bookingdb.table_combinations(%s, %s, %s, 8)", (venue, at(10), at(11))
    )
    conn.execute(
        "SELECT * FROM bookingdb.suggest_alternatives(%s, %s, %s, %s)",
        (venue, [tables[0]], at(10), at(11)),
    )
    conn.execute("SELECT * FROM bookingdb.list_bookings(%s, %s, %s)", (venue, at(8), at(14)))
    for view in ("report_venues", "report_resources", "report_bookings", "report_daily"):
        conn.execute(f"SELECT * FROM bookingdb.{view}")

    # Writers: over a lapsed hold, onto shared units, moves.
    book(conn, venue, [tables[3]], at(10), at(11))
    book(conn, venue, [tables[4], tables[5]], at(10), at(11), party_size=6)
    conn.execute(
        "SELECT * FROM bookingdb.reschedule_booking(%s, %s, NULL, %s, %s)",
        (venue, b1["id"], at(12), at(13)),
    )
    conn.execute("SELECT bookingdb.set_sellable_capacity(%s, %s, 8)", (venue, room))

    # The waitlist: an entry waiting for a taken table gets it when freed.
    conn.execute(
        "SELECT * FROM bookingdb.join_waitlist(%s, %s, %s, %s)",
        (venue, [tables[0]], at(12), at(13)),
    )
    conn.execute(
        "SELECT * FROM bookingdb.join_waitlist(%s, %s, %s, %s, 2)",
        (venue, [room], at(10), at(11)),
    )
    conn.execute("SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, b1["id"]))
    conn.execute("SELECT * FROM bookingdb.process_waitlist(%s)", (venue,))

    # An event: seats picked best-available and by name, standing places.
    event = int(
        scalar(
            conn,
            "SELECT bookingdb.create_event(%s, 'Gig', %s, %s)",
            (venue, at(20), at(23)),
        )
    )
    seats: list[int] = scalar(
        conn, "SELECT bookingdb.add_seat_block(%s, 'Stalls', 'A', 1, 12)", (venue,)
    )
    standing = add_resource(conn, venue, "Floor", capacity=100, kind="standing")
    conn.execute(
        "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'stalls', 3000)", (venue, event, seats)
    )
    conn.execute(
        "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'floor', 2000)",
        (venue, event, [standing]),
    )
    conn.execute(
        "SELECT * FROM bookingdb.hold_event_tickets(%s, %s, seat_ids => %s)",
        (venue, event, seats[:2]),
    )
    conn.execute(
        "SELECT * FROM bookingdb.hold_event_tickets(%s, %s, 3, category => 'stalls')",
        (venue, event),
    )
    conn.execute(
        "SELECT * FROM bookingdb.hold_event_tickets(%s, %s, 2, category => 'floor')",
        (venue, event),
    )
    conn.execute("SELECT * FROM bookingdb.event_availability(%s, %s)", (venue, event))
    conn.execute(
        "SELECT * FROM bookingdb.join_waitlist(%s, %s, %s, %s, 2, event_id => %s)",
        (venue, seats, at(20), at(23), event),
    )

    # Housekeeping and checks.
    conn.execute("SELECT * FROM bookingdb.expire_holds()")
    conn.execute("SELECT * FROM bookingdb.stats(%s)", (venue,))
    conn.execute("SELECT * FROM bookingdb.health()")
    assert rows(conn, "SELECT * FROM bookingdb.verify_invariants()") == []
    # The doctor's reads (verify_invariants and health call the index check).
    conn.execute("SELECT * FROM bookingdb.check_allocation_indexes()")
    assert rows(conn, "SELECT * FROM bookingdb.hidden_overlaps()") == []
    conn.execute("SELECT * FROM bookingdb.allocation_index_repairs(include_healthy => true)")
    spare = add_resource(conn, venue, "Spare")
    conn.execute("DELETE FROM bookingdb.resources WHERE resource_id = %s", (spare,))


def plain_gist_scans(plans: list[str], indexes: list[str]) -> list[str]:
    names = "|".join(re.escape(i) for i in indexes)
    pattern = re.compile(rf"(?<!Bitmap )Index (?:Only )?Scan(?: Backward)? using ({names})\b")
    return [p for p in plans if pattern.search(p)]


@pytest.mark.parametrize("plan_cache_mode", ["force_generic_plan", "force_custom_plan"])
def test_no_function_reads_allocations_through_a_plain_gist_index_scan(
    conn: Conn, plan_log: PlanLog, at: Callable[[float], datetime], plan_cache_mode: str
) -> None:
    indexes = gist_indexes(conn)
    assert indexes, "expected the exclusion constraint's GiST index"
    conn.execute(f"SET plan_cache_mode = {plan_cache_mode}")
    workload(conn, at)
    assert len(plan_log.plans) > 100, "auto_explain reported no nested plans"
    offending = plain_gist_scans(plan_log.plans, indexes)
    report = "\n\n".join(offending)
    assert offending == [], f"{len(offending)} plans with plain GiST index scans:\n\n{report}"


def test_the_plan_check_sees_a_plain_gist_scan(conn: Conn, plan_log: PlanLog) -> None:
    # The check itself can fail: an ad-hoc anti join of the shape the seat
    # picker once had, forced onto a nested loop, is reported.
    conn.execute("SET enable_hashjoin = off; SET enable_mergejoin = off")
    conn.execute("SET enable_bitmapscan = off; SET enable_seqscan = off")
    conn.execute(
        """SELECT r.resource_id FROM bookingdb.resources r
            WHERE NOT EXISTS (SELECT 1 FROM bookingdb.allocations a
                               WHERE a.venue_id = r.venue_id AND a.resource_id = r.resource_id
                                 AND a.active AND a.exclusive
                                 AND a.blocked && tstzrange(now(), now() + interval '1 hour'))"""
    )
    assert plain_gist_scans(plan_log.plans, gist_indexes(conn)) != []


def test_the_workload_reaches_every_function_that_reads_allocations(
    conn: Conn, plan_log: PlanLog, at: Callable[[float], datetime]
) -> None:
    workload(conn, at)
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")
    called = {
        r["funcname"]
        for r in rows(
            conn, "SELECT funcname FROM pg_stat_user_functions WHERE schemaname = 'bookingdb'"
        )
    }
    readers = rows(
        conn,
        """SELECT p.proname AS name, l.lanname AS lang
             FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.pronamespace = 'bookingdb'::regnamespace
              AND p.prosrc ~ 'bookingdb\\.allocations'""",
    )
    # SQL functions are inlined into their callers (and so not counted);
    # every function that calls one must then be reached instead.
    inlined = {r["name"] for r in readers if r["lang"] == "sql"}
    callers: set[str] = set()
    for name in inlined:
        callers |= {
            r["name"]
            for r in rows(
                conn,
                """SELECT p.proname AS name FROM pg_proc p
                    WHERE p.pronamespace = 'bookingdb'::regnamespace
                      AND p.prosrc ~ ('bookingdb\\.' || %s || '\\(') AND p.proname <> %s""",
                (name, name),
            )
        }
    must_reach = ({r["name"] for r in readers} - inlined) | (callers - inlined)
    missed = sorted(must_reach - called - set(NOT_A_READER_OF_OVERLAPS))
    assert missed == [], f"the workload does not reach {missed}"
