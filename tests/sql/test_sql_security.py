"""Least privilege: the roles migrate creates, what each may do, and that a
caller's own objects cannot stand in for the engine's.

bookingdb_app may only EXECUTE the public functions; bookingdb_readonly may
read the report views and call the read-only functions; nothing is PUBLIC's.
Public functions run as the owner (SECURITY DEFINER) with a fixed
search_path and a lock_timeout of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import psycopg
from contract_kit import Conn, error_of, scalar
from psycopg import sql

PUBLIC_FUNCTIONS = """
    SELECT p.oid::regprocedure::text AS sig, p.proname, p.prosecdef, p.proconfig, p.provolatile
      FROM pg_proc p
     WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname !~ '^_'
       AND p.prorettype <> 'trigger'::regtype
"""
OWNER_ONLY = {"bind_tenant_role", "unbind_tenant_role"}


def sqlstate_of(conn: Conn, query: str, params: tuple[object, ...] = ()) -> str | None:
    err = error_of(conn, query, params)
    return None if err is None else err.sqlstate


def test_migrate_creates_the_three_roles_and_the_owner_owns_everything(conn: Conn) -> None:
    found = conn.execute("SELECT rolname FROM pg_roles WHERE rolname ~ '^bookingdb_'")
    roles = {r[0] for r in found}
    assert {"bookingdb_owner", "bookingdb_app", "bookingdb_readonly"} <= roles
    owners = conn.execute(
        """
        SELECT 'schema', pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'bookingdb'
        UNION SELECT 'relation', pg_get_userbyid(relowner) FROM pg_class
         WHERE relnamespace = 'bookingdb'::regnamespace
        UNION SELECT 'function', pg_get_userbyid(proowner) FROM pg_proc
         WHERE pronamespace = 'bookingdb'::regnamespace
        """
    ).fetchall()
    assert {owner for _, owner in owners} == {"bookingdb_owner"}


def test_nothing_in_the_schema_is_granted_to_public(conn: Conn) -> None:
    # An ACL of NULL means the built-in default, which for functions and
    # types includes PUBLIC; aclexplode reports PUBLIC as grantee 0.
    public = conn.execute(
        """
        SELECT 'function ' || p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = 'bookingdb'::regnamespace
           AND (p.proacl IS NULL
                OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
        UNION ALL
        SELECT 'relation ' || c.oid::regclass FROM pg_class c
         WHERE c.relnamespace = 'bookingdb'::regnamespace
           AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0)
        UNION ALL
        SELECT 'schema' FROM pg_namespace n
         WHERE n.nspname = 'bookingdb'
           AND (n.nspacl IS NULL
                OR EXISTS (SELECT 1 FROM aclexplode(n.nspacl) a WHERE a.grantee = 0))
        """
    ).fetchall()
    assert public == []


def test_public_functions_run_as_the_owner_with_a_fixed_path_and_a_lock_timeout(
    conn: Conn,
) -> None:
    rows = conn.execute(PUBLIC_FUNCTIONS).fetchall()
    assert len(rows) > 50
    wrong = [
        sig
        for sig, _name, secdef, config, _vol in rows
        if not secdef
        or "search_path=pg_catalog, bookingdb, pg_temp" not in (config or [])
        or not any(c.startswith("lock_timeout=") for c in config or [])
    ]
    assert wrong == []


def test_internal_functions_are_not_security_definer_except_the_report_filter(
    conn: Conn,
) -> None:
    definers = conn.execute(
        "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'bookingdb'::regnamespace"
        " AND p.proname ~ '^_' AND p.prosecdef"
    ).fetchall()
    assert [r[0] for r in definers] == ["_report_venues"]


def test_the_app_role_may_execute_every_public_function_and_nothing_else(conn: Conn) -> None:
    rows = conn.execute(
        """
        SELECT p.proname,
               has_function_privilege('bookingdb_app', p.oid, 'EXECUTE')
          FROM pg_proc p WHERE p.pronamespace = 'bookingdb'::regnamespace
        """
    ).fetchall()
    public = {name for name, _ in rows if not name.startswith("_")}
    allowed = {name for name, may in rows if may}
    # Trigger functions are never called directly; EXECUTE on them is not granted.
    assert allowed == public - OWNER_ONLY
    tables = conn.execute(
        """
        SELECT c.relname FROM pg_class c
         WHERE c.relnamespace = 'bookingdb'::regnamespace AND c.relkind IN ('r', 'v', 'S')
           AND (has_table_privilege('bookingdb_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
                OR has_table_privilege('bookingdb_app', c.oid, 'TRUNCATE, REFERENCES, TRIGGER'))
        """
    ).fetchall()
    assert tables == []


def test_the_readonly_role_reads_reports_and_read_only_functions(conn: Conn) -> None:
    rows = conn.execute(
        """
        SELECT p.proname, p.provolatile,
               has_function_privilege('bookingdb_readonly', p.oid, 'EXECUTE')
          FROM pg_proc p WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname !~ '^_'
        """
    ).fetchall()
    assert {n for n, vol, may in rows if may} == {n for n, vol, _ in rows if vol != "v"}
    readable = conn.execute(
        """
        SELECT c.relname FROM pg_class c
         WHERE c.relnamespace = 'bookingdb'::regnamespace AND c.relkind IN ('r', 'v', 'S')
           AND has_table_privilege('bookingdb_readonly', c.oid, 'SELECT')
        """
    ).fetchall()
    assert sorted(r[0] for r in readable) == [
        "report_bookings",
        "report_daily",
        "report_resources",
        "report_venues",
    ]


def test_an_app_login_books_through_functions_but_cannot_touch_tables(
    login_role: Callable[[str], str],
) -> None:
    with psycopg.connect(login_role("bookingdb_app"), autocommit=True) as app:
        venue = scalar(app, "SELECT bookingdb.create_venue('App bar')")
        table = scalar(app, "SELECT bookingdb.add_resource(%s, 'T1')", (venue,))
        starts = scalar(app, "SELECT date_trunc('hour', now()) + interval '2 days'")
        booked = scalar(
            app,
            "SELECT id FROM bookingdb.create_booking_atomic(%s, ARRAY[%s]::bigint[], %s, %s)",
            (venue, table, starts, starts + timedelta(hours=1)),
        )
        assert booked is not None
        assert sqlstate_of(app, "SELECT * FROM bookingdb.bookings") == "42501"
        assert sqlstate_of(app, "DELETE FROM bookingdb.bookings") == "42501"
        assert sqlstate_of(app, "UPDATE bookingdb.resources SET capacity = 99") == "42501"
        assert sqlstate_of(app, "SELECT * FROM bookingdb.report_bookings") == "42501"
        assert sqlstate_of(app, "SELECT bookingdb._busy()") == "42501"
        assert sqlstate_of(app, "SELECT bookingdb.bind_tenant_role(%s, 'x')", (venue,)) == "42501"
        assert sqlstate_of(app, "CREATE TABLE bookingdb.mine (x int)") == "42501"


def test_the_app_and_readonly_roles_carry_a_statement_timeout(conn: Conn) -> None:
    # A function's own SET statement_timeout cannot bound the statement that
    # calls it (PostgreSQL arms the timer when the statement starts), so the
    # bound is a role setting; README: give login roles the same.
    settings = dict(
        conn.execute(
            "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s"
            " JOIN pg_roles r ON r.oid = s.setrole"
            " WHERE r.rolname IN ('bookingdb_app', 'bookingdb_readonly') AND s.setdatabase = 0"
        ).fetchall()
    )
    assert settings == {
        "bookingdb_app": ["statement_timeout=30s"],
        "bookingdb_readonly": ["statement_timeout=30s"],
    }


def test_a_readonly_login_cannot_write_through_any_function(
    login_role: Callable[[str], str], conn: Conn
) -> None:
    venue = scalar(conn, "SELECT bookingdb.create_venue('Read bar')")
    with psycopg.connect(login_role("bookingdb_readonly"), autocommit=True) as reader:
        assert sqlstate_of(reader, "SELECT bookingdb.add_resource(%s, 'T')", (venue,)) == "42501"
        assert sqlstate_of(reader, "SELECT * FROM bookingdb.bookings") == "42501"
        assert sqlstate_of(reader, "SELECT * FROM bookingdb.list_resources(%s)", (venue,)) is None
        assert sqlstate_of(reader, "SELECT * FROM bookingdb.report_bookings") is None


def test_a_callers_own_objects_on_its_search_path_cannot_hijack_a_function(
    conn: Conn, login_role: Callable[[str], str]
) -> None:
    # The caller's schema first on its path, holding a table and functions
    # with the names the engine uses unqualified or from pg_catalog; the
    # functions would raise if ever called.
    app_dsn = login_role("bookingdb_app")
    role = psycopg.conninfo.conninfo_to_dict(app_dsn)["user"]
    conn.execute(sql.SQL("CREATE SCHEMA evil AUTHORIZATION {}").format(sql.Identifier(str(role))))
    with psycopg.connect(app_dsn, autocommit=True) as app:
        app.execute(
            """
            CREATE TABLE evil.bookings (x int);
            CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
              $$ BEGIN RAISE EXCEPTION 'hijacked now()'; END $$;
            CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE plpgsql AS
              $$ BEGIN RAISE EXCEPTION 'hijacked lower()'; END $$;
            CREATE FUNCTION evil._require_venue(bigint) RETURNS void LANGUAGE plpgsql AS
              $$ BEGIN RAISE EXCEPTION 'hijacked _require_venue()'; END $$;
            CREATE FUNCTION evil.eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
              $$ BEGIN RAISE EXCEPTION 'hijacked ='; END $$;
            CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq);
            SET search_path = evil, public;
            """
        )
        venue = scalar(app, "SELECT bookingdb.create_venue('Path bar')")
        table = scalar(app, "SELECT bookingdb.add_resource(%s, 'T1')", (venue,))
        starts = scalar(app, "SELECT date_trunc('hour', pg_catalog.now()) + interval '2 days'")
        booking = app.execute(
            "SELECT id, status FROM bookingdb.create_booking_atomic(%s, ARRAY[%s]::bigint[], %s,"
            ' %s, customer => \'{"email": "A@B.example"}\')',
            (venue, table, starts, starts + timedelta(hours=1)),
        ).fetchone()
        assert booking is not None and booking[1] == "confirmed"
        found = app.execute(
            "SELECT count(*) FROM bookingdb.customer_bookings(%s, 'a@b.example')", (venue,)
        ).fetchone()
        assert found == (1,)


def test_a_writer_that_meets_a_held_lock_gives_up_with_busy(conn: Conn, dsn: str) -> None:
    # Another transaction holds the resource row; set_resource_buffers waits
    # its own lock_timeout (200 ms in tests), then answers BK020 (retryable) and writes nothing.
    venue = scalar(conn, "SELECT bookingdb.create_venue('Lock bar')")
    table = scalar(conn, "SELECT bookingdb.add_resource(%s, 'T1')", (venue,))
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        with psycopg.connect(dsn) as other:
            other.execute(
                "SELECT 1 FROM bookingdb.resources WHERE venue_id = %s AND resource_id = %s"
                " FOR UPDATE",
                (venue, table),
            )
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(30)
        state = sqlstate_of(
            conn,
            "SELECT bookingdb.set_resource_buffers(%s, %s, interval '5 minutes', interval '0')",
            (venue, table),
        )
    finally:
        release.set()
        holder.join()
    assert state == "BK020"
    buffers = conn.execute(
        "SELECT buffer_before FROM bookingdb.list_resources(%s)", (venue,)
    ).fetchone()
    assert buffers == (timedelta(0),)
