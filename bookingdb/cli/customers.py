"""``find`` and ``customer``: a booking by its human reference, and a
customer's bookings by e-mail, as a front desk looks them up. Each calls one
public SQL function."""

from typing import Annotated

import typer

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import command, show_booking, show_bookings
from bookingdb.cli.params import Dsn, InputError, Json, Tz, Venue, parse_time, zone


def find(
    venue: Venue,
    reference: Annotated[
        str, typer.Argument(help="Reference, e.g. BK-7Q3M-X2PD (any case).", show_default=False)
    ],
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Show the booking with this reference (find_booking)."""
    with open_db(dsn) as db:
        booking = db.find_booking(venue, reference)
    show_booking(booking, as_json, zone(tz))


def customer(
    venue: Venue,
    email: Annotated[str, typer.Argument(help="Customer e-mail (any case).", show_default=False)],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Bookings starting at or after this time, ISO 8601 with offset (default: now).",
            show_default=False,
        ),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Past bookings too (not with --from).")
    ] = False,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """List a customer's bookings (any status) in start order (customer_bookings)."""
    where = zone(tz)
    if everything and from_ is not None:
        raise InputError("give --from or --all, not both")
    from_ts = None if from_ is None else parse_time(from_, "--from", where)
    with open_db(dsn) as db:
        bookings = db.customer_bookings(venue, email, from_ts, include_past=everything)
    show_bookings(bookings, as_json, where, empty=f"no bookings for {email}")


def register(app: typer.Typer) -> None:
    for name, func in (("find", find), ("customer", customer)):
        command(app, name)(func)
