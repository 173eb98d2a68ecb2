"""Finding room: ``availability`` (a venue's local day as a timeline, and its
bookable start times), ``combos`` (tables to push together for a large party)
and ``alternatives`` (the nearest free slots to a request)."""

import math
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import command, console, print_json, show_time
from bookingdb.cli.params import (
    Dsn,
    End,
    InputError,
    Json,
    Length,
    Party,
    Quantity,
    Resources,
    Start,
    Tz,
    Venue,
    parse_day,
    parse_duration,
    time_range,
    zone,
)
from bookingdb.client import Window
from bookingdb.models import Slot

# One timeline character each; readable without colour too.
FREE, BOOKED, UNAVAILABLE = "█", "x", "·"
LEGEND = f"{FREE} free   {BOOKED} booked   {UNAVAILABLE} closed, too soon or changeover"
# The width of one timeline character when --step is not given.
DEFAULT_CELL = "15m"


def _venue_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"the venue's time zone {name!r} is not in this machine's zone database "
            "(install the tzdata package)"
        ) from None


def _cells(window: Window, cell: timedelta) -> list[tuple[datetime, datetime]]:
    # In UTC: adding to a datetime in a zone with clock changes is wall-clock
    # arithmetic, and a day with a clock change has 23 or 25 real hours.
    starts_at, ends_at = (moment.astimezone(UTC) for moment in window)
    count = math.ceil((ends_at - starts_at) / cell)
    return [(starts_at + k * cell, min(starts_at + (k + 1) * cell, ends_at)) for k in range(count)]


def _bar(cells: list[tuple[datetime, datetime]], free: list[Window], booked: list[Window]) -> Text:
    """A character per cell: free when the whole cell is free, booked when a
    booking of the resource covers part of it, unavailable otherwise."""
    bar = Text()
    for lo, hi in cells:
        if any(a <= lo and hi <= b for a, b in free):
            bar.append(FREE, style="green")
        elif any(a < hi and lo < b for a, b in booked):
            bar.append(BOOKED, style="red")
        else:
            bar.append(UNAVAILABLE, style="dim")
    return bar


def _hour_labels(cells: list[tuple[datetime, datetime]], cell: timedelta, tz: ZoneInfo) -> str:
    """Local hours above the bars, as many as fit: 00, 01, 03... on a
    spring-forward day (02 never happens there)."""
    if not cells:
        return ""
    per_hour = timedelta(hours=1) / cell
    every = next((hours for hours in (1, 2, 3, 4, 6, 12) if hours * per_hour >= 3), 24)
    line = [" "] * len(cells)
    first, last = cells[0][0], cells[-1][1]
    free_from = 0
    hour = first
    while hour < last:
        local = hour.astimezone(tz)
        at = int((hour - first) / cell)
        if local.hour % every == 0 and at >= free_from:
            label = f"{local.hour:02d}"
            line[at : at + len(label)] = label
            free_from = at + len(label) + 1
        hour += timedelta(hours=1)
    return "".join(line[: len(cells)])


def _clock(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def _runs(starts: list[datetime], gap: timedelta | None, tz: ZoneInfo) -> str:
    """Start times as runs: ``09:00-11:30, 14:00`` (a run steps by ``gap``)."""
    if not starts:
        return "-"
    runs: list[tuple[datetime, datetime]] = []
    first = previous = starts[0]
    for moment in starts[1:]:
        if moment - previous != gap:
            runs.append((first, previous))
            first = moment
        previous = moment
    runs.append((first, previous))
    return ", ".join(
        _clock(a, tz) if a == b else f"{_clock(a, tz)}-{_clock(b, tz)}" for a, b in runs
    )


def _smallest_gap(slots: list[Slot]) -> timedelta | None:
    gaps = [b.starts_at - a.starts_at for a, b in pairwise(slots) if a.resource_id == b.resource_id]
    return min(gaps, default=None)


def _unique(ids: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(ids))


def availability(
    venue: Venue,
    day: Annotated[
        str,
        typer.Option("--date", help="The venue's local date: 2027-03-28.", show_default=False),
    ],
    duration: Annotated[
        str, typer.Option("--duration", help="Length of a booking: 90m, 2h.", show_default=False)
    ],
    resource: Annotated[
        list[int] | None,
        typer.Option(
            "--resource",
            "-r",
            help="Only these resources (default: every resource that fits).",
            show_default=False,
        ),
    ] = None,
    party: Party = 1,
    quantity: Quantity = 1,
    step: Annotated[
        str | None,
        typer.Option(
            "--step",
            help="Grid of start times, also one timeline character (default: the venue's "
            "slot_step, and 15m characters).",
            show_default=False,
        ),
    ] = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """A local day at the venue: free and taken time per resource, bookable starts (availability).

    The timeline comes from free_time, the start times from availability. The day
    runs from local midnight to local midnight, so a clock-change day has 23 or 25
    hours. Times are shown in the venue's zone.
    """
    on = parse_day(day, "--date")
    length = parse_duration(duration, "--duration")
    every = None if step is None else parse_duration(step, "--step")
    with open_db(dsn) as db:
        window = db.local_range(venue, on, time(0), time(0))
        rules = db.get_venue_rules(venue)
        slots = db.availability(
            venue,
            window,
            length,
            step=every,
            resource_ids=resource or None,
            party_size=party,
            quantity=quantity,
        )
        claims = db.list_bookings(venue, *window)
        # Without --resource: every resource of the venue.
        ids = _unique(resource or [r.resource_id for r in db.list_resources(venue)])
        free = {rid: db.free_time(venue, rid, window) for rid in ids}
    tz = _venue_zone(str(rules["timezone"]))
    starts = {rid: [s.starts_at for s in slots if s.resource_id == rid] for rid in ids}
    if as_json:
        print_json(
            {
                "venue_id": venue,
                "date": on,
                "timezone": tz.key,
                "window": {"starts_at": window[0], "ends_at": window[1]},
                "duration_seconds": int(length.total_seconds()),
                "slots": slots,
                "resources": [
                    {
                        "resource_id": rid,
                        "bookable_starts": len(starts[rid]),
                        "free": [{"starts_at": a, "ends_at": b} for a, b in free[rid]],
                    }
                    for rid in ids
                ],
            },
            tz,
        )
        return

    out = console()
    grid = f"every {step}" if step is not None else f"every {rules['slot_step']} (slot_step)"
    out.print(
        f"venue {venue} on {on}, local time in {tz.key}: {len(slots)} bookable start(s) "
        f"for {duration}, {grid}",
        markup=False,
    )
    if not ids:
        out.print("no resource fits, and nothing is booked that day", markup=False)
        return
    cell = every or parse_duration(DEFAULT_CELL, "--step")
    cells = _cells(window, cell)
    booked = {
        rid: [(c.starts_at, c.ends_at) for c in claims if c.resource_id == rid] for rid in ids
    }
    width = max(len("resource"), *(len(str(rid)) for rid in ids))
    out.print()
    out.print(f"{'':>{width}}  {_hour_labels(cells, cell, tz)}", markup=False, soft_wrap=True)
    for rid in ids:
        row = Text(f"{rid:>{width}}  ")
        row.append_text(_bar(cells, free[rid], booked[rid]))
        out.print(row, soft_wrap=True)
    out.print(f"{'':>{width}}  {LEGEND}; one character = {step or DEFAULT_CELL}", markup=False)

    gap = every or _smallest_gap(slots)
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("resource", justify="right")
    table.add_column("starts", justify="right")
    table.add_column("bookable start times (local)")
    for rid in ids:
        table.add_row(str(rid), str(len(starts[rid])), Text(_runs(starts[rid], gap, tz)))
    out.print(table)


def combos(
    venue: Venue,
    start: Start,
    party: Party,
    end: End = None,
    duration: Length = None,
    max_tables: Annotated[
        int, typer.Option("--max-tables", help="Most tables to combine (1 to 6).")
    ] = 3,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Rank free tables, alone or linked, that seat a party together (table_combinations).

    Fewest wasted seats first, then lowest minimum spend, then fewest tables.
    Empty when no set fits, or when the venue's rules refuse that time.
    """
    where = zone(tz)
    starts_at, ends_at = time_range(start, end, duration, where)
    with open_db(dsn) as db:
        found = db.table_combinations(venue, starts_at, ends_at, party, max_tables=max_tables)
    if as_json:
        print_json(found, where)
        return
    out = console()
    when = f"{show_time(starts_at, where)} to {show_time(ends_at, where)}"
    if not found:
        out.print(
            f"no free tables seat a party of {party} from {when} (or the venue's rules refuse "
            "that time)",
            markup=False,
        )
        return
    table = Table(box=box.SIMPLE_HEAD, title=f"tables for a party of {party}, {when}")
    for title in ("rank", "tables", "seats", "wasted", "min spend (cents)", "deposit (cents)"):
        table.add_column(title, justify="left" if title == "tables" else "right")
    table.add_column("zone")
    for combo in found:
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    str(combo.rank),
                    " + ".join(str(rid) for rid in combo.resource_ids),
                    str(combo.total_seats),
                    str(combo.wasted_seats),
                    str(combo.total_min_spend_cents),
                    str(combo.total_deposit_cents),
                    combo.zone or "-",
                )
            )
        )
    out.print(table)


def alternatives(
    venue: Venue,
    resource: Resources,
    start: Start,
    party: Party,
    end: End = None,
    duration: Length = None,
    max_results: Annotated[int, typer.Option("--max", help="At most this many (1 to 100).")] = 5,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """The nearest bookable slots of the same length as a request (suggest_alternatives).

    Within a day either side, on these resources or others that fit the party,
    best first.
    """
    where = zone(tz)
    starts_at, ends_at = time_range(start, end, duration, where)
    with open_db(dsn) as db:
        found = db.suggest_alternatives(
            venue, resource, starts_at, ends_at, party_size=party, max_results=max_results
        )
    if as_json:
        print_json(found, where)
        return
    out = console()
    if not found:
        out.print("no bookable slot of that length within a day either side")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for title in ("score", "resource", "starts", "ends"):
        table.add_column(title, justify="right" if title in ("score", "resource") else "left")
    for alternative in found:
        table.add_row(
            f"{alternative.score:.3f}",
            str(alternative.resource_id),
            Text(show_time(alternative.starts_at, where)),
            Text(show_time(alternative.ends_at, where)),
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    for name, func in (
        ("availability", availability),
        ("combos", combos),
        ("alternatives", alternatives),
    ):
        command(app, name)(func)
