"""Keeping a database in shape: ``migrate``, ``expire-holds``, ``verify``."""

from typing import Annotated

import typer

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import ExitCode, command, console, fields_table, print_json
from bookingdb.cli.output import show_violations as _show_violations
from bookingdb.cli.params import Dsn, Json
from bookingdb.config import resolve_dsn
from bookingdb.migrate import migrate as _migrate


def migrate(dsn: Dsn = None, as_json: Json = False) -> None:
    """Apply pending migrations, then re-create the functions from sql/.

    Idempotent; concurrent runs wait for each other.
    """
    applied = _migrate(resolve_dsn(dsn))
    if as_json:
        print_json(applied)
        return
    migrations = ", ".join(applied["migrations"]) or "none pending"
    console().print(
        fields_table(
            [("migrations applied", migrations), ("sql files loaded", str(len(applied["sql"])))]
        )
    )


def expire_holds(
    max_rows: Annotated[int, typer.Option("--max-rows", help="Expire at most this many.")] = 1000,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Mark lapsed holds expired (housekeeping: a lapsed hold never blocks anyway)."""
    with open_db(dsn) as db:
        expired = db.expire_holds(max_rows)
    if as_json:
        print_json({"expired": expired})
    else:
        console().print(f"{expired} hold(s) expired")


def verify(dsn: Dsn = None, as_json: Json = False) -> None:
    """Check invariants I1-I6 across the database (verify_invariants).

    Exit 0 when they hold, 1 when any row comes back.
    """
    with open_db(dsn) as db:
        violations = db.verify_invariants()
    _show_violations(violations, as_json)
    if violations:
        raise typer.Exit(int(ExitCode.NO))


def register(app: typer.Typer) -> None:
    command(app, "migrate")(migrate)
    command(app, "expire-holds")(expire_holds)
    command(app, "verify")(verify)
