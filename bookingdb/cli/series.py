"""``series create`` and ``series cancel``: weekly classes and standing
reservations, booked all or nothing (create_series, cancel_series)."""

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import command, console, print_json, show_time
from bookingdb.cli.params import (
    Dsn,
    Email,
    Json,
    Key,
    Name,
    Party,
    Phone,
    Resources,
    Start,
    Tz,
    Venue,
    customer_from,
    parse_duration,
    parse_time,
    zone,
)
from bookingdb.models import Booking

series_app = typer.Typer(
    help="Recurring series: the same local time every week (or any interval).",
    no_args_is_help=True,
)


def _show(bookings: list[Booking], as_json: bool, tz_name: str | None, empty: str) -> None:
    where = zone(tz_name)
    if as_json:
        print_json(bookings, where)
        return
    if not bookings:
        console().print(empty)
        return
    table = Table(box=box.SIMPLE_HEAD)
    for title in ("series", "booking", "reference", "starts", "ends", "status"):
        table.add_column(title)
    for b in bookings:
        table.add_row(
            str(b.series_id),
            str(b.id),
            b.reference,
            show_time(b.starts_at, where),
            show_time(b.ends_at, where),
            b.status,
        )
    console().print(table)


@command(series_app, "create")
def create(
    venue: Venue,
    resource: Resources,
    start: Start,
    duration: Annotated[
        str,
        typer.Option("--duration", help="Length of each occurrence: 1h, 90m.", show_default=False),
    ],
    every: Annotated[
        str,
        typer.Option(
            "--every",
            help="Between occurrences, on the venue's calendar: 7d, 1d.",
            show_default=False,
        ),
    ],
    occurrences: Annotated[
        int, typer.Option("--occurrences", help="How many (1-366).", show_default=False)
    ],
    party: Party = 1,
    key: Key = None,
    name: Name = None,
    email: Email = None,
    phone: Phone = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Book every occurrence at the first one's local time, all or nothing (create_series)."""
    first = parse_time(start, "--start", zone(tz))
    with open_db(dsn) as db:
        booked = db.create_series(
            venue,
            resource,
            first,
            parse_duration(duration, "--duration"),
            parse_duration(every, "--every"),
            occurrences,
            party_size=party,
            customer=customer_from(name, email, phone),
            idempotency_key=key,
        )
    _show(booked, as_json, tz, "no occurrences")


@command(series_app, "cancel")
def cancel(
    venue: Venue,
    series: Annotated[int, typer.Argument(help="Series id.", show_default=False)],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Cancel occurrences from this time on (default: now).",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why, kept with each booking.", show_default=False),
    ] = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Cancel the rest of a series (cancel_series); one occurrence: 'bookingdb cancel'."""
    since = None if from_ is None else parse_time(from_, "--from", zone(tz))
    with open_db(dsn) as db:
        cancelled = db.cancel_series(venue, series, from_starts_at=since, reason=reason)
    _show(cancelled, as_json, tz, "nothing left to cancel")


def register(app: typer.Typer) -> None:
    app.add_typer(series_app, name="series")
