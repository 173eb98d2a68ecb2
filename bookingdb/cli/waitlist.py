"""``waitlist join|leave|list|process``: customers waiting for a slot. When
capacity frees up the database offers the first matching entry a hold, in the
same transaction as the change that freed it."""

from typing import Annotated

import typer

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import command, console, fields_table, print_json, rows_table, show_time
from bookingdb.cli.params import (
    Dsn,
    Email,
    Ids,
    Json,
    Name,
    Party,
    Phone,
    Tz,
    Venue,
    customer_from,
    parse_ids,
    parse_time,
    zone,
)
from bookingdb.models import WaitlistEntry

waitlist_app = typer.Typer(
    help="The waitlist: freed capacity is offered to the first matching entry as a hold.",
    no_args_is_help=True,
)

EntryId = Annotated[int, typer.Argument(help="Waitlist entry id.", show_default=False)]


def _show_entry(entry: WaitlistEntry, as_json: bool, tz_name: str | None) -> None:
    where = zone(tz_name)
    if as_json:
        print_json(entry, where)
        return
    rows = [
        ("entry", str(entry.entry_id)),
        ("status", entry.status),
        ("resources", ", ".join(str(r) for r in entry.resource_ids)),
        ("starts", show_time(entry.starts_at, where)),
        ("ends", show_time(entry.ends_at, where)),
        ("party", str(entry.party_size)),
        ("priority", str(entry.priority)),
    ]
    if entry.event_id is not None:
        rows.append(("event", str(entry.event_id)))
    if entry.booking_id is not None:
        rows.append(("offered hold", str(entry.booking_id)))
    console().print(fields_table(rows))


@command(waitlist_app, "join")
def join(
    venue: Venue,
    resources: Ids,
    starts: Annotated[
        str | None,
        typer.Option(
            "--starts",
            "--start",
            help="Start, ISO 8601 with offset (with --event: default the event's).",
            show_default=False,
        ),
    ] = None,
    ends: Annotated[
        str | None,
        typer.Option(
            "--ends",
            "--end",
            help="End, ISO 8601 with offset (with --event: default the event's).",
            show_default=False,
        ),
    ] = None,
    party: Party = 1,
    priority: Annotated[
        int, typer.Option("--priority", help="Higher is served first; then first come.")
    ] = 0,
    event: Annotated[
        int | None,
        typer.Option(
            "--event", help="Wait for tickets of this event among --resources.", show_default=False
        ),
    ] = None,
    name: Name = None,
    email: Email = None,
    phone: Phone = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Wait for any one of --resources at a time (join_waitlist).

    If something is free already the entry is offered a hold at once.
    """
    where = zone(tz)
    ids = parse_ids(resources, "--resources")
    starts_at = None if starts is None else parse_time(starts, "--starts", where)
    ends_at = None if ends is None else parse_time(ends, "--ends", where)
    with open_db(dsn) as db:
        entry_id = db.join_waitlist(
            venue,
            ids,
            starts_at,
            ends_at,
            party_size=party,
            customer=customer_from(name, email, phone),
            priority=priority,
            event_id=event,
        )
        entry = next(e for e in db.waitlist(venue, include_closed=True) if e.entry_id == entry_id)
    _show_entry(entry, as_json, tz)


@command(waitlist_app, "leave")
def leave(
    venue: Venue, entry: EntryId, tz: Tz = None, dsn: Dsn = None, as_json: Json = False
) -> None:
    """Take an entry off the waitlist (leave_waitlist); an offered hold passes to the next."""
    with open_db(dsn) as db:
        left = db.leave_waitlist(venue, entry)
    _show_entry(left, as_json, tz)


@command(waitlist_app, "list")
def list_entries(
    venue: Venue,
    include_closed: Annotated[
        bool, typer.Option("--all", help="Also booked, lapsed and left entries.")
    ] = False,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Entries holding an offer, then waiting ones in serving order (waitlist)."""
    where = zone(tz)
    with open_db(dsn) as db:
        entries = db.waitlist(venue, include_closed=include_closed)
    if as_json:
        print_json(entries, where)
        return
    if not entries:
        console().print(f"nobody is waiting at venue {venue}", markup=False)
        return
    columns = (
        "entry",
        "status",
        "priority",
        "party",
        "resources",
        "starts",
        "ends",
        "event",
        "hold",
    )
    rows = (
        (
            str(e.entry_id),
            e.status,
            str(e.priority),
            str(e.party_size),
            ", ".join(str(r) for r in e.resource_ids),
            show_time(e.starts_at, where),
            show_time(e.ends_at, where),
            "-" if e.event_id is None else str(e.event_id),
            "-" if e.booking_id is None else str(e.booking_id),
        )
        for e in entries
    )
    console().print(rows_table(columns, rows, right=("entry", "priority", "party")))


@command(waitlist_app, "process")
def process(
    venue: Venue,
    max_entries: Annotated[
        int, typer.Option("--max", help="Serve at most this many waiting entries.")
    ] = 100,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Offer what is free now to waiting entries in order (process_waitlist).

    Needed only where no sweeper runs: cancellations and releases offer at once.
    """
    with open_db(dsn) as db:
        offered = db.process_waitlist(venue, max_entries)
    if as_json:
        print_json({"venue_id": venue, "offered": offered})
    else:
        console().print(f"{offered} entr{'y' if offered == 1 else 'ies'} offered a hold")


def register(app: typer.Typer) -> None:
    app.add_typer(waitlist_app, name="waitlist")
