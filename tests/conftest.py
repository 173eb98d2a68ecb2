"""Test databases: one migrated template per session, a fresh clone per test.

The server comes from ``BOOKINGDB_TEST_DSN`` if set, else testcontainers when
a Docker engine answers, else a throwaway embedded PostgreSQL (deleted at the
end of the session). With ``BOOKINGDB_TEST_PGBOUNCER=1`` every test's ``dsn``
goes through a real PgBouncer in transaction pooling mode (tests/pgbouncer_kit.py);
databases are still created and dropped directly on the server.

Under pytest-xdist every worker is its own process with its own session: its
own throwaway server (or, with ``BOOKINGDB_TEST_DSN``, its own templates on
the shared server). A throwaway server runs with fsync off: it is deleted at
the end, and a killed PostgreSQL loses nothing the operating system holds.

Templates are migrated with ``database_settings`` (a fixture a directory's
conftest may override): by default the functions' lock bound is 200 ms, so a
test that waits for BK020 waits that long, not the product's 5 s.
"""

from __future__ import annotations

import os
import random
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import citus_kit
import pgbouncer_kit
import psycopg
import pytest
from hypothesis import settings
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bookingdb import BookingDB
from bookingdb.migrate import distribute, migrate

# Hypothesis profiles, chosen by BOOKINGDB_HYPOTHESIS_PROFILE: "dev" (the
# default) runs a fifth of each property's examples, "ci" (.ci/run) all of
# them; tests/property/property_kit.examples() scales each property's count.
# Nothing is derandomised: each run draws a seed, prints it in the header, and
# BOOKINGDB_HYPOTHESIS_SEED=<seed> repeats it.
HYPOTHESIS_PROFILES = {"dev": 20, "ci": 100}
HYPOTHESIS_PROFILE = os.environ.get("BOOKINGDB_HYPOTHESIS_PROFILE", "dev")
if HYPOTHESIS_PROFILE not in HYPOTHESIS_PROFILES:
    raise pytest.UsageError(
        f"BOOKINGDB_HYPOTHESIS_PROFILE={HYPOTHESIS_PROFILE!r}:"
        f" use one of {sorted(HYPOTHESIS_PROFILES)}"
    )
for _name, _examples in HYPOTHESIS_PROFILES.items():
    settings.register_profile(_name, max_examples=_examples, print_blob=True)
settings.load_profile(HYPOTHESIS_PROFILE)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """One hypothesis seed for the run (and every xdist worker, which inherits
    the environment), unless --hypothesis-seed names one."""
    if config.getoption("hypothesis_seed", None) is None:
        seed = os.environ.setdefault("BOOKINGDB_HYPOTHESIS_SEED", str(random.randrange(2**32)))
        config.option.hypothesis_seed = seed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On a Citus cluster, what does not work there yet is marked (see
    citus_kit.KNOWN_FAILURES and docs/scaling.md)."""
    if not citus_kit.coordinator_dsn():
        return
    for item in items:
        failing = citus_kit.known_gap(item.nodeid, citus_kit.KNOWN_FAILURES)
        if failing is not None:
            item.add_marker(pytest.mark.xfail(reason=f"on Citus: {failing}", strict=True))
        unreliable = citus_kit.known_gap(item.nodeid, citus_kit.UNRELIABLE)
        if unreliable is not None:
            item.add_marker(pytest.mark.skip(reason=f"on Citus: {unreliable}"))


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("hypothesis_seed", None)
    return (
        f"hypothesis: profile {HYPOTHESIS_PROFILE}, seed {seed}"
        f" (BOOKINGDB_HYPOTHESIS_SEED={seed} repeats it)"
    )


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
    configured = citus_kit.coordinator_dsn() or os.environ.get("BOOKINGDB_TEST_DSN")
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
    dsn = make_conninfo(server.start(data_dir, keep_running=False), dbname="postgres")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for setting in THROWAWAY_SERVER_SETTINGS:
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    yield dsn


# Durability a throwaway test server does without (each is reloadable).
# synchronous_commit stays on: with it off, a deleted row's index entry is not
# marked dead until its commit is flushed, and the GiST reproducer
# (tests/concurrency/test_gist_bug.py) no longer sees the bug it documents.
THROWAWAY_SERVER_SETTINGS = ("fsync", "full_page_writes")

Settings = tuple[tuple[str, str], ...]


@pytest.fixture(scope="session")
def database_settings() -> Settings:
    """Database-level settings a test's template is migrated with; the
    concurrency and fault tests override this to keep the product's bounds."""
    return (("bookingdb.lock_timeout", "200ms"),)


@pytest.fixture(scope="session")
def templates(server_dsn: str) -> Iterator[Callable[[Settings], str]]:
    """Migrated template databases, one per set of database settings, made
    on first use and dropped at the end of the session."""
    made: dict[Settings, str] = {}

    def template(settings: Settings) -> str:
        if settings not in made:
            name = f"bookingdb_tpl_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(server_dsn, autocommit=True) as conn:
                if citus_kit.coordinator_dsn():
                    # One at a time on a cluster: the workers' catalogs are
                    # shared by the databases, and two distributing at once
                    # collide there ("tuple concurrently updated").
                    conn.execute("SELECT pg_advisory_lock(%s)", (citus_kit.TEMPLATE_LOCK,))
                    citus_kit.create_database(server_dsn, name)
                else:
                    conn.execute(f'CREATE DATABASE "{name}"')
                for setting, value in settings:
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                            sql.Identifier(name),
                            sql.SQL(".").join(map(sql.Identifier, setting.split("."))),
                            sql.Literal(value),
                        )
                    )
                migrate(make_conninfo(server_dsn, dbname=name))
                if citus_kit.coordinator_dsn():
                    distribute(make_conninfo(server_dsn, dbname=name))
            made[settings] = name
        return made[settings]

    yield template
    if citus_kit.coordinator_dsn():
        for name in made.values():
            citus_kit.drop_database(server_dsn, name)
        return
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        for name in made.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def template_db(templates: Callable[[Settings], str], database_settings: Settings) -> str:
    """Name of the migrated template this test's databases are cloned from."""
    return templates(database_settings)


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
    when one runs); on Citus, the template's database with every table
    emptied."""
    if citus_kit.coordinator_dsn():
        citus_dsn = make_conninfo(server_dsn, dbname=template_db)
        citus_kit.reset(citus_dsn)
        yield citus_dsn
        return
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
