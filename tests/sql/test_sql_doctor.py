"""The doctor's functions as psql users call them (issue 13, "Detect and
repair"): check_allocation_indexes, hidden_overlaps, allocation_index_repairs,
I7 in verify_invariants and its line in health, against an index damaged on
purpose (damage_kit: the same damage on PostgreSQL 15 and 18)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import psycopg
import pytest
from contract_kit import (
    Conn,
    add_resource,
    book,
    expire_now,
    refuse,
    rows,
    scalar,
    violations,
)
from damage_kit import (
    BTREE,
    GIST,
    Damage,
    damage,
    move_unseen,
    overlapping_insert,
    unmaintained,
)

INDEXES = {"allocations_pkey", BTREE, GIST}


def checks(conn: Conn) -> dict[str, tuple[int | None, int | None, int | None]]:
    return {
        r["index_name"]: (r["table_rows"], r["index_rows"], r["missing"])
        for r in rows(conn, "SELECT * FROM bookingdb.check_allocation_indexes()")
    }


def missing(conn: Conn) -> dict[str, int | None]:
    return {name: counts[2] for name, counts in checks(conn).items()}


def probe_plan(conn: Conn, condition: str) -> str:
    """The plan of an index probe, under the settings the check reads indexes with."""
    with conn.transaction(force_rollback=True):
        for name in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
            conn.execute(f"SET LOCAL {name} = off")
        plan = rows(conn, f"EXPLAIN SELECT count(*) FROM bookingdb.allocations a WHERE {condition}")
    return "\n".join(str(r["QUERY PLAN"]) for r in plan)


@pytest.fixture
def damaged(conn: Conn) -> Damage:
    return damage(conn)


def test_a_sound_database_has_whole_indexes_and_no_overlaps(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    tables = [add_resource(conn, venue, f"T{i}") for i in range(3)]
    for hour, table in enumerate(tables):
        book(conn, venue, [table], at(10 + hour), at(12 + hour))
    found = checks(conn)
    assert set(found) == INDEXES
    assert found[GIST] == (3, 3, 0) and found[BTREE] == (3, 3, 0)
    assert rows(conn, "SELECT * FROM bookingdb.hidden_overlaps()") == []
    assert rows(conn, "SELECT * FROM bookingdb.allocation_index_repairs()") == []
    assert violations(conn) == []
    assert scalar(conn, "SELECT bookingdb.health()->'problems'") == []


def test_every_index_of_the_allocations_is_probed_through_itself(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    probes = {
        r["index_name"]: r["condition"]
        for r in rows(conn, "SELECT * FROM bookingdb._allocation_index_probes()")
    }
    indexes = {
        r["name"]
        for r in rows(
            conn,
            "SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'bookingdb.allocations'::regclass",
        )
    }
    assert set(probes) == indexes == INDEXES
    # Whatever the planner knows of the table: nothing, then fresh statistics
    # of a few hundred rows (with them it would rather read the btree for a
    # plain overlap query; the probe's sub-select keeps it on the GiST index).
    tables = [add_resource(conn, venue, f"T{i}") for i in range(20)]
    for table in tables:
        for hour in range(0, 30, 3):
            book(conn, venue, [table], at(10 + hour), at(12 + hour))
    for analyzed in (False, True):
        if analyzed:
            conn.execute("ANALYZE bookingdb.allocations")
        for index, condition in probes.items():
            plan = probe_plan(conn, condition)
            assert f"Bitmap Index Scan on {index}" in plan, (index, analyzed, plan)
            assert "Seq Scan" not in plan and "Bitmap Index Scan" in plan
    assert all(counts[2] == 0 for counts in checks(conn).values())


def test_the_check_finds_live_rows_missing_from_the_damaged_indexes(
    conn: Conn, damaged: Damage
) -> None:
    found = checks(conn)
    # A and C on the GiST index and the btree, B too in the table: B and C
    # were written while the indexes were not maintained.
    assert found[GIST] == (3, 1, 2)
    assert found[BTREE] == (3, 1, 2)
    assert found["allocations_pkey"][2] == 0
    kinds = [v[0] for v in violations(conn)]
    assert sorted(kinds) == ["I1", "I7", "I7"]
    details = [v[1] for v in violations(conn) if v[0] == "I7"]
    assert any(GIST in d and "2 missing" in d and "bookingdb doctor" in d for d in details)


def test_health_names_the_damaged_index(conn: Conn, damaged: Damage) -> None:
    report = scalar(conn, "SELECT bookingdb.health()")
    assert report["healthy"] is False
    assert f"allocation index {GIST} has lost entries: run bookingdb doctor" in report["problems"]
    assert f"allocation index {BTREE} has lost entries: run bookingdb doctor" in report["problems"]
    # The cheap liveness probe skips it, like the other invariants.
    assert scalar(conn, "SELECT bookingdb.health(check_invariants => false)->'healthy'") is True


def test_hidden_overlaps_names_both_bookings(conn: Conn, damaged: Damage) -> None:
    pairs = rows(conn, "SELECT * FROM bookingdb.hidden_overlaps()")
    assert len(pairs) == 1
    pair = pairs[0]
    assert (pair["venue_id"], pair["resource_id"], pair["resource_name"]) == (
        damaged.venue,
        damaged.table,
        "T1",
    )
    assert (pair["booking_id"], pair["reference"], pair["status"]) == (
        damaged.first.id,
        damaged.first.reference,
        "confirmed",
    )
    assert (pair["other_booking_id"], pair["other_reference"], pair["other_status"]) == (
        damaged.second.id,
        damaged.second.reference,
        "confirmed",
    )
    # A is 10:00-12:00, B 11:00-13:00: they share 11:00-12:00.
    assert pair["overlap"].lower == pair["other_starts_at"]
    assert pair["overlap"].upper == pair["ends_at"]


def test_the_damaged_constraint_admits_an_overlap(conn: Conn, damaged: Damage) -> None:
    # Why it matters: B is invisible to the constraint, so a row over B's
    # time goes in (rolled back here).
    with conn.transaction(force_rollback=True):
        overlapping_insert(conn, damaged, damaged.stray.id)


def test_repairs_are_refused_with_bk023_while_bookings_overlap(conn: Conn, damaged: Damage) -> None:
    err = refuse(conn, "BK023", "SELECT * FROM bookingdb.allocation_index_repairs()")
    assert damaged.first.reference in (err.diag.message_detail or "")
    assert damaged.second.reference in (err.diag.message_detail or "")
    assert "Cancel" in (err.diag.message_hint or "")
    refuse(
        conn, "BK023", "SELECT * FROM bookingdb.allocation_index_repairs(include_healthy => true)"
    )


def test_once_resolved_the_rebuild_restores_the_indexes_and_the_constraint(
    conn: Conn, damaged: Damage
) -> None:
    # The operator cancels A (B is the one the indexes lost).
    conn.execute("SELECT bookingdb.cancel_booking(%s, %s)", (damaged.venue, damaged.first.id))
    assert rows(conn, "SELECT * FROM bookingdb.hidden_overlaps()") == []
    repairs = rows(conn, "SELECT * FROM bookingdb.allocation_index_repairs()")
    assert [(r["index_name"], r["concurrently"], r["missing"]) for r in repairs] == [
        (BTREE, True, 2),
        (GIST, False, 2),
    ]
    assert repairs[0]["statement"] == f"REINDEX INDEX CONCURRENTLY bookingdb.{BTREE}"
    # PostgreSQL cannot rebuild an exclusion constraint's index concurrently.
    assert repairs[1]["statement"] == f"REINDEX INDEX bookingdb.{GIST}"
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        conn.execute(f"REINDEX INDEX CONCURRENTLY bookingdb.{GIST}")
    for repair in repairs:
        conn.execute(repair["statement"])

    assert missing(conn) == {"allocations_pkey": 0, BTREE: 0, GIST: 0}
    assert violations(conn) == []
    assert rows(conn, "SELECT * FROM bookingdb.allocation_index_repairs()") == []
    assert scalar(conn, "SELECT bookingdb.health()->'healthy'") is True
    with pytest.raises(psycopg.errors.ExclusionViolation):
        overlapping_insert(conn, damaged, damaged.stray.id)


def test_a_plain_rebuild_fails_while_the_overlap_remains(conn: Conn, damaged: Damage) -> None:
    # What BK023 spares the operator: the constraint's index cannot be built
    # over overlapping rows.
    with pytest.raises(psycopg.errors.ExclusionViolation):
        conn.execute(f"REINDEX INDEX bookingdb.{GIST}")


def test_a_lapsed_hold_in_an_overlap_reads_expired(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table, other = add_resource(conn, venue, "T1"), add_resource(conn, venue, "T2")
    book(conn, venue, [table], at(10), at(12))
    hold = rows(
        conn,
        "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, ttl => interval '1 millisecond')",
        (venue, [other], at(11), at(13)),
    )[0]
    expire_now(conn, hold)  # lapsed, its allocation still active until it is expired
    with unmaintained(conn):
        move_unseen(conn, hold["id"], table)
    pairs = rows(conn, "SELECT * FROM bookingdb.hidden_overlaps()")
    assert [(p["other_booking_id"], p["other_status"]) for p in pairs] == [(hold["id"], "expired")]
    refuse(conn, "BK023", "SELECT * FROM bookingdb.allocation_index_repairs()")
    # expire_holds resolves it: the hold's allocation is no longer active.
    assert scalar(conn, "SELECT bookingdb.expire_holds()") == 1
    assert rows(conn, "SELECT * FROM bookingdb.hidden_overlaps()") == []
