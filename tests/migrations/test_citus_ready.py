"""The schema stays ready to be distributed by venue_id (Citus): every table
carries venue_id, every key includes it, ids are bigint, and the public
functions take venue_id first. This inspects the catalog of a migrated
database on every server; make test-citus runs the schema on a real cluster."""

from __future__ import annotations

import psycopg

Conn = psycopg.Connection[tuple[object, ...]]

# Functions that are not about one venue: housekeeping over all venues and the
# catalogue. Under Citus they run on the coordinator, not delegated to a shard.
GLOBAL_FUNCTIONS = {
    "create_venue",
    "list_venues",
    "error_codes",
    "expire_holds",
    "health",
    "verify_invariants",
    # The doctor (issue 13): indexes and overlaps across venues.
    "check_allocation_indexes",
    "hidden_overlaps",
    "allocation_index_repairs",
}


def test_every_table_carries_venue_id(conn: Conn) -> None:
    missing = conn.execute(
        """SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = 'bookingdb'::regnamespace AND c.relkind IN ('r', 'p')
              AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                               WHERE a.attrelid = c.oid AND a.attname = 'venue_id'
                                 AND NOT a.attisdropped)
            ORDER BY 1"""
    ).fetchall()
    assert missing == []


def test_every_key_and_unique_index_includes_venue_id(conn: Conn) -> None:
    constraints = conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, c.contype
             FROM pg_constraint c
            WHERE c.connamespace = 'bookingdb'::regnamespace AND c.contype IN ('p', 'u', 'x', 'f')
              AND NOT EXISTS (SELECT 1 FROM unnest(c.conkey) AS k(n)
                                JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                               WHERE a.attname = 'venue_id')
            ORDER BY 1, 2"""
    ).fetchall()
    assert constraints == []
    foreign = conn.execute(
        """SELECT c.conname FROM pg_constraint c
            WHERE c.connamespace = 'bookingdb'::regnamespace AND c.contype = 'f'
              AND NOT EXISTS (SELECT 1 FROM unnest(c.confkey) AS k(n)
                                JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                               WHERE a.attname = 'venue_id')"""
    ).fetchall()
    assert foreign == []
    indexes = conn.execute(
        """SELECT i.indexrelid::regclass::text FROM pg_index i
             JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relnamespace = 'bookingdb'::regnamespace AND i.indisunique
              AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) AS k(n)
                                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                               WHERE a.attname = 'venue_id')"""
    ).fetchall()
    assert indexes == []


def test_every_id_column_is_bigint(conn: Conn) -> None:
    wrong = conn.execute(
        """SELECT c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = 'bookingdb'::regnamespace AND c.relkind IN ('r', 'p')
              AND a.attnum > 0 AND NOT a.attisdropped
              AND (a.attname = 'id' OR a.attname LIKE '%\\_id')
              AND a.atttypid <> 'bigint'::regtype
            ORDER BY 1"""
    ).fetchall()
    assert wrong == []


def test_every_public_function_takes_venue_id_first(conn: Conn) -> None:
    rows = conn.execute(
        """SELECT p.proname, coalesce(p.proargnames[1], ''), format_type(p.proargtypes[0], NULL)
             FROM pg_proc p
            WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname !~ '^_'
              AND p.prokind = 'f'
            ORDER BY 1"""
    ).fetchall()
    not_first = sorted(
        str(name)
        for name, first, first_type in rows
        if (first, first_type) != ("venue_id", "bigint") and name not in GLOBAL_FUNCTIONS
    )
    assert not_first == []
    names = {str(name) for name, _, _ in rows}
    assert names >= GLOBAL_FUNCTIONS, "the allow-list names a function that no longer exists"
