"""``stats``: a venue's bookings, holds, refusals and utilisation over a window,
and a heatmap of bookings per local hour (days down, 24 hours across)."""

import math
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import command, console, print_json, show_time
from bookingdb.cli.params import Dsn, Json, Tz, Venue, parse_time, zone
from bookingdb.errors import ERRORS

# Heatmap cells from none to the busiest hour; readable without colour too.
SHADES = (("·", "dim"), ("░", "green"), ("▒", "green"), ("▓", "bold green"), ("█", "bold green"))
BAR_WIDTH = 20


def _count_table(title: str, heading: str, counts: dict[str, int], names: bool = False) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column(heading)
    if names:
        table.add_column("refusal")
    table.add_column("count", justify="right")
    for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        cells = [key]
        if names:
            cls = ERRORS.get(key)
            cells.append(cls.__name__ if cls is not None else "-")
        table.add_row(*(Text(cell) for cell in cells), str(count))
    return table


def _holds_table(holds: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="holds made in the window", title_justify="left")
    keys = ("created", "confirmed", "expired", "released", "live")
    for key in (*keys, "conversion"):
        table.add_column(key, justify="right")
    rate = holds.get("conversion_rate")
    table.add_row(*(str(holds[key]) for key in keys), "-" if rate is None else f"{rate:.1%}")
    return table


def bar(share: float, width: int = BAR_WIDTH) -> Text:
    """A bar of ``width`` characters, filled in eighths for ``share`` (0 to 1)."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return Text(text.ljust(width, "·"), style="green")


def _utilisation_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="utilisation per resource", title_justify="left")
    for title in ("resource", "name", "capacity", "used", ""):
        table.add_column(title, justify="left" if title in ("name", "") else "right")
    for row in rows:
        share = float(row["utilisation"])
        table.add_row(
            str(row["resource_id"]),
            Text(str(row["name"])),
            str(row["capacity"]),
            f"{share:.1%}",
            bar(share),
        )
    return table


def heatmap(per_hour: list[dict[str, Any]]) -> list[Text]:
    """Bookings per local hour as lines: a header of hours, then one line per
    day from the first day with a booking to the last, a shaded cell per hour."""
    counts = Counter(
        {datetime.fromisoformat(row["hour"]): int(row["bookings"]) for row in per_hour}
    )
    if not counts:
        return []
    busiest = max(counts.values())
    first, last = min(counts).date(), max(counts).date()
    lines = [Text(" " * 15 + "".join(f" {hour:02d}" for hour in range(24)))]
    day: date = first
    while day <= last:
        line = Text(f"{day.isoformat()} {day.strftime('%a')} ")
        for hour in range(24):
            count = counts[datetime(day.year, day.month, day.day, hour)]
            level = 0 if count == 0 else math.ceil(count / busiest * (len(SHADES) - 1))
            shade, style = SHADES[level]
            line.append(" " + shade * 2, style=style)
        lines.append(line)
        day += timedelta(days=1)
    scale = "".join(shade for shade, _ in SHADES[1:])
    lines.append(
        Text(
            f"{' ' * 15} {SHADES[0][0]} none, {scale} fewer to more; "
            f"{SHADES[-1][0]} = {busiest} (the busiest hour)",
            style="dim",
        )
    )
    return lines


def _print_stats(out: Console, venue: int, stats: dict[str, Any], where: ZoneInfo | None) -> None:
    since, until = (
        show_time(datetime.fromisoformat(stats[key]), where) for key in ("since", "until")
    )
    out.print(
        f"venue {venue} from {since} to {until}; hours are local ({stats['timezone']})",
        markup=False,
    )
    out.print(_count_table("bookings by status", "status", stats["bookings_by_status"]))
    out.print(_holds_table(stats["holds"]))
    if stats["refusals"]:
        out.print(_count_table("refusals by code", "code", stats["refusals"], names=True))
    else:
        out.print("no refusals reported in the window")
    if stats["utilisation"]:
        out.print(_utilisation_table(stats["utilisation"]))
    out.print()
    lines = heatmap(stats["bookings_per_hour"])
    if not lines:
        out.print("no bookings start in the window")
        return
    out.print("bookings per local hour of start", style="italic")
    for line in lines:
        out.print(line, soft_wrap=True)


def stats(
    venue: Venue,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Window start, ISO 8601 (default: 7 days ago).", show_default=False
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Window end, ISO 8601 (default: 7 days ahead).", show_default=False
        ),
    ] = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """A venue's statistics over a window (stats): bookings, holds, refusals, utilisation.

    Then a heatmap of bookings per local hour of start, a line per day.
    """
    where = zone(tz)
    start = None if since is None else parse_time(since, "--since", where)
    end = None if until is None else parse_time(until, "--until", where)
    with open_db(dsn) as db:
        report = db.stats(venue, start, end)
    if as_json:
        print_json(report)
        return
    _print_stats(console(), venue, report, where)


def register(app: typer.Typer) -> None:
    command(app, "stats")(stats)
