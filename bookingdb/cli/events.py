"""``event create|list|seats|inventory|hold|availability``: events and their
tickets (numbered seats and general admission). Each calls one public SQL
function; a ticket hold is then confirmed, released or cancelled like any
booking (``bookingdb confirm``, ...)."""

from collections import defaultdict
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import command, console, print_json, show_booking, show_time
from bookingdb.cli.params import (
    Dsn,
    Email,
    Ends,
    Holder,
    Ids,
    Json,
    Key,
    Name,
    Phone,
    Starts,
    Tz,
    Venue,
    customer_from,
    parse_duration,
    parse_ids,
    parse_time,
    zone,
)

event_app = typer.Typer(
    help="Events (a concert, a match) and their tickets: numbered seats and general admission.",
    no_args_is_help=True,
)

EventId = Annotated[int, typer.Argument(help="Event id.", show_default=False)]
Category = Annotated[
    str | None,
    typer.Option(
        "--category",
        help="Price category (may be omitted when the event has only one).",
        show_default=False,
    ),
]


@command(event_app, "create")
def create(
    venue: Venue,
    name: Annotated[str, typer.Argument(help="Event name.", show_default=False)],
    starts: Starts,
    ends: Ends,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Create an event for a time range and print its id (create_event)."""
    where = zone(tz)
    starts_at, ends_at = parse_time(starts, "--starts", where), parse_time(ends, "--ends", where)
    with open_db(dsn) as db:
        event_id = db.create_event(venue, name, starts_at, ends_at)
    if as_json:
        print_json(
            {
                "event_id": event_id,
                "venue_id": venue,
                "name": name,
                "starts_at": starts_at,
                "ends_at": ends_at,
            },
            where,
        )
    else:
        console().print(f"event {event_id} created: {name}", markup=False)


@command(event_app, "list")
def list_events(venue: Venue, tz: Tz = None, dsn: Dsn = None, as_json: Json = False) -> None:
    """List a venue's events in start order (list_events)."""
    where = zone(tz)
    with open_db(dsn) as db:
        events = db.list_events(venue)
    if as_json:
        print_json(events, where)
        return
    if not events:
        console().print(f"venue {venue} has no events", markup=False)
        return
    table = Table(box=box.SIMPLE_HEAD)
    for title in ("event", "name", "starts", "ends"):
        table.add_column(title, justify="right" if title == "event" else "left")
    for event in events:
        table.add_row(
            str(event.event_id),
            Text(event.name),
            show_time(event.starts_at, where),
            show_time(event.ends_at, where),
        )
    console().print(table)


@command(event_app, "seats")
def seats(
    venue: Venue,
    section: Annotated[str, typer.Option("--section", help="Section: Stalls.", show_default=False)],
    row: Annotated[str, typer.Option("--row", help="Row label: A.", show_default=False)],
    first: Annotated[int, typer.Option("--first", help="First seat number.", show_default=False)],
    count: Annotated[
        int, typer.Option("--count", help="How many adjacent seats (1-1000).", show_default=False)
    ],
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Add a row of adjacent numbered seats and print their ids in seat order (add_seat_block).

    Rows added first count as the better rows when seats are picked.
    """
    with open_db(dsn) as db:
        ids = db.add_seat_block(venue, section, row, first, count)
    if as_json:
        print_json({"venue_id": venue, "section": section, "row": row, "resource_ids": ids})
        return
    console().print(
        f"{len(ids)} seat(s) added to venue {venue}, {section} row {row} "
        f"{first}-{first + len(ids) - 1}: resources {_id_runs(ids)}",
        markup=False,
    )


def _id_runs(ids: list[int]) -> str:
    """``7-16, 20``: consecutive ids as runs."""
    runs: list[list[int]] = []
    for rid in ids:
        if runs and rid == runs[-1][-1] + 1:
            runs[-1].append(rid)
        else:
            runs.append([rid])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


@command(event_app, "inventory")
def inventory(
    venue: Venue,
    event: EventId,
    resources: Ids,
    category: Annotated[
        str, typer.Option("--category", help="Price category: Stalls.", show_default=False)
    ],
    price_cents: Annotated[
        int,
        typer.Option("--price-cents", help="Price of one ticket, in cents.", show_default=False),
    ],
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Put seats or general-admission areas on sale for an event (add_event_inventory).

    Adding a resource again changes its category and price.
    """
    ids = parse_ids(resources, "--resources")
    with open_db(dsn) as db:
        db.add_event_inventory(venue, event, ids, category, price_cents)
    if as_json:
        print_json(
            {
                "venue_id": venue,
                "event_id": event,
                "resource_ids": ids,
                "category": category,
                "price_cents": price_cents,
            }
        )
        return
    console().print(
        f"{len(ids)} resource(s) on sale for event {event} in {category} at {price_cents} cents",
        markup=False,
    )


@command(event_app, "hold")
def hold(
    venue: Venue,
    event: EventId,
    quantity: Annotated[
        int | None,
        typer.Option(
            "--quantity",
            help="How many tickets (best adjacent seats, or places).",
            show_default=False,
        ),
    ] = None,
    category: Category = None,
    seat_ids: Annotated[
        str | None,
        typer.Option(
            "--seats", help="These seats instead: 1,2 (resource ids).", show_default=False
        ),
    ] = None,
    name: Name = None,
    email: Email = None,
    phone: Phone = None,
    key: Key = None,
    ttl: Annotated[
        str | None,
        typer.Option(
            "--ttl", help="How long the hold lasts: 15m (the default), 1h.", show_default=False
        ),
    ] = None,
    holder: Holder = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Hold tickets: --quantity N [--category C], or --seats 1,2 (hold_event_tickets).

    Picked seats are adjacent in one row: the first row added that has such a
    run, nearest its middle. With --key, a replay returns the same hold.
    """
    named = None if seat_ids is None else parse_ids(seat_ids, "--seats")
    lasts = None if ttl is None else parse_duration(ttl, "--ttl")
    with open_db(dsn) as db:
        booking = db.hold_event_tickets(
            venue,
            event,
            quantity=quantity,
            seat_ids=named,
            category=category,
            customer=customer_from(name, email, phone),
            idempotency_key=key,
            ttl=lasts,
            holder=holder,
        )
    show_booking(booking, as_json, zone(tz))


@command(event_app, "availability")
def availability(venue: Venue, event: EventId, dsn: Dsn = None, as_json: Json = False) -> None:
    """What is left for an event: totals per category, then each seat or area (event_availability).

    Live holds count as taken; lapsed holds do not.
    """
    with open_db(dsn) as db:
        rows = db.event_availability(venue, event)
        names = {r.resource_id: r.name for r in db.list_resources(venue)}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        totals[row.category][0] += 1
        totals[row.category][1] += row.remaining
    if as_json:
        print_json(
            {
                "venue_id": venue,
                "event_id": event,
                "categories": [
                    {"category": c, "resources": n, "remaining": left}
                    for c, (n, left) in totals.items()
                ],
                "resources": rows,
            }
        )
        return
    out = console()
    if not rows:
        out.print(f"event {event} has nothing on sale", markup=False)
        return
    summary = Table(box=box.SIMPLE_HEAD, title=f"event {event}")
    for title in ("category", "seats/areas", "remaining"):
        summary.add_column(title, justify="left" if title == "category" else "right")
    for category, (count, left) in totals.items():
        summary.add_row(Text(category), str(count), str(left))
    out.print(summary)
    detail = Table(box=box.SIMPLE_HEAD)
    for title in ("category", "resource", "name", "remaining"):
        detail.add_column(title, justify="right" if title in ("resource", "remaining") else "left")
    for row in rows:
        detail.add_row(
            Text(row.category),
            str(row.resource_id),
            Text(names.get(row.resource_id, "-")),
            str(row.remaining),
        )
    out.print(detail)


def register(app: typer.Typer) -> None:
    app.add_typer(event_app, name="event")
