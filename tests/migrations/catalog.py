"""A snapshot of everything migrate builds, read from pg_catalog.

Two databases whose snapshots are equal have the same schema: the same
tables, columns, defaults, constraints, indexes, triggers, types, functions
(signature, body, settings, comment, privileges), extensions and applied
migrations. Object ids and timestamps are left out, so the snapshots of two
databases built the same way compare equal.
"""

from __future__ import annotations

from typing import Any

import psycopg

QUERIES = {
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid),
               pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
               p.prokind, p.provolatile, p.prosecdef, p.proconfig,
               p.prosrc, obj_description(p.oid, 'pg_proc'), p.proacl::text
          FROM pg_proc p
         WHERE p.pronamespace = 'bookingdb'::regnamespace
         ORDER BY 1, 2
    """,
    "relations": """
        SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class'), c.relacl::text
          FROM pg_class c
         WHERE c.relnamespace = 'bookingdb'::regnamespace
         ORDER BY 1
    """,
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
          FROM pg_class c
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
         WHERE c.relnamespace = 'bookingdb'::regnamespace
         ORDER BY 1, 2
    """,
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
          FROM pg_constraint
         WHERE connamespace = 'bookingdb'::regnamespace
         ORDER BY 1, 2
    """,
    "indexes": """
        SELECT tablename, indexname, indexdef
          FROM pg_indexes
         WHERE schemaname = 'bookingdb'
         ORDER BY 1, 2
    """,
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
          FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = 'bookingdb'::regnamespace AND NOT t.tgisinternal
         ORDER BY 1, 2
    """,
    "types": """
        SELECT t.typname, t.typtype, obj_description(t.oid, 'pg_type')
          FROM pg_type t
         WHERE t.typnamespace = 'bookingdb'::regnamespace
         ORDER BY 1
    """,
    "extensions": "SELECT extname, extnamespace::regnamespace::text FROM pg_extension ORDER BY 1",
    "schema": """
        SELECT nspname, nspacl::text FROM pg_namespace WHERE nspname = 'bookingdb'
    """,
    "migrations": "SELECT migration_id FROM public._yoyo_migration ORDER BY 1",
}

Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(dsn: str) -> Snapshot:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {name: conn.execute(query).fetchall() for name, query in QUERIES.items()}


def differences(left: Snapshot, right: Snapshot) -> dict[str, tuple[list[Any], list[Any]]]:
    """Per catalog, the rows only in ``left`` and the rows only in ``right``."""
    diff = {}
    for name in QUERIES:
        only_left = [row for row in left[name] if row not in right[name]]
        only_right = [row for row in right[name] if row not in left[name]]
        if only_left or only_right:
            diff[name] = (only_left, only_right)
    return diff


def function_oids(dsn: str) -> dict[str, int]:
    """``name(identity arguments)`` → oid for every function of the schema."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT p.oid::regprocedure::text, p.oid::int8 FROM pg_proc p"
            " WHERE p.pronamespace = 'bookingdb'::regnamespace"
        ).fetchall()
    return {str(sig): int(oid) for sig, oid in rows}
