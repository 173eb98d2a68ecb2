"""Keeping a database in shape: ``migrate``, ``expire-holds``, ``sweep``, ``verify``."""

import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import ExitCode, command, console, fields_table, print_json
from bookingdb.cli.output import show_violations as _show_violations
from bookingdb.cli.params import Dsn, InputError, Json, parse_duration
from bookingdb.config import resolve_dsn
from bookingdb.migrate import Roles
from bookingdb.migrate import distribute as _distribute
from bookingdb.migrate import migrate as _migrate

OwnerRole = Annotated[
    str, typer.Option("--owner-role", help="Role that owns the schema (migrate creates it).")
]


def migrate(
    dsn: Dsn = None,
    as_json: Json = False,
    owner_role: OwnerRole = Roles.owner,
    app_role: Annotated[
        str, typer.Option("--app-role", help="Role that may only EXECUTE the public functions.")
    ] = Roles.app,
    readonly_role: Annotated[
        str, typer.Option("--readonly-role", help="Role that reads the report_* views.")
    ] = Roles.readonly,
) -> None:
    """Create the roles, apply pending migrations, then re-create the
    functions, views and grants from sql/.

    Idempotent; concurrent runs wait for each other. Run it as a superuser or
    a role that may create roles and owns the database.
    """
    try:
        roles = Roles(owner=owner_role, app=app_role, readonly=readonly_role)
        applied = _migrate(resolve_dsn(dsn), roles)
    except ValueError as err:
        raise InputError(str(err)) from err
    if as_json:
        print_json(applied)
        return
    migrations = ", ".join(applied["migrations"]) or "none pending"
    console().print(
        fields_table(
            [("migrations applied", migrations), ("sql files loaded", str(len(applied["sql"])))]
        )
    )


def distribute(
    dsn: Dsn = None,
    as_json: Json = False,
    owner_role: OwnerRole = Roles.owner,
) -> None:
    """Distribute a migrated database on a Citus coordinator by venue_id
    (sql/citus/distribute.sql; see docs/scaling.md).

    Run migrate first; the database may already hold data. Idempotent; later
    migrates keep the distribution.
    """
    try:
        tables = _distribute(resolve_dsn(dsn), Roles(owner=owner_role))
    except (ValueError, RuntimeError) as err:
        raise InputError(str(err)) from err
    if as_json:
        print_json({"distributed_tables": tables})
        return
    console().print(fields_table([("distributed tables", ", ".join(tables))]))


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


def sweep(
    every: Annotated[
        str, typer.Option("--every", help="Pause between rounds: 30s, 1m, 5m.")
    ] = "60s",
    max_rows: Annotated[
        int, typer.Option("--max-rows", help="Expire at most this many per call.")
    ] = 1000,
    rounds: Annotated[
        int | None,
        typer.Option(
            "--rounds",
            help="Stop after this many rounds (default: until Ctrl-C).",
            show_default=False,
        ),
    ] = None,
    dsn: Dsn = None,
) -> None:
    """Run expire_holds in a loop for tidy tables (correctness never depends on it).

    Each round drains every lapsed hold (max-rows at a time), prints one line
    and waits --every. Ctrl-C stops it cleanly.
    """
    pause = parse_duration(every, "--every").total_seconds()
    if pause <= 0:
        raise InputError("--every must be positive")
    done = 0
    with open_db(dsn) as db:
        try:
            while rounds is None or done < rounds:
                expired = batch = db.expire_holds(max_rows)
                while batch == max_rows:
                    batch = db.expire_holds(max_rows)
                    expired += batch
                done += 1
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                console().print(f"{stamp} round {done}: {expired} hold(s) expired", markup=False)
                if rounds is None or done < rounds:
                    time.sleep(pause)
        except KeyboardInterrupt:
            console().print(f"stopped after {done} round(s)")


def verify(dsn: Dsn = None, as_json: Json = False) -> None:
    """Check invariants I1-I7 across the database (verify_invariants).

    Exit 0 when they hold, 1 when any row comes back.
    """
    with open_db(dsn) as db:
        violations = db.verify_invariants()
    _show_violations(violations, as_json)
    if violations:
        raise typer.Exit(int(ExitCode.NO))


def register(app: typer.Typer) -> None:
    command(app, "migrate")(migrate)
    command(app, "distribute")(distribute)
    command(app, "expire-holds")(expire_holds)
    command(app, "sweep")(sweep)
    command(app, "verify")(verify)
