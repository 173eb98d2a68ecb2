"""bookingdb on a running Citus cluster: what only a cluster can show.

Where each venue's rows live, that a call runs on that venue's node (its
locks included), that migrate keeps the distribution, that ids are unique
across nodes, and races for one slot through the coordinator, on venues of
both workers. The contract tests (tests/sql, tests/concurrency) run on the
cluster too, under ``make test-citus``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import citus_kit
import psycopg
import pytest
from concurrency.ledger import Ledger, assert_invariants
from concurrency.racing import assert_refused_only_with, race
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from bookingdb import BookingDB
from bookingdb.migrate import distribute, migrate

pytestmark = pytest.mark.citus


@pytest.fixture(scope="session")
def database_settings() -> tuple[tuple[str, str], ...]:
    """The product's lock bound (5 s): the races here wait for each other."""
    return ()


Conn = psycopg.Connection[Any]


def _scalar(conn: Conn, query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _node_of(conn: Conn, venue_id: int) -> int:
    """The port of the worker holding the venue's shard group."""
    return int(
        _scalar(
            conn,
            "SELECT s.nodeport FROM citus_shards s"
            " WHERE s.table_name = 'bookingdb.venues'::regclass"
            "   AND s.shardid = get_shard_id_for_distribution_column('bookingdb.venues', %s)",
            (venue_id,),
        )
    )


def _venues_on_each_worker(conn: Conn) -> dict[int, int]:
    """Make venues until each worker holds one; return {worker port: venue_id}."""
    workers = {
        int(r[0])
        for r in conn.execute("SELECT nodeport FROM pg_dist_node WHERE groupid <> 0").fetchall()
    }
    found: dict[int, int] = {}
    for n in range(32):
        venue = int(_scalar(conn, "SELECT bookingdb.create_venue(%s, 'Europe/London')", (f"V{n}",)))
        found.setdefault(_node_of(conn, venue), venue)
        if set(found) == workers:
            return found
    raise AssertionError(f"32 venues all landed on {sorted(found)}; workers {sorted(workers)}")


def _slot(hours: int) -> datetime:
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    return base + timedelta(hours=hours)


def test_every_table_is_distributed_by_venue_and_co_located(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT logicalrelid::regclass::text, partmethod, colocationid,"
        "       column_to_column_name(logicalrelid, partkey)"
        "  FROM pg_dist_partition WHERE logicalrelid::regclass::text LIKE 'bookingdb.%'"
    ).fetchall()
    tables = {r[0]: r for r in rows}
    assert set(tables) == {f"bookingdb.{t}" for t in citus_kit.tables(conn)}
    # tenant_roles is read by every call's tenant check: a copy on each node.
    assert tables.pop("bookingdb.tenant_roles")[1] == "n"
    assert {(r[1], r[3]) for r in tables.values()} == {("h", "venue_id")}
    assert len({r[2] for r in tables.values()}) == 1, "not all co-located with venues"


def test_venue_scoped_functions_are_delegated_by_venue_id(conn: Conn) -> None:
    rows = conn.execute(
        "SELECT p.proname, d.distribution_argument_index, d.force_delegation"
        "  FROM pg_proc p JOIN pg_dist_object d"
        "    ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid"
        " WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname !~ '^_'"
    ).fetchall()
    delegated = {r[0] for r in rows if r[1] == 0 and r[2]}
    assert {"create_booking_atomic", "create_hold", "check_availability", "changes_since"} <= (
        delegated
    )
    on_coordinator = {r[0] for r in rows if r[1] is None}
    assert {"create_venue", "expire_holds", "verify_invariants", "bind_tenant_role"} <= (
        on_coordinator
    )


def test_the_second_overlapping_booking_is_refused_on_each_worker(conn: Conn) -> None:
    for venue in _venues_on_each_worker(conn).values():
        table = _scalar(conn, "SELECT bookingdb.add_resource(%s, 'T1', 1, 1, 4)", (venue,))
        args = (venue, [table], _slot(19), _slot(21))
        first = conn.execute(
            "SELECT id, status FROM bookingdb.create_booking_atomic(%s, %s::bigint[], %s, %s, 2)",
            args,
        ).fetchone()
        assert first is not None and first[1] == "confirmed"
        with pytest.raises(psycopg.Error) as refused:
            conn.execute(
                "SELECT * FROM bookingdb.create_booking_atomic(%s, %s::bigint[], %s, %s, 2)",
                (venue, [table], _slot(20), _slot(22)),
            )
        assert refused.value.sqlstate == "BK001"
    assert conn.execute("SELECT * FROM bookingdb.verify_invariants()").fetchall() == []


def test_ids_are_unique_across_workers(conn: Conn) -> None:
    venues = _venues_on_each_worker(conn)
    ids = []
    for venue in venues.values():
        for n in range(3):
            ids.append(
                _scalar(conn, "SELECT bookingdb.add_resource(%s, %s, 1, 1, 4)", (venue, f"T{n}"))
            )
    assert len(set(ids)) == len(ids)
    assert all(i > 0 for i in ids)


def test_a_call_in_a_transaction_takes_its_lock_on_the_venues_node(dsn: str, conn: Conn) -> None:
    venue = next(iter(_venues_on_each_worker(conn).values()))
    table = _scalar(conn, "SELECT bookingdb.add_resource(%s, 'T1', 1, 1, 4)", (venue,))
    port = _node_of(conn, venue)
    key = int(
        _scalar(
            conn,
            "SELECT bookingdb._booking_lock_target(%s, %s, %s, %s)",
            (venue, table, _slot(19), _slot(21)),
        )
    )
    # A bigint advisory key shows in pg_locks as its two halves.
    ours = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        "   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        "   AND classid::bigint = (%(key)s >> 32) & 4294967295"
        "   AND objid::bigint = %(key)s & 4294967295 AND objsubid = 1"
    )
    with psycopg.connect(dsn) as locker:
        locker.execute(
            "SELECT bookingdb.acquire_booking_lock(%s, %s, %s, %s)",
            (venue, table, _slot(19), _slot(21)),
        )
        with psycopg.connect(make_conninfo(dsn, port=str(port)), autocommit=True) as worker:
            held = _scalar(worker, ours, {"key": key})
        here = _scalar(conn, ours, {"key": key})
        assert (held, here) == (1, 0)
        # The lock holds a booking of that resource off until the transaction ends.
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute("SET lock_timeout = '100ms'")
            with pytest.raises(psycopg.Error) as busy:
                other.execute(
                    "SELECT * FROM bookingdb.create_booking_atomic(%s, %s::bigint[], %s, %s, 2)",
                    (venue, [table], _slot(19), _slot(21)),
                )
            assert busy.value.sqlstate == "BK020"
        locker.rollback()


def test_migrate_again_keeps_the_distribution_and_the_data(dsn: str, conn: Conn) -> None:
    venue = next(iter(_venues_on_each_worker(conn).values()))
    table = _scalar(conn, "SELECT bookingdb.add_resource(%s, 'T1', 1, 1, 4)", (venue,))
    conn.execute(
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s::bigint[], %s, %s, 2)",
        (venue, [table], _slot(19), _slot(21)),
    )
    applied = migrate(dsn)
    assert "citus/distribute.sql" in applied["sql"]
    assert "bookingdb.bookings" in distribute(dsn)
    with pytest.raises(psycopg.Error) as refused:
        conn.execute(
            "SELECT * FROM bookingdb.create_booking_atomic(%s, %s::bigint[], %s, %s, 2)",
            (venue, [table], _slot(20), _slot(22)),
        )
    assert refused.value.sqlstate == "BK001"
    assert (
        _scalar(conn, "SELECT count(*) FROM bookingdb.bookings WHERE venue_id = %s", (venue,)) == 1
    )


RACERS = 16


def test_racers_for_one_slot_through_the_coordinator_one_wins_per_venue(
    dsn: str, conn: Conn
) -> None:
    venues = _venues_on_each_worker(conn)
    tables = {
        venue: _scalar(conn, "SELECT bookingdb.add_resource(%s, 'T1', 1, 1, 4)", (venue,))
        for venue in venues.values()
    }
    ledgers = {venue: Ledger() for venue in tables}
    for venue, table in tables.items():
        ledgers[venue].resource(table, 1)
    order = list(tables.items())
    lock = threading.Lock()
    outcomes = race(
        dsn,
        RACERS,
        "create_booking_atomic",
        lambda i: {
            "venue_id": order[i % len(order)][0],
            "resource_ids": [order[i % len(order)][1]],
            "starts_at": _slot(19),
            "ends_at": _slot(21),
        },
    )
    assert_refused_only_with(outcomes, {"BK001"})
    with lock:
        for outcome in outcomes:
            if outcome.row is not None:
                ledgers[int(outcome.row["venue_id"])].record(outcome.row)
    won = sorted(int(o.row["venue_id"]) for o in outcomes if o.row is not None)
    assert won == sorted(tables)
    for venue, ledger in ledgers.items():
        assert_invariants(dsn, venue, ledger)


def test_a_binding_made_with_set_local_reaches_the_venues_node(conn: Conn) -> None:
    venues = list(_venues_on_each_worker(conn).values())
    home, foreign = venues[0], venues[1]
    bind = f"SET LOCAL bookingdb.venue_id = '{home}'"
    with conn.transaction():
        conn.execute(bind)
        assert _scalar(conn, "SELECT count(*) FROM bookingdb.list_resources(%s)", (home,)) == 0
    with pytest.raises(psycopg.Error) as refused, conn.transaction():
        conn.execute(bind)
        conn.execute("SELECT * FROM bookingdb.list_resources(%s)", (foreign,))
    assert refused.value.sqlstate == "BK007"


def test_a_venue_moved_to_the_other_worker_keeps_its_bookings_and_guarantees(
    conn: Conn,
) -> None:
    """Rebalancing moves whole shard groups: move one venue's to the other
    worker and book on."""
    venues = _venues_on_each_worker(conn)
    (source, venue), (target, _other) = sorted(venues.items())
    table = _scalar(conn, "SELECT bookingdb.add_resource(%s, 'T1', 1, 1, 4)", (venue,))
    book = "SELECT id FROM bookingdb.create_booking_atomic(%s, %s::bigint[], %s, %s, 2)"
    first = _scalar(conn, book, (venue, [table], _slot(19), _slot(21)))
    shard = _scalar(
        conn, "SELECT get_shard_id_for_distribution_column('bookingdb.venues', %s)", (venue,)
    )
    move = (
        "SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s,"
        " shard_transfer_mode => 'block_writes')"
    )
    conn.execute(move, (shard, source, target))
    try:
        assert _node_of(conn, venue) == target
        with pytest.raises(psycopg.Error) as refused:
            conn.execute(book, (venue, [table], _slot(20), _slot(22)))
        assert refused.value.sqlstate == "BK001"
        second = _scalar(conn, book, (venue, [table], _slot(22), _slot(23)))
        assert second != first
        got = "SELECT status FROM bookingdb.get_booking(%s, %s)"
        assert _scalar(conn, got, (venue, first)) == "confirmed"
        assert conn.execute("SELECT * FROM bookingdb.verify_invariants()").fetchall() == []
    finally:
        # The tests share this database: leave the placement as it was.
        conn.execute(move, (shard, target, source))


def test_watch_on_the_coordinator_sees_every_change_of_a_venue_on_either_worker(
    dsn: str, conn: Conn
) -> None:
    """NOTIFY does not cross nodes; watch() polls changes_since, delegated to
    the venue's node, so a watcher on the coordinator misses nothing."""
    for venue in _venues_on_each_worker(conn).values():
        table = _scalar(conn, "SELECT bookingdb.add_resource(%s, 'T1', 1, 1, 4)", (venue,))
        made = [
            _scalar(
                conn,
                "SELECT id FROM bookingdb.create_booking_atomic(%s, %s::bigint[], %s, %s, 2)",
                (venue, [table], _slot(h), _slot(h + 1)),
            )
            for h in (17, 19, 21)
        ]
        conn.execute("SELECT * FROM bookingdb.cancel_booking(%s, %s)", (venue, made[1]))
        with BookingDB.connect(dsn, max_size=1) as db:
            seen = list(db.watch(venue, idle_timeout=1.0))
        assert [(c.booking_id, c.new_status) for c in seen] == [
            (made[0], "confirmed"),
            (made[1], "confirmed"),
            (made[2], "confirmed"),
            (made[1], "cancelled"),
        ]
        assert [c.seq for c in seen] == sorted({c.seq for c in seen})


def test_verify_invariants_reads_every_shard(dsn: str, conn: Conn) -> None:
    """A broken rule on any worker is found from the coordinator."""
    venues = _venues_on_each_worker(conn)
    for venue in venues.values():
        table = _scalar(conn, "SELECT bookingdb.add_resource(%s, 'T1', 1, 1, 4)", (venue,))
        conn.execute(
            "SELECT * FROM bookingdb.create_booking_atomic(%s, %s::bigint[], %s, %s, 2)",
            (venue, [table], _slot(19), _slot(21)),
        )
    # Break I6 (a change without its audit row) on every worker's shard.
    conn.execute("DELETE FROM bookingdb.audit_log")
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as reader:
        found = reader.execute(
            "SELECT invariant, detail FROM bookingdb.verify_invariants()"
        ).fetchall()
    assert len({r["detail"] for r in found}) >= len(venues), found
