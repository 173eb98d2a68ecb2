"""migrate: idempotent, safe to run twice at once, and sql/ owns the functions."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import psycopg.sql
import pytest

from bookingdb.migrate import migrate, migrations_dir, sql_files

from .catalog import differences, function_oids, snapshot

ALL_MIGRATIONS = sorted(path.stem for path in migrations_dir().glob("*.sql"))
ALL_SQL_FILES = [path.name for path in sql_files()]


def test_migrating_an_empty_database_applies_every_migration_and_sql_file(
    empty_database: Callable[[], str],
) -> None:
    dsn = empty_database()

    applied = migrate(dsn)

    assert applied == {"migrations": ALL_MIGRATIONS, "sql": ALL_SQL_FILES}
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT * FROM bookingdb.verify_invariants()").fetchall() == []


def test_migrating_twice_leaves_the_same_schema(empty_database: Callable[[], str]) -> None:
    dsn = empty_database()
    migrate(dsn)
    once = snapshot(dsn)

    again = migrate(dsn)

    assert again == {"migrations": [], "sql": ALL_SQL_FILES}
    assert differences(once, snapshot(dsn)) == {}


def test_the_test_template_has_the_schema_of_a_fresh_migrate(
    dsn: str, empty_database: Callable[[], str]
) -> None:
    fresh = empty_database()
    migrate(fresh)

    assert differences(snapshot(fresh), snapshot(dsn)) == {}


def test_two_concurrent_migrates_of_an_empty_database_both_succeed_as_one(
    empty_database: Callable[[], str],
) -> None:
    raced, reference = empty_database(), empty_database()
    migrate(reference)
    barrier = threading.Barrier(2)

    def run() -> dict[str, list[str]]:
        barrier.wait(30)
        return migrate(raced)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [f.result() for f in [pool.submit(run), pool.submit(run)]]

    # One of them applied the migrations, the other found nothing to do;
    # both re-created the functions; the result is what one migrate builds.
    assert sorted(r["migrations"] for r in results) == [[], ALL_MIGRATIONS]
    assert [r["sql"] for r in results] == [ALL_SQL_FILES, ALL_SQL_FILES]
    assert differences(snapshot(reference), snapshot(raced)) == {}


def test_migrate_recreates_every_function(dsn: str) -> None:
    before = function_oids(dsn)

    migrate(dsn)

    after = function_oids(dsn)
    assert sorted(after) == sorted(before)
    assert [sig for sig in after if after[sig] == before[sig]] == []


def test_a_dropped_function_comes_back_after_migrate(
    conn: psycopg.Connection[tuple[object, ...]], dsn: str
) -> None:
    conn.execute("DROP FUNCTION bookingdb.get_booking(bigint, bigint)")
    conn.execute("DROP FUNCTION bookingdb.verify_invariants()")

    migrate(dsn)

    assert conn.execute("SELECT * FROM bookingdb.verify_invariants()").fetchall() == []
    signature = conn.execute(
        "SELECT pg_get_function_arguments('bookingdb.get_booking(bigint, bigint)'::regprocedure)"
    ).fetchone()
    assert signature == ("venue_id bigint, booking_id bigint",)


def test_a_tampered_function_body_is_restored_by_migrate(
    conn: psycopg.Connection[tuple[object, ...]], dsn: str, empty_database: Callable[[], str]
) -> None:
    reference = empty_database()
    migrate(reference)
    conn.execute(
        "CREATE OR REPLACE FUNCTION bookingdb.expire_holds(max_rows int DEFAULT 1000)"
        " RETURNS int LANGUAGE sql AS 'SELECT 42'"
    )
    assert conn.execute("SELECT bookingdb.expire_holds()").fetchone() == (42,)
    assert "functions" in differences(snapshot(reference), snapshot(dsn))

    migrate(dsn)

    assert conn.execute("SELECT bookingdb.expire_holds()").fetchone() == (0,)
    assert differences(snapshot(reference), snapshot(dsn)) == {}


def test_migrate_drops_functions_and_views_that_sql_does_not_define(
    conn: psycopg.Connection[tuple[object, ...]], dsn: str, empty_database: Callable[[], str]
) -> None:
    reference = empty_database()
    migrate(reference)
    # A leftover of an old version: a stray function, an old overload of a
    # public function (a changed signature), a view nobody defines any more.
    conn.execute("CREATE FUNCTION bookingdb.stray(int) RETURNS int LANGUAGE sql AS 'SELECT $1'")
    conn.execute(
        "CREATE FUNCTION bookingdb.get_booking(venue_id bigint, booking_id bigint, extra text)"
        " RETURNS int LANGUAGE sql AS 'SELECT 1'"
    )
    conn.execute("CREATE VIEW bookingdb.stray_view AS SELECT 1 AS one")
    assert {"functions", "relations"} <= set(differences(snapshot(reference), snapshot(dsn)))

    migrate(dsn)

    leftovers = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p"
        " WHERE p.pronamespace = 'bookingdb'::regnamespace"
        "   AND (p.proname = 'stray' OR p.pronargs = 3 AND p.proname = 'get_booking')"
        " UNION ALL SELECT to_regclass('bookingdb.stray_view')::text"
        " WHERE to_regclass('bookingdb.stray_view') IS NOT NULL"
    ).fetchall()
    assert leftovers == []
    assert differences(snapshot(reference), snapshot(dsn)) == {}


def test_migrate_keeps_the_data(conn: psycopg.Connection[tuple[object, ...]], dsn: str) -> None:
    venue = conn.execute("SELECT bookingdb.create_venue('Kept', 'UTC')").fetchone()
    assert venue is not None
    table = conn.execute("SELECT bookingdb.add_resource(%s, 'table 1')", venue).fetchone()
    assert table is not None
    booked = conn.execute(
        "SELECT id, version FROM bookingdb.create_booking_atomic(%s, ARRAY[%s],"
        " now() + interval '1 day', now() + interval '1 day 1 hour')",
        (venue[0], table[0]),
    ).fetchone()
    assert booked is not None

    migrate(dsn)

    assert (
        conn.execute(
            "SELECT id, version FROM bookingdb.get_booking(%s, %s)", (venue[0], booked[0])
        ).fetchone()
        == booked
    )
    assert conn.execute("SELECT * FROM bookingdb.verify_invariants()").fetchall() == []


def test_every_function_and_trigger_in_the_schema_comes_from_sql(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in sql_files())
    defined_functions = set(
        re.findall(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+bookingdb\.(\w+)", text, re.I)
    )
    defined_triggers = set(re.findall(r"CREATE\s+TRIGGER\s+(\w+)", text, re.I))

    functions = {
        str(r[0])
        for r in conn.execute(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'bookingdb'::regnamespace"
        )
    }
    triggers = {
        str(r[0])
        for r in conn.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE c.relnamespace = 'bookingdb'::regnamespace AND NOT t.tgisinternal"
        )
    }
    assert functions == defined_functions
    assert triggers == defined_triggers


_LOCK_BOUNDS = """
SELECT DISTINCT c FROM pg_proc p, unnest(p.proconfig) c
 WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname NOT LIKE '\\_%'
   AND p.prorettype <> 'trigger'::regtype AND c LIKE 'lock\\_timeout=%'
"""
_PUBLIC_FUNCTIONS_UNBOUNDED = """
SELECT count(*) FROM pg_proc p
 WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname NOT LIKE '\\_%'
   AND p.prorettype <> 'trigger'::regtype
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'lock\\_timeout=%')
"""


def _set_lock_bound(dsn: str, value: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None
        conn.execute(
            psycopg.sql.SQL("ALTER DATABASE {} SET bookingdb.lock_timeout = {}").format(
                psycopg.sql.Identifier(str(name[0])), psycopg.sql.Literal(value)
            )
        )


def _lock_bounds(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute(_PUBLIC_FUNCTIONS_UNBOUNDED).fetchone() == (0,)
        return conn.execute(_LOCK_BOUNDS).fetchall()


def test_every_public_function_waits_for_locks_at_most_the_databases_bound(
    empty_database: Callable[[], str],
) -> None:
    dsn = empty_database()
    migrate(dsn)
    assert _lock_bounds(dsn) == [("lock_timeout=5s",)]

    _set_lock_bound(dsn, "750ms")
    migrate(dsn)
    assert _lock_bounds(dsn) == [("lock_timeout=750ms",)]


def test_a_lock_bound_postgresql_cannot_read_fails_migrate_and_changes_nothing(
    empty_database: Callable[[], str],
) -> None:
    dsn = empty_database()
    migrate(dsn)
    _set_lock_bound(dsn, "soon")

    with pytest.raises(psycopg.errors.InvalidParameterValue, match="lock_timeout"):
        migrate(dsn)
    assert _lock_bounds(dsn) == [("lock_timeout=5s",)]
