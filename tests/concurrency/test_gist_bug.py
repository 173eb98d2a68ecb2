"""The GiST kill-list bug of PostgreSQL 16-18 (issue 13), replayed step by step.

A plain GiST index scan remembers the entries whose heap tuples it found dead
to everyone (``so->killedItems``, offsets on one page) and marks them LP_DEAD
when it leaves that page (``gistkillitems`` in gistget.c). While the index's
root is itself a leaf, the root is read outside the page queue
(``gistgettuple``: the first call scans ``GIST_ROOT_BLKNO`` through a fake
search item), so ``so->curBlkno`` stays ``InvalidBlockNumber``, the guard
``so->curBlkno != InvalidBlockNumber && so->numKilled > 0`` never lets
``gistkillitems`` run, and nothing resets ``so->numKilled`` (only
``gistkillitems`` does). ``gistrescan`` (gistscan.c) does not reset it either,
so the inner side of a nested loop, rescanned once per outer row, piles up
root offsets. Once another session splits the root, the next rescan reads a
real leaf from the queue: ``curBlkno`` is that leaf, ``curPageLSN`` is the LSN
just read from it, so the LSN check in ``gistkillitems`` passes and the stale
root offsets are marked dead on the leaf, which now holds other, live entries.
Index scans and exclusion checks skip LP_DEAD entries, so the constraint
admits a row that overlaps a live one.

On PostgreSQL 15 the stale list does not survive a rescan (seen with
pageinspect on 15.20: after the split only the entry killed after the split is
marked), so the same steps change nothing there.

Every step below is explicit: one session holds a cursor open and fetches one
outer row at a time, the other inserts until the root has split. No sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg.rows
import pytest

from .conftest import Venue

pytestmark = pytest.mark.concurrency

# Major versions on which the steps below are known to reproduce the bug
# (16.2, 17.10 and 18.6 tried; 15.20 does not). PostgreSQL's master has a fix
# ("Fix gistkillitems for GiST root page"); when a minor release carries it,
# the plain-SQL test below fails and says so: move that release out of here.
AFFECTED_MAJORS = frozenset({16, 17, 18})

# How many dead entries the rescanned scan collects on the root before the split.
STALE = 20

# Planner settings that force the shape the bug needs: a nested loop whose
# inner side is a plain (not bitmap, not index-only) GiST index scan, rescanned
# for every outer row, with nothing caching the inner results.
FORCE_RESCANNED_INDEX_SCAN = {
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
    "enable_indexonlyscan": "off",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "enable_material": "off",
    "enable_memoize": "off",
    "plan_cache_mode": "force_custom_plan",
}


def server_version(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    """(major version, full version string) of the server behind ``conn``."""
    row = conn.execute(
        "SELECT current_setting('server_version_num')::int / 10000,"
        "       current_setting('server_version')"
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def force_plan(conn: psycopg.Connection[Any]) -> None:
    """SET LOCAL the planner settings (``conn`` must be inside a transaction;
    LOCAL keeps them on this transaction, also through a pooler)."""
    for name, value in FORCE_RESCANNED_INDEX_SCAN.items():
        conn.execute(f"SET LOCAL {name} = {value}")


def index_blocks(conn: psycopg.Connection[Any], index: str) -> int:
    """How many pages ``index`` has. A GiST index is one page (its root, a
    leaf) until the root first splits; a root split makes it three."""
    row = conn.execute(
        "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int", (index,)
    ).fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def open_cursor(
    conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] | dict[str, Any]
) -> Iterator[list[str]]:
    """Declare cursor ``c`` for ``query`` in a new transaction on ``conn``,
    with the forced plan; yield the plan; roll back at the end."""
    assert not conn.autocommit
    try:
        force_plan(conn)
        plan = [str(r[0]) for r in conn.execute("EXPLAIN " + query, params).fetchall()]
        conn.execute("DECLARE c NO SCROLL CURSOR FOR " + query, params)
        yield plan
    finally:
        conn.rollback()


def missing_from_index(
    conn: psycopg.Connection[Any],
    table: str,
    key: str,
    where: str,
    qual: str,
    index: str,
    hide: tuple[str, ...] = (),
) -> set[tuple[Any, ...]]:
    """The ``key`` of the rows of ``table`` matching ``where`` that a bitmap
    scan of ``index`` (``qual`` matching every row) does not find: rows whose
    index entries are marked dead or gone. Bitmap scans never mark entries
    dead themselves, so looking does not change the answer. ``hide``: other
    indexes the planner would rather read, dropped for the measurement only
    (the transaction is rolled back; nothing else may run meanwhile)."""
    heap_query = f"SELECT {key} FROM {table} WHERE {where}"
    index_query = f"SELECT {key} FROM {table} WHERE {where} AND {qual}"
    with conn.transaction():
        for name in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
            conn.execute(f"SET LOCAL {name} = off")
        heap = {tuple(r) for r in conn.execute(heap_query).fetchall()}
    with conn.transaction(force_rollback=True):
        for name in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
            conn.execute(f"SET LOCAL {name} = off")
        for other in hide:
            conn.execute(f"DROP INDEX {other}")
        plan = "\n".join(str(r[0]) for r in conn.execute("EXPLAIN " + index_query).fetchall())
        assert f"Bitmap Index Scan on {index}" in plan, plan
        in_index = {tuple(r) for r in conn.execute(index_query).fetchall()}
    return heap - in_index


def assert_rescanned_gist_scan(plan: list[str], index: str) -> None:
    text = "\n".join(plan)
    assert "Nested Loop Anti Join" in text and f"Index Scan using {index}" in text, (
        f"the reproducer needs a nested-loop anti join over a plain index scan on {index}; "
        f"the planner chose:\n{text}"
    )


def hidden_from_gist(conn: psycopg.Connection[Any], venue_id: int) -> set[tuple[Any, ...]]:
    """(booking_id, resource_id) of the venue's live exclusive allocations that
    a bitmap scan of allocations_no_overlap does not find (the btrees hidden,
    so that the count goes through the GiST index)."""
    return missing_from_index(
        conn,
        "bookingdb.allocations",
        "booking_id, resource_id",
        f"venue_id = {venue_id} AND active AND exclusive",
        "blocked && '(,)'::tstzrange",
        "allocations_no_overlap",
        hide=BTREES,
    )


def test_plain_sql_reproducer_documents_whether_the_server_has_the_bug(dsn: str) -> None:
    with (
        psycopg.connect(dsn, autocommit=True) as writer,
        psycopg.connect(dsn) as reader,
    ):
        major, version = server_version(writer)
        writer.execute(
            """
            CREATE TABLE gist_bug (
                id     int PRIMARY KEY,
                k      int4range NOT NULL,
                active boolean NOT NULL,
                CONSTRAINT gist_bug_no_overlap EXCLUDE USING gist (k WITH &&) WHERE (active)
            ) WITH (autovacuum_enabled = off)
            """
        )
        # Step 1: STALE rows with high keys, first on the root page (offsets
        # 1..STALE), then deactivated and committed: their heap tuples are
        # dead to everyone, their index entries stay until a vacuum.
        writer.execute(
            "INSERT INTO gist_bug (id, k, active)"
            " SELECT -i, int4range(1000000 + i * 10, 1000000 + i * 10 + 5), true"
            "   FROM generate_series(1, %s) AS i",
            (STALE,),
        )
        writer.execute("UPDATE gist_bug SET active = false")

        # The reader's probes, one per outer row: first each dead row's range
        # (the inner scan finds its entry, the heap says dead to all, the
        # offset goes on the kill list), then a range in a gap between live
        # low keys, read after the split (it visits the leaf holding the
        # lowest keys and finds nothing live there).
        probes = [f"[{1000000 + i * 10},{1000000 + i * 10 + 5})" for i in range(1, STALE + 1)]
        probes.append("[16,18)")
        query = (
            "SELECT p.n FROM unnest(%s::int4range[]) WITH ORDINALITY AS p(r, n)"
            " WHERE NOT EXISTS (SELECT 1 FROM gist_bug t WHERE t.active AND t.k && p.r)"
        )
        with open_cursor(reader, query, (probes,)) as plan:
            assert_rescanned_gist_scan(plan, "gist_bug_no_overlap")
            # Step 2: STALE rescans while the root is still a leaf. Every probe
            # finds only a dead row, so every outer row comes back.
            assert index_blocks(writer, "gist_bug_no_overlap") == 1
            got = reader.execute(f"FETCH {STALE} FROM c").fetchall()
            assert [int(r[0]) for r in got] == list(range(1, STALE + 1))

            # Step 3: the other session inserts live rows with low keys
            # (1, 2, ...: [10,15), [20,25), ...) until the root splits.
            n = 1
            while index_blocks(writer, "gist_bug_no_overlap") == 1:
                writer.execute(
                    "INSERT INTO gist_bug (id, k, active)"
                    " SELECT i, int4range(i * 10, i * 10 + 5), true"
                    "   FROM generate_series(%s::int, %s::int) AS i",
                    (n, n + 9),
                )
                n += 10
                assert n < 10000, "the root never split"

            # Step 4: one more rescan, now through the split root.
            got = reader.execute("FETCH ALL FROM c").fetchall()
            assert [int(r[0]) for r in got] == [STALE + 1]

        # What the index lost: live rows a bitmap scan of the index no longer
        # finds (bitmap scans skip LP_DEAD entries too, but never set them).
        hidden = sorted(
            int(r[0])
            for r in missing_from_index(
                writer, "gist_bug", "id", "active", "k && '(,)'::int4range", "gist_bug_no_overlap"
            )
        )

        # Step 5: a row overlapping a live one: a hidden one if any, else
        # row 1, the row the bug hides first.
        target = hidden[0] if hidden else 1
        try:
            writer.execute(
                "INSERT INTO gist_bug (id, k, active)"
                " VALUES (0, int4range(%s * 10 + 1, %s * 10 + 3), true)",
                (target, target),
            )
            accepted, refusal = True, None
        except psycopg.errors.ExclusionViolation as err:
            accepted, refusal = False, err.sqlstate

    saw = (
        f"PostgreSQL {version}: {len(hidden)} live rows missing from the GiST index "
        f"({hidden}); an insert overlapping row {target} was "
        f"{'ACCEPTED' if accepted else f'refused ({refusal})'}"
    )
    if major in AFFECTED_MAJORS:
        assert accepted and len(hidden) == STALE, (
            f"{saw}. Expected the GiST kill-list bug (16-18 are affected): {STALE} live rows "
            "hidden and the overlap accepted. If this release fixed it, move it out of "
            "AFFECTED_MAJORS (tests/concurrency/test_gist_bug.py)."
        )
    else:
        assert not accepted and hidden == [], (
            f"{saw}. Expected no bug on this version (only 16-18 are known to be affected)."
        )


# The seat picker's question, asked as an operator might ask it by hand: which
# of these seats are free for the event? One outer row per seat, in the order
# given, and per seat the NOT EXISTS of _best_seats (sql/047_events.sql).
# The btree the GiST-independent defence reads; it would serve the bitmap
# count of the allocations too, so the count hides it to read the GiST index.
BTREES = ("bookingdb.allocations_active_by_end",)

SEATS_FREE_QUERY = """
WITH seats AS MATERIALIZED (
    SELECT o.n, r.resource_id,
           tstzrange(%(starts)s - r.buffer_before, %(ends)s + r.buffer_after) AS blocked
      FROM unnest(%(seats)s::bigint[]) WITH ORDINALITY AS o(resource_id, n)
      JOIN bookingdb.resources r ON r.venue_id = %(venue)s AND r.resource_id = o.resource_id
     ORDER BY o.n
)
SELECT s.n, s.resource_id
  FROM seats s
 WHERE NOT EXISTS (
       SELECT 1 FROM bookingdb.allocations a
        WHERE a.venue_id = %(venue)s AND a.resource_id = s.resource_id
          AND a.active AND a.exclusive AND a.blocked && s.blocked
          AND (a.expires_at IS NULL OR a.expires_at > now()))
"""


def gist_missing(conn: psycopg.Connection[Any]) -> int:
    """Live allocations ``check_allocation_indexes`` (bookingdb doctor) finds
    missing from the exclusion constraint's GiST index."""
    row = conn.execute(
        "SELECT missing FROM bookingdb.check_allocation_indexes()"
        " WHERE index_name = 'allocations_no_overlap'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def call(conn: psycopg.Connection[Any], function: str, **args: Any) -> dict[str, Any]:
    """``SELECT * FROM bookingdb.<function>(name => value, ...)``: its one row."""
    casts = {"seat_ids": "::bigint[]", "resource_ids": "::bigint[]"}
    named = ", ".join(f"{k} => %({k})s{casts.get(k, '')}" for k in args)
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(f"SELECT * FROM bookingdb.{function}({named})", args).fetchone()
    assert row is not None
    return row


def test_resale_of_seats_whose_index_entries_a_reader_killed_is_refused(venue: Venue) -> None:
    """One session reads seats the way the seat picker does, through a cursor
    paused between seats; another makes holds on other seats until the
    allocations' GiST index splits its root. On 16-18 that kills the index
    entries of 20 sold seats (checked below); selling them again must still
    be refused, with BK001, by the defence that does not trust the index."""
    v = venue.venue_id
    with psycopg.connect(venue.dsn, autocommit=True) as setup:
        major, version = server_version(setup)
        setup.execute("SELECT bookingdb.set_venue_rules(%s, '{\"max_party\": 1000}')", (v,))
        event_row = setup.execute(
            "SELECT bookingdb.create_event(%s, 'Gig', %s, %s)", (v, venue.at(0), venue.at(180))
        ).fetchone()
        assert event_row is not None
        event = int(event_row[0])
        # Resource ids rise block by block. The GiST split sorts entries by
        # resource_id, so after it the leaf with the lowest ids starts with
        # the sold seats: those are the offsets the stale list will hit.
        blocks: dict[str, list[int]] = {}
        for label, count in (("V", STALE + 1), ("D", STALE), ("E", 400)):
            row = setup.execute(
                "SELECT bookingdb.add_seat_block(%s, 'Stalls', %s, 1, %s)", (v, label, count)
            ).fetchone()
            assert row is not None
            blocks[label] = [int(x) for x in row[0]]
            for seat in blocks[label]:
                venue.ledger.resource(seat, 1)
            setup.execute(
                "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'stalls', 5000)",
                (v, event, blocks[label]),
            )
    sold, probe_after_split = blocks["V"][:STALE], blocks["V"][STALE]
    released, elsewhere = blocks["D"], blocks["E"]

    with (
        psycopg.connect(venue.dsn, autocommit=True) as seller,
        psycopg.connect(venue.dsn) as reader,
    ):
        assert index_blocks(seller, "bookingdb.allocations_no_overlap") == 1

        # Step 1: STALE holds, first on the root page, released: their
        # allocations are deactivated, the old tuples dead to everyone.
        for seat in released:
            hold = call(seller, "hold_event_tickets", venue_id=v, event_id=event, seat_ids=[seat])
            venue.ledger.record(hold)
            venue.ledger.record(call(seller, "release_hold", venue_id=v, booking_id=hold["id"]))
        # Step 2: STALE seats sold (held and confirmed).
        for seat in sold:
            hold = call(seller, "hold_event_tickets", venue_id=v, event_id=event, seat_ids=[seat])
            venue.ledger.record(hold)
            venue.ledger.record(call(seller, "confirm_hold", venue_id=v, booking_id=hold["id"]))

        # Fresh statistics, so the planner sees that the btree the defence
        # reads (allocations_active_by_end, led by venue_id alone here)
        # would visit every allocation of the venue, and picks the GiST
        # index for the per-seat probe, as it would on a real database.
        seller.execute("ANALYZE bookingdb.allocations")

        # Step 3: the reader asks about the released seats, one at a time.
        params = {
            "seats": [*released, probe_after_split],
            "venue": v,
            "starts": venue.at(0),
            "ends": venue.at(180),
        }
        with open_cursor(reader, SEATS_FREE_QUERY, params) as plan:
            assert_rescanned_gist_scan(plan, "allocations_no_overlap")
            got = reader.execute(f"FETCH {STALE} FROM c").fetchall()
            assert [int(r[1]) for r in got] == released, "the released seats are free"

            # Step 4: holds on other seats until the index's root splits.
            held = 0
            while index_blocks(seller, "bookingdb.allocations_no_overlap") == 1:
                assert held < len(elsewhere), "the root never split"
                venue.ledger.record(
                    call(
                        seller,
                        "hold_event_tickets",
                        venue_id=v,
                        event_id=event,
                        seat_ids=[elsewhere[held]],
                    )
                )
                held += 1

            # Step 5: the reader asks about one more seat (free, among the
            # sold ones), now through the split root.
            got = reader.execute("FETCH ALL FROM c").fetchall()
            assert [int(r[1]) for r in got] == [probe_after_split]

        killed = sorted(int(r[1]) for r in hidden_from_gist(seller, v))
        if major in AFFECTED_MAJORS:
            assert killed == sold, (
                f"PostgreSQL {version}: expected the reader to kill the index entries of the "
                f"{STALE} sold seats {sold}; live allocations missing from the index: {killed}"
            )
        else:
            assert killed == [], f"PostgreSQL {version}: no bug expected, yet {killed} are hidden"
        # The doctor's check sees the entries the bug marked dead (bookingdb
        # doctor, I7), without touching the btree the count above hid.
        assert gist_missing(seller) == len(killed)

        # Step 6: resell every sold seat, one named-seat hold each.
        warnings: list[str] = []
        seller.add_notice_handler(
            lambda d: (
                warnings.append(f"{d.message_primary} {d.message_detail or ''}")
                if d.severity_nonlocalized == "WARNING"
                else None
            )
        )
        accepted: list[int] = []
        refusals: dict[str | None, int] = {}
        for seat in sold:
            try:
                venue.ledger.record(
                    call(seller, "hold_event_tickets", venue_id=v, event_id=event, seat_ids=[seat])
                )
                accepted.append(seat)
            except psycopg.Error as err:
                refusals[err.sqlstate] = refusals.get(err.sqlstate, 0) + 1

        assert accepted == [] and refusals == {"BK001": STALE}, (
            f"PostgreSQL {version}: sold seats whose index entries were killed ({killed}): "
            f"resale ACCEPTED for {accepted}; refusals by SQLSTATE: {refusals}"
        )
        if killed:
            # The defence behind the constraint caught what it missed, and said so.
            assert any("allocations_no_overlap" in w for w in warnings), warnings

        # The double booking the constraint would have let through is not
        # there; then the documented repair rebuilds the index (a plain
        # REINDEX fails if a hidden overlap exists) and every check passes.
        rows = seller.execute("SELECT invariant, detail FROM bookingdb.verify_invariants()")
        assert [r for r in rows.fetchall() if r[0] == "I1"] == []
        assert seller.execute("SELECT * FROM bookingdb.hidden_overlaps()").fetchall() == []
        repairs = seller.execute(
            "SELECT statement FROM bookingdb.allocation_index_repairs()"
        ).fetchall()
        assert [r[0] for r in repairs] == (
            ["REINDEX INDEX bookingdb.allocations_no_overlap"] if killed else []
        )
        seller.execute("REINDEX INDEX bookingdb.allocations_no_overlap")
        assert gist_missing(seller) == 0
        assert hidden_from_gist(seller, v) == set()
    venue.check()
