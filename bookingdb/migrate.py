"""Bring a database to the current schema: versioned DDL, then the functions.

Tables change only through the yoyo migrations in ``migrations/``; functions,
triggers, views and grants in ``sql/`` are dropped and re-created on every
migrate, in one transaction, so a function's history lives in git and a
changed signature never leaves an old overload behind.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg
import sqlparse
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


def apply_migrations(dsn: str, upto: str | None = None) -> list[str]:
    """Apply the pending yoyo migrations (only those up to and including the
    id ``upto``, if given); return the ids applied."""
    uri = _yoyo_uri(dsn)
    backend = get_backend_class(uri.scheme)(uri, "_yoyo_migration")
    backend.init_database()
    migrations = read_migrations(str(migrations_dir()))
    if upto is not None:
        migrations = migrations.filter(lambda m: m.id <= upto)
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
END
$$;
"""

# The result types (sql/000_types.sql) are built in a scratch schema and
# moved in only where they differ: a type dropped and re-created under a
# booking that is waiting for migrate's locks would fail that booking when it
# resumes ("cache lookup failed for type"), while functions are looked up by
# name again and are safe to re-create.
TYPES_FILE = "000_types.sql"
_SCRATCH = "bookingdb_next_types"
_SYNC_TYPES = f"""
DO $$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        WITH types AS (
            SELECT t.typname, t.oid, t.typnamespace::regnamespace::text AS schema,
                   (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                     ORDER BY a.attnum)
                      FROM pg_attribute a
                     WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS cols
              FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
             WHERE t.typnamespace IN ('bookingdb'::regnamespace, '{_SCRATCH}'::regnamespace)
               AND c.relkind = 'c')
        SELECT coalesce(n.typname, o.typname) AS name, n.oid AS new_oid, o.oid AS old_oid,
               coalesce(n.cols = o.cols, false) AS same
          FROM (SELECT * FROM types WHERE schema = '{_SCRATCH}') n
          FULL JOIN (SELECT * FROM types WHERE schema = 'bookingdb') o ON o.typname = n.typname
    LOOP
        IF obj.same THEN
            EXECUTE format('COMMENT ON TYPE bookingdb.%I IS %L', obj.name,
                           obj_description(obj.new_oid, 'pg_type'));
            CONTINUE;
        END IF;
        IF obj.old_oid IS NOT NULL THEN
            EXECUTE format('DROP TYPE bookingdb.%I CASCADE', obj.name);
        END IF;
        IF obj.new_oid IS NOT NULL THEN
            EXECUTE format('ALTER TYPE {_SCRATCH}.%I SET SCHEMA bookingdb', obj.name);
        END IF;
    END LOOP;
    DROP SCHEMA {_SCRATCH} CASCADE;
END
$$;
"""


def execute_script(conn: psycopg.Connection[tuple[object, ...]], code: str) -> None:
    """Run a file of SQL one statement at a time: Citus forwards some DDL
    (CREATE TRIGGER on a distributed table) to the workers as the query text
    it was given, and a worker refuses several commands in one."""
    for statement in sqlparse.split(code, strip_semicolon=False):
        if sqlparse.format(statement, strip_comments=True).strip():
            conn.execute(sql.SQL(statement))


def _apply_types(conn: psycopg.Connection[tuple[object, ...]], code: str) -> None:
    conn.execute(f"DROP SCHEMA IF EXISTS {_SCRATCH} CASCADE")
    conn.execute(f"CREATE SCHEMA {_SCRATCH}")
    execute_script(conn, code.replace("bookingdb.", f"{_SCRATCH}."))
    conn.execute(_SYNC_TYPES)


@dataclass(frozen=True)
class Roles:
    """The roles migrate creates (NOLOGIN) and grants to; see sql/090_grants.sql."""

    owner: str = "bookingdb_owner"
    app: str = "bookingdb_app"
    readonly: str = "bookingdb_readonly"

    def names(self) -> tuple[str, str, str]:
        return (self.owner, self.app, self.readonly)


# Sessions of the app and readonly roles: a function's SET clause cannot
# bound the statement that calls it (PostgreSQL arms statement_timeout when
# the statement starts), so the bound is the role's.
ROLE_STATEMENT_TIMEOUT = "30s"


def ensure_roles(conn: psycopg.Connection[tuple[object, ...]], roles: Roles) -> None:
    """Create the roles that do not exist yet. Roles are cluster-wide, so two
    databases (or two concurrent migrates) may race to create one: the loser
    finds it there."""
    if len(set(roles.names())) != 3:
        raise ValueError(f"the owner, app and readonly roles must differ: {roles.names()}")
    for name in roles.names():
        found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        if found is None:
            with contextlib.suppress(
                psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation
            ):
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    for name in (roles.app, roles.readonly):
        _set_role_statement_timeout(conn, name)


_ROLE_SETTING_IS_CURRENT = """
SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                WHERE r.rolname = %s AND s.setdatabase = 0
                  AND %s = ANY (s.setconfig))
"""
ROLE_SETTING_ATTEMPTS = 20


def _set_role_statement_timeout(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    """Roles and their settings are cluster-wide: migrates of two databases
    (each under its own database's lock) may both write the same role's
    setting, and the loser gets "tuple concurrently updated" (XX000). Write
    only when it differs, and try again when another writer got there first."""
    wanted = f"statement_timeout={ROLE_STATEMENT_TIMEOUT}"
    statement = sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
        sql.Identifier(name), sql.Literal(ROLE_STATEMENT_TIMEOUT)
    )
    for attempt in range(ROLE_SETTING_ATTEMPTS):
        row = conn.execute(_ROLE_SETTING_IS_CURRENT, (name, wanted)).fetchone()
        if row is not None and row[0]:
            return
        try:
            conn.execute(statement)
            return
        except psycopg.errors.InternalError_ as err:
            if "concurrently updated" not in str(err) or attempt == ROLE_SETTING_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.01, 0.05))


def apply_sql(
    conn: psycopg.Connection[tuple[object, ...]], roles: Roles | None = None
) -> list[str]:
    """Drop and re-create everything ``sql/`` defines, in the caller's transaction."""
    _set_role_names(conn, roles or Roles())
    citus = _citus_state(conn)
    if citus is not None:
        # Objects created in this transaction reach the workers as they are
        # made, not at the end (Citus propagates them only in sequential mode).
        conn.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
    conn.execute(_DROP_SQL_OBJECTS)
    applied = []
    for path in sql_files():
        code = path.read_text(encoding="utf-8")
        if path.name == TYPES_FILE:
            _apply_types(conn, code)
        else:
            execute_script(conn, code)
        applied.append(path.name)
    if citus == "distributed":
        execute_script(conn, distribute_file().read_text(encoding="utf-8"))
        applied.append(f"citus/{distribute_file().name}")
    return applied


def _set_role_names(conn: psycopg.Connection[tuple[object, ...]], roles: Roles) -> None:
    """Tell sql/ (090_grants.sql, citus/distribute.sql) the roles' names, for
    this transaction."""
    for setting, name in zip(
        ("bookingdb.owner_role", "bookingdb.app_role", "bookingdb.readonly_role"),
        roles.names(),
        strict=True,
    ):
        conn.execute("SELECT set_config(%s, %s, true)", (setting, name))


def distribute_file() -> Path:
    return sql_dir() / "citus" / "distribute.sql"


def _citus_state(conn: psycopg.Connection[tuple[object, ...]]) -> str | None:
    """None on plain PostgreSQL; "citus" where the extension is installed,
    "distributed" once the schema is distributed."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone() is None:
        return None
    row = conn.execute(
        "SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('bookingdb.venues')"
    ).fetchone()
    return "citus" if row is None else "distributed"


# A second migrate waits for the first by polling, never inside
# pg_advisory_lock: a statement that waits holds a snapshot, and the first
# migrate's CREATE INDEX CONCURRENTLY waits for every older snapshot to go,
# while it holds the lock the second waits for. Neither would ever finish.
LOCK_POLL_MAX_SECONDS = 0.5


@contextmanager
def _migrate_lock(conn: psycopg.Connection[tuple[object, ...]]) -> Iterator[None]:
    pause = 0.01
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATE_LOCK_KEY,)).fetchone()
        if row is not None and row[0]:
            break
        time.sleep(pause)
        pause = min(pause * 2, LOCK_POLL_MAX_SECONDS)
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK_KEY,))


# Re-creating the functions drops and re-creates the triggers, which lock
# the tables bookings write to. Taken one by one while bookings run, those
# locks would deadlock with them, and PostgreSQL's deadlock check might pick
# a booking as the victim. So migrate first locks every table of the schema
# in one statement that gives up well before deadlock_timeout, holding
# nothing else yet: a booking that waits behind migrate can never be in a
# cycle long enough to be checked. When it gives up, migrate rolls back
# (bookings go on) and tries again after a jittered pause.
_SCHEMA_RELATIONS = """
SELECT c.relname FROM pg_class c
 WHERE c.relnamespace = 'bookingdb'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
 ORDER BY c.relname
"""
LOCK_ATTEMPTS = 200


def _lock_schema_tables(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    names = [str(r[0]) for r in conn.execute(_SCHEMA_RELATIONS)]
    if not names:
        return
    conn.execute(
        "SELECT set_config('lock_timeout', bound, true),"
        "       set_config('statement_timeout', bound, true)"
        "  FROM (SELECT greatest(10, setting::int / 2) || 'ms' AS bound"
        "          FROM pg_settings WHERE name = 'deadlock_timeout') AS half"
    )
    relations = sql.SQL(", ").join(sql.Identifier("bookingdb", name) for name in names)
    conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(relations))
    conn.execute("SELECT set_config('statement_timeout', '0', true)")


def _recreate_sql_objects(conn: psycopg.Connection[tuple[object, ...]], roles: Roles) -> list[str]:
    for attempt in range(LOCK_ATTEMPTS):
        try:
            with conn.transaction():
                _lock_schema_tables(conn)
                return apply_sql(conn, roles)
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
            if attempt == LOCK_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.05, 0.25))
    raise AssertionError("unreachable")


def distribute(dsn: str, roles: Roles | None = None) -> list[str]:
    """Distribute a migrated database on a Citus coordinator (see
    sql/citus/distribute.sql): migrate first, then this; idempotent, and
    migrate repeats it on a distributed database. Returns the tables that
    are distributed."""
    roles = roles or Roles()
    with psycopg.connect(dsn, autocommit=True) as conn, _migrate_lock(conn):
        if _citus_state(conn) is None:
            raise RuntimeError(
                "this database has no citus extension: distribute runs on a Citus coordinator"
            )
        if conn.execute("SELECT to_regclass('bookingdb.venues')").fetchone() == (None,):
            raise RuntimeError("the bookingdb schema is not here: run bookingdb migrate first")
        with conn.transaction():
            _set_role_names(conn, roles)
            execute_script(conn, distribute_file().read_text(encoding="utf-8"))
        rows = conn.execute(
            "SELECT logicalrelid::regclass::text FROM pg_dist_partition"
            " WHERE logicalrelid::regclass::text LIKE 'bookingdb.%' ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def migrate(dsn: str, roles: Roles | None = None) -> dict[str, list[str]]:
    """Create the roles, apply pending migrations, then re-create the
    functions and grants. Idempotent; concurrent calls wait for each other;
    safe while bookings run (see _lock_schema_tables). Returns what was
    applied."""
    roles = roles or Roles()
    with psycopg.connect(dsn, autocommit=True) as conn, _migrate_lock(conn):
        ensure_roles(conn, roles)
        migrations = apply_migrations(dsn)
        files = _recreate_sql_objects(conn, roles)
    return {"migrations": migrations, "sql": files}
