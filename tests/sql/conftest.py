"""Fixtures of the SQL contract layer: a venue and times in the future."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from contract_kit import Conn, scalar
from psycopg import sql
from psycopg.conninfo import make_conninfo


@pytest.fixture
def venue(conn: Conn) -> int:
    """A venue with the default rules (party sizes 1 to 50)."""
    return int(scalar(conn, "SELECT bookingdb.create_venue('Test bar', 'Europe/London')"))


@pytest.fixture
def other_venue(conn: Conn) -> int:
    return int(scalar(conn, "SELECT bookingdb.create_venue('Other bar')"))


@pytest.fixture
def at(conn: Conn) -> Callable[[float], datetime]:
    """``at(10)`` is 10:00 on a day two days ahead of the database's clock
    (a whole hour, so slots line up), as an aware datetime."""
    base: datetime = scalar(conn, "SELECT date_trunc('day', now()) + interval '2 days'")

    def at_(hours: float) -> datetime:
        return base + timedelta(hours=hours)

    return at_


@pytest.fixture
def login_role(conn: Conn, dsn: str) -> Iterator[Callable[[str], str]]:
    """``login_role('bookingdb_app')``: a DSN logging in as a new member of that role."""
    made: list[str] = []

    def make(group: str) -> str:
        name = f"bk_test_{uuid.uuid4().hex[:10]}"
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                sql.Identifier(name), sql.Identifier(group)
            )
        )
        made.append(name)
        return make_conninfo(dsn, user=name)

    yield make
    for name in made:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
