"""``venue create`` and ``resource add``: the things that can be booked."""

from typing import Annotated

import typer

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import command, console, print_json
from bookingdb.cli.params import Dsn, Json, Venue

venue_app = typer.Typer(help="Venues (tenants): a business with a time zone.", no_args_is_help=True)
resource_app = typer.Typer(
    help="Bookable resources of a venue: tables, rooms, chairs, seats.", no_args_is_help=True
)


@command(venue_app, "create")
def create_venue(
    name: Annotated[str, typer.Argument(help="Venue name.", show_default=False)],
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA zone of the venue's local times.")
    ] = "UTC",
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Create a venue and print its id (create_venue)."""
    with open_db(dsn) as db:
        venue_id = db.create_venue(name, timezone)
    if as_json:
        print_json({"venue_id": venue_id, "name": name, "timezone": timezone})
    else:
        console().print(f"venue {venue_id} created: {name} ({timezone})", markup=False)


@command(resource_app, "add")
def add_resource(
    venue: Venue,
    name: Annotated[
        str, typer.Argument(help="Resource name, e.g. 'T4 window'.", show_default=False)
    ],
    capacity: Annotated[
        int, typer.Option("--capacity", help="Units at once: 1 = exclusive, N = shared.")
    ] = 1,
    seats_min: Annotated[int, typer.Option("--seats-min", help="Smallest party that fits.")] = 1,
    seats_max: Annotated[
        int | None,
        typer.Option(
            "--seats-max", help="Largest party that fits (default: no limit).", show_default=False
        ),
    ] = None,
    kind: Annotated[str, typer.Option("--kind", help="table, room, chair, seat, service...")] = (
        "table"
    ),
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Add a bookable resource to a venue and print its id (add_resource)."""
    with open_db(dsn) as db:
        resource_id = db.add_resource(venue, name, capacity, seats_min, seats_max, kind)
    if as_json:
        print_json(
            {
                "resource_id": resource_id,
                "venue_id": venue,
                "name": name,
                "capacity": capacity,
                "seats_min": seats_min,
                "seats_max": seats_max,
                "kind": kind,
            }
        )
    else:
        console().print(
            f"resource {resource_id} added to venue {venue}: {name} ({kind}, capacity {capacity})",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(venue_app, name="venue")
    app.add_typer(resource_app, name="resource")
