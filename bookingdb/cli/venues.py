"""``venue create|list|bind-role|unbind-role`` and
``resource add|list|buffers|pricing|sellable|link|unlink``: the things that
can be booked, their settings, and who may reach them."""

import re
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.table import Table

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import command, console, print_json
from bookingdb.cli.params import Dsn, InputError, Json, Resource, Venue, parse_duration

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


@command(venue_app, "list")
def list_venues(dsn: Dsn = None, as_json: Json = False) -> None:
    """The venues this connection may reach, with their time zones (list_venues)."""
    with open_db(dsn) as db:
        venues = db.list_venues()
    if as_json:
        print_json(venues)
        return
    table = Table(box=box.SIMPLE)
    for heading in ("id", "name", "time zone", "resources", "created"):
        table.add_column(heading)
    for v in venues:
        table.add_row(
            str(v.venue_id),
            v.name,
            v.timezone,
            str(v.resources),
            v.created_at.astimezone(ZoneInfo(v.timezone)).strftime("%Y-%m-%d %H:%M %z"),
        )
    console().print(table)


RoleName = Annotated[str, typer.Argument(help="Database role (login) name.", show_default=False)]


@command(venue_app, "bind-role")
def bind_role(venue: Venue, role: RoleName, dsn: Dsn = None, as_json: Json = False) -> None:
    """Bind a database role to the venue: its connections reach only the
    venues bound to it (bind_tenant_role). Run as the schema owner."""
    with open_db(dsn) as db:
        db.bind_tenant_role(venue, role)
    if as_json:
        print_json({"venue_id": venue, "role": role, "bound": True})
    else:
        console().print(f"role {role} bound to venue {venue}", markup=False)


@command(venue_app, "unbind-role")
def unbind_role(venue: Venue, role: RoleName, dsn: Dsn = None, as_json: Json = False) -> None:
    """Remove a role's binding to the venue (unbind_tenant_role). A role with
    no binding left reaches every venue again."""
    with open_db(dsn) as db:
        found = db.unbind_tenant_role(venue, role)
    if as_json:
        print_json({"venue_id": venue, "role": role, "was_bound": found})
    else:
        said = "unbound from" if found else "was not bound to"
        console().print(f"role {role} {said} venue {venue}", markup=False)


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


@command(resource_app, "buffers")
def set_buffers(
    venue: Venue,
    resource: Resource,
    before: Annotated[
        str,
        typer.Option(
            "--before",
            help="Changeover time before every booking: 0m, 10m, 1h.",
            show_default=False,
        ),
    ],
    after: Annotated[
        str,
        typer.Option(
            "--after", help="Changeover time after every booking: 0m, 15m, 1h.", show_default=False
        ),
    ],
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Give a resource its own buffers, from 0 to 1 day each (set_resource_buffers).

    Existing bookings keep the buffers they were made with.
    """
    buffer_before = parse_duration(before, "--before")
    buffer_after = parse_duration(after, "--after")
    with open_db(dsn) as db:
        db.set_resource_buffers(venue, resource, buffer_before, buffer_after)
    if as_json:
        print_json(
            {
                "venue_id": venue,
                "resource_id": resource,
                "before_seconds": int(buffer_before.total_seconds()),
                "after_seconds": int(buffer_after.total_seconds()),
            }
        )
    else:
        console().print(
            f"resource {resource} of venue {venue}: {before} before and {after} after "
            "every booking",
            markup=False,
        )


@command(resource_app, "pricing")
def set_pricing(
    venue: Venue,
    resource: Resource,
    deposit_cents: Annotated[
        int,
        typer.Option(
            "--deposit-cents", help="Deposit per unit booked, in cents.", show_default=False
        ),
    ],
    min_spend_cents: Annotated[
        int,
        typer.Option("--min-spend-cents", help="Minimum spend, in cents.", show_default=False),
    ],
    zone: Annotated[
        str | None,
        typer.Option(
            "--zone",
            help="Zone of the venue, e.g. upstairs ('' removes it; default: keep it). Only "
            "tables of one zone are combined.",
            show_default=False,
        ),
    ] = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Set a resource's deposit, minimum spend and zone (set_resource_pricing)."""
    with open_db(dsn) as db:
        db.set_resource_pricing(venue, resource, deposit_cents, min_spend_cents, zone)
    if as_json:
        print_json(
            {
                "venue_id": venue,
                "resource_id": resource,
                "deposit_cents": deposit_cents,
                "min_spend_cents": min_spend_cents,
                "zone": zone,
            }
        )
    else:
        where = ""
        if zone is not None:
            where = f", zone {zone.strip()}" if zone.strip() else ", no zone"
        console().print(
            f"resource {resource} of venue {venue}: deposit {deposit_cents} cents, "
            f"minimum spend {min_spend_cents} cents{where}",
            markup=False,
        )


@command(resource_app, "sellable")
def set_sellable(
    venue: Venue,
    resource: Resource,
    units: Annotated[
        str,
        typer.Argument(
            help="Units sold at once: fewer than the capacity keeps places back, more "
            "overbooks (up to 10x); 'none' sells exactly the capacity.",
            show_default=False,
        ),
    ],
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Set how many units of a shared resource may be sold at once (set_sellable_capacity).

    Lowering it below what current and future bookings use is refused (BK022).
    """
    sellable = _units(units)
    with open_db(dsn) as db:
        db.set_sellable_capacity(venue, resource, sellable)
    if as_json:
        print_json({"venue_id": venue, "resource_id": resource, "sellable_capacity": sellable})
    elif sellable is None:
        console().print(f"resource {resource} of venue {venue} sells its capacity")
    else:
        console().print(f"resource {resource} of venue {venue} sells {sellable} at once")


def _units(value: str) -> int | None:
    """``N`` or ``none``."""
    text = value.strip().lower()
    if text == "none":
        return None
    if re.fullmatch(r"-?[0-9]+", text) is None:
        raise InputError(f"sellable capacity: {value!r} is not a whole number or 'none'")
    return int(text)


TableA = Annotated[int, typer.Argument(help="A table (exclusive resource) id.", show_default=False)]
TableB = Annotated[int, typer.Argument(help="Another table id.", show_default=False)]


@command(resource_app, "link")
def link(venue: Venue, a: TableA, b: TableB, dsn: Dsn = None, as_json: Json = False) -> None:
    """Declare two tables combinable for one party (link_resources); linking twice is a no-op."""
    with open_db(dsn) as db:
        db.link_resources(venue, a, b)
    if as_json:
        print_json({"venue_id": venue, "linked": sorted((a, b))})
    else:
        console().print(f"resources {a} and {b} of venue {venue} linked")


@command(resource_app, "unlink")
def unlink(venue: Venue, a: TableA, b: TableB, dsn: Dsn = None, as_json: Json = False) -> None:
    """Remove a link made by 'resource link' (unlink_resources); no link is a no-op."""
    with open_db(dsn) as db:
        db.unlink_resources(venue, a, b)
    if as_json:
        print_json({"venue_id": venue, "unlinked": sorted((a, b))})
    else:
        console().print(f"resources {a} and {b} of venue {venue} unlinked")


def _minutes(value: timedelta) -> str:
    return f"{value.total_seconds() / 60:g}m"


@command(resource_app, "list")
def list_resources(venue: Venue, dsn: Dsn = None, as_json: Json = False) -> None:
    """The venue's resources and their settings (list_resources)."""
    with open_db(dsn) as db:
        resources = db.list_resources(venue)
    if as_json:
        print_json(resources)
        return
    table = Table(box=box.SIMPLE)
    for heading in (
        "id",
        "name",
        "kind",
        "capacity",
        "seats",
        "buffers",
        "deposit",
        "min spend",
        "zone",
        "linked to",
        "sellable",
    ):
        table.add_column(heading)
    for r in resources:
        seats = f"{r.seats_min}-{r.seats_max}" if r.seats_max is not None else f"{r.seats_min}+"
        table.add_row(
            str(r.resource_id),
            r.name,
            r.kind,
            str(r.capacity),
            seats,
            f"{_minutes(r.buffer_before)} / {_minutes(r.buffer_after)}",
            str(r.deposit_cents),
            str(r.min_spend_cents),
            r.zone or "-",
            ", ".join(map(str, r.linked_to)) or "-",
            "-" if r.sellable_capacity is None else str(r.sellable_capacity),
        )
    console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(venue_app, name="venue")
    app.add_typer(resource_app, name="resource")
