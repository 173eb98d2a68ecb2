"""Bring a database to the current schema: versioned DDL, then the functions.

Tables change only through the yoyo migrations in ``migrations/``; functions,
triggers, views and grants in ``sql/`` are dropped and re-created on every
migrate, in one transaction, so a function's history lives in git and a
changed signature never leaves an old overload behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql
from yoyo import read_migrations
from yoyo.backends import get_backend_class
from yoyo.connections import DatabaseURI

# Held (session-level, on the migrating connection only) for the whole
# migrate, so two concurrent migrates run one after the other. Migrate is an
# administrative command: run it on a direct connection, not through a
# transaction-pooling PgBouncer.
MIGRATE_LOCK_KEY = 0x424B_4D49_4752_4154  # 'BKMIGRAT'


def _packaged_dir(name: str) -> Path:
    """Return ``sql/`` or ``migrations/``: inside the wheel, else the checkout."""
    installed = Path(str(resources.files("bookingdb"))) / name
    if any(installed.glob("*.sql")):
        return installed
    return Path(__file__).resolve().parent.parent / name


def sql_dir() -> Path:
    return _packaged_dir("sql")


def migrations_dir() -> Path:
    return _packaged_dir("migrations")


def sql_files() -> list[Path]:
    """The files of ``sql/`` in load order (their numeric prefixes)."""
    return sorted(sql_dir().glob("*.sql"))


def _yoyo_uri(dsn: str) -> DatabaseURI:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    dbname = str(params.pop("dbname", "") or "") or None
    args = {key: str(value) for key, value in params.items() if value is not None}
    return DatabaseURI("postgresql+psycopg", None, None, None, None, dbname, args)


def apply_migrations(dsn: str) -> list[str]:
    """Apply the pending yoyo migrations; return the ids applied."""
    uri = _yoyo_uri(dsn)
    backend = get_backend_class(uri.scheme)(uri, "_yoyo_migration")
    backend.init_database()
    migrations = read_migrations(str(migrations_dir()))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    ids = [m.id for m in pending]
    backend.connection.close()
    return ids


_DROP_SQL_OBJECTS = """
DO $$
DECLARE
    obj record;
BEGIN
    -- Functions and procedures in the schema that no extension owns.
    FOR obj IN
        SELECT p.oid::regprocedure AS sig, p.prokind
          FROM pg_proc p
         WHERE p.pronamespace = 'bookingdb'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                              AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE',
                       CASE obj.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, obj.sig);
    END LOOP;
    FOR obj IN
        SELECT c.oid::regclass AS name
          FROM pg_class c
         WHERE c.relnamespace = 'bookingdb'::regnamespace AND c.relkind IN ('v', 'm')
    LOOP
        EXECUTE format('DROP VIEW IF EXISTS %s CASCADE', obj.name);
    END LOOP;
    -- Free-standing composite types (result types of the functions).
    FOR obj IN
        SELECT t.oid::regtype AS name
          FROM pg_type t
          JOIN pg_class c ON c.oid = t.typrelid
         WHERE t.typnamespace = 'bookingdb'::regnamespace AND c.relkind = 'c'
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', obj.name);
    END LOOP;
END
$$;
"""


def apply_sql(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Drop and re-create everything ``sql/`` defines, in the caller's transaction."""
    conn.execute(_DROP_SQL_OBJECTS)
    applied = []
    for path in sql_files():
        conn.execute(sql.SQL(path.read_text(encoding="utf-8")))
        applied.append(path.name)
    return applied


@contextmanager
def _migrate_lock(conn: psycopg.Connection[tuple[object, ...]]) -> Iterator[None]:
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK_KEY,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK_KEY,))


def migrate(dsn: str) -> dict[str, list[str]]:
    """Apply pending migrations, then re-create the functions. Idempotent;
    concurrent calls wait for each other. Returns what was applied."""
    with psycopg.connect(dsn, autocommit=True) as conn, _migrate_lock(conn):
        migrations = apply_migrations(dsn)
        with conn.transaction():
            files = apply_sql(conn)
    return {"migrations": migrations, "sql": files}
