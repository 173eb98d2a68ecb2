"""The admin CLI: ``bookingdb COMMAND``. One module per command group; every
command is guarded by :func:`bookingdb.cli.output.guard` (one line on stderr
and a documented exit code, see :class:`bookingdb.cli.output.ExitCode`)."""

import typer

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


def main() -> None:
    app(prog_name="bookingdb")


__all__ = ["app", "main"]
