"""The admin CLI: ``bookingdb COMMAND``. One module per command group; every
command is guarded by :func:`bookingdb.cli.output.guard` (one line on stderr
and a documented exit code, see :class:`bookingdb.cli.output.ExitCode`)."""

from typing import Annotated

import typer

from bookingdb import __version__
from bookingdb.bench.cli import bench
from bookingdb.cli import (
    availability,
    bookings,
    customers,
    db,
    demo,
    doctor,
    events,
    maintenance,
    monitoring,
    rules,
    series,
    stats,
    venues,
    waitlist,
)
from bookingdb.cli.output import EXIT_CODES_HELP

app = typer.Typer(
    name="bookingdb",
    help="bookingdb: a booking engine that lives in PostgreSQL. Times are ISO 8601 with an "
    "offset (2027-03-28T19:00+01:00); durations like 10m, 90m, 2h, 1h30m.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    # Locals can hold a DSN with a password: never print them.
    pretty_exceptions_show_locals=False,
)

db.register(app)
maintenance.register(app)
venues.register(app)
rules.register(app)
bookings.register(app)
customers.register(app)
series.register(app)
availability.register(app)
events.register(app)
waitlist.register(app)
monitoring.register(app)
doctor.register(app)
stats.register(app)
demo.register(app)
app.command("bench")(bench)

#: Where each command shows in ``bookingdb --help``, in this order.
PANELS: dict[str, tuple[str, ...]] = {
    "Bookings": (
        "book",
        "show",
        "find",
        "bookings",
        "customer",
        "check",
        "cancel",
        "reschedule",
        "approve",
        "reject",
        "series",
    ),
    "Holds": ("hold", "confirm", "extend", "release"),
    "Availability": ("availability", "combos", "alternatives"),
    "Venue set-up": ("venue", "resource", "rules", "hours"),
    "Events": ("event",),
    "Waitlist": ("waitlist",),
    "Operations": (
        "stats",
        "watch",
        "health",
        "doctor",
        "verify",
        "expire-holds",
        "sweep",
        "migrate",
        "distribute",
        "db",
        "demo",
        "bench",
    ),
}
_ORDER = [name for names in PANELS.values() for name in names]
_PANEL_OF = {name: panel for panel, names in PANELS.items() for name in names}
for _command in app.registered_commands:
    _command.rich_help_panel = _PANEL_OF[str(_command.name)]
for _group in app.registered_groups:
    _group.rich_help_panel = _PANEL_OF[str(_group.name)]
app.registered_commands.sort(key=lambda info: _ORDER.index(str(info.name)))
app.registered_groups.sort(key=lambda info: _ORDER.index(str(info.name)))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"bookingdb {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


def main() -> None:
    app(prog_name="bookingdb")


__all__ = ["app", "main"]
