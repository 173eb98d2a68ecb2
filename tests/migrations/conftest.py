"""Fresh, empty databases (not cloned from the migrated template)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo


@pytest.fixture
def empty_database(server_dsn: str) -> Iterator[Callable[[], str]]:
    """Make a new empty database on the test server; return its DSN. All are
    dropped when the test ends."""
    made: list[str] = []

    def make() -> str:
        name = f"bookingdb_m_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return make_conninfo(server_dsn, dbname=name)

    yield make
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_settings() -> tuple[tuple[str, str], ...]:
    """The product's defaults: these tests compare the template with a
    fresh migrate, and migrate under a storm of real clients."""
    return ()
