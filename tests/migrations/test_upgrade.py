"""Safe upgrades: a database upgraded one migration at a time ends with the
schema of a fresh install, compared as ``pg_dump --schema-only`` prints it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import psycopg

from bookingdb import server
from bookingdb.migrate import Roles, apply_migrations, apply_sql, ensure_roles, migrate

from .test_migrate import ALL_MIGRATIONS


def schema_dump(dsn: str) -> str:
    """``pg_dump --schema-only`` of the database, normalised: comments, blank
    lines, the per-run ``\\restrict`` keys of newer pg_dump and per-database
    column stamps left out."""
    done = subprocess.run(
        [str(server.bin_path("pg_dump")), "--schema-only", "--no-owner", "--dbname", dsn],
        check=True,
        capture_output=True,
        text=True,
    )
    kept = []
    for line in done.stdout.splitlines():
        if not line.strip() or line.startswith("--") or re.match(r"\\(un)?restrict ", line):
            continue
        # The system PostgreSQL 15 of our CI machine stamps every column with
        # a pg_attver attribute option (not ours) that differs per database.
        if re.search(r"ALTER COLUMN \S+ SET \(pg_attver=\d+\);$", line):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept)


def test_migrations_applied_one_by_one_give_the_schema_of_a_fresh_install(
    empty_database: Callable[[], str],
) -> None:
    stepwise, fresh = empty_database(), empty_database()
    applied = []
    for migration in ALL_MIGRATIONS:
        applied += apply_migrations(stepwise, upto=migration)
    assert applied == ALL_MIGRATIONS
    with psycopg.connect(stepwise, autocommit=True) as conn:
        ensure_roles(conn, Roles())
        with conn.transaction():
            apply_sql(conn)
    migrate(fresh)

    one_by_one, at_once = schema_dump(stepwise), schema_dump(fresh)

    assert "CREATE TABLE bookingdb.bookings" in at_once
    assert one_by_one == at_once


def test_an_upgrade_from_every_earlier_migration_gives_the_fresh_schema(
    empty_database: Callable[[], str],
) -> None:
    # A database left at each earlier step (as an older release left it),
    # then migrated by this release: the same schema every time.
    fresh = empty_database()
    migrate(fresh)
    expected = schema_dump(fresh)
    for stop in ALL_MIGRATIONS[:-1]:
        old = empty_database()
        apply_migrations(old, upto=stop)
        later = migrate(old)["migrations"]
        assert later == [m for m in ALL_MIGRATIONS if m > stop]
        assert schema_dump(old) == expected, f"upgrade from {stop}"
