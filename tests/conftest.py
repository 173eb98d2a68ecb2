"""Test databases: one migrated template per session, a fresh clone per test.

The server comes from ``BOOKINGDB_TEST_DSN`` if set, else testcontainers when
a Docker engine answers, else a throwaway embedded PostgreSQL (deleted at the
end of the session). With ``BOOKINGDB_TEST_PGBOUNCER=1`` every test's ``dsn``
goes through a real PgBouncer in transaction pooling mode (tests/pgbouncer_kit.py);
databases are still created and dropped directly on the server.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pgbouncer_kit
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from bookingdb import BookingDB
from bookingdb.migrate import migrate


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """A DSN for a maintenance database on the server the tests use."""
    configured = os.environ.get("BOOKINGDB_TEST_DSN")
    if configured:
        yield configured
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as container:
            yield container.get_connection_url()
        return
    from bookingdb import server

    scratch = Path(tempfile.mkdtemp(prefix="bookingdb-test-"))
    # Our own fresh directory: as root the server runs as another OS user,
    # which must be able to enter it (server.py refuses to open it for us).
    scratch.chmod(0o755)
    data_dir = scratch / "pgdata"
    dsn = server.start(data_dir, keep_running=False)
    yield make_conninfo(dsn, dbname="postgres")


@pytest.fixture(scope="session")
def template_db(server_dsn: str) -> Iterator[str]:
    """Name of a database migrated once for the session, used as a template."""
    name = f"bookingdb_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(make_conninfo(server_dsn, dbname=name))
    yield name
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pgbouncer(server_dsn: str) -> Iterator[pgbouncer_kit.PgBouncer | None]:
    """With ``BOOKINGDB_TEST_PGBOUNCER=1``, a PgBouncer in transaction pooling
    mode in front of the server (every test skipped, with the reason, where
    none can be installed or started); else None."""
    if not pgbouncer_kit.wanted():
        yield None
        return
    with pgbouncer_kit.running(server_dsn) as bouncer:
        yield bouncer


@pytest.fixture
def dsn(
    server_dsn: str,
    template_db: str,
    pgbouncer: pgbouncer_kit.PgBouncer | None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A fresh, migrated database of its own for one test (through PgBouncer
    when one runs)."""
    name = f"bookingdb_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    if pgbouncer is None:
        yield make_conninfo(server_dsn, dbname=name)
    else:
        if not pgbouncer.tracks_prepared_statements:
            pgbouncer_kit.client_prepares_off(monkeypatch)
        yield pgbouncer.dsn(name)
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection, as a psql user has."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture
def db(dsn: str, pgbouncer: pgbouncer_kit.PgBouncer | None) -> Iterator[BookingDB]:
    threshold = pgbouncer.prepare_threshold if pgbouncer is not None else 5
    with BookingDB.connect(dsn, max_size=4, prepare_threshold=threshold) as client:
        yield client
