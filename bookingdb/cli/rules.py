"""A venue's rules and opening hours: ``rules set|show`` and
``hours set|show|clear|override|clear-override``. Times are the venue's local
wall-clock times; which instants they are is the database's call (its zone)."""

from datetime import date, time
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import command, console, fields_table, print_json, show_clock
from bookingdb.cli.params import Dsn, Json, Venue, parse_clock, parse_day, parse_rules
from bookingdb.models import OpeningHours

rules_app = typer.Typer(
    help="A venue's booking rules: notice, advance, party sizes, age, buffers, slot step.",
    no_args_is_help=True,
)
hours_app = typer.Typer(
    help="A venue's opening hours (weekly) and date overrides, in its local time. A venue "
    "without any is open around the clock.",
    no_args_is_help=True,
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

OPENS = "Local opening time, HH:MM."
CLOSES = (
    "Local closing time, HH:MM; at or before --opens means the next day "
    "(00:00-00:00 is the whole day)."
)
Opens = Annotated[str | None, typer.Option("--opens", help=OPENS, show_default=False)]
Closes = Annotated[str | None, typer.Option("--closes", help=CLOSES, show_default=False)]


def _weekday(number: int | None) -> str:
    if number is not None and 1 <= number <= len(WEEKDAYS):
        return WEEKDAYS[number - 1]
    return f"weekday {number}"


def _hours(opens: time | None, closes: time | None) -> str:
    if opens is None or closes is None:
        return "closed all day"
    text = f"{show_clock(opens)}-{show_clock(closes)}"
    if opens == closes == time(0):
        return f"{text} (the whole day)"
    if closes <= opens:
        return f"{text} (ends the next day)"
    return text


def _clock(value: str | None, option: str) -> time | None:
    return None if value is None else parse_clock(value, option)


# -- rules ---------------------------------------------------------------------------------


def _show_rules(venue: int, rules: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json({"venue_id": venue, **rules})
        return
    rows = []
    for key, value in sorted(rules.items()):
        if isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = "none" if value is None else str(value)
        rows.append((key, text))
    console().print(fields_table(rows))


@command(rules_app, "set")
def set_rules(
    venue: Venue,
    pairs: Annotated[
        list[str],
        typer.Argument(
            help="key=value; repeat for several. Intervals as text (min_notice='2 hours', "
            "max_advance='6 months'), whole numbers for min_party, max_party, min_age, "
            "max_active_holds_per_customer, true or false for notify; null restores the default.",
            show_default=False,
            metavar="KEY=VALUE",
        ),
    ],
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Set some of a venue's rules and print them all (set_venue_rules).

    Keys: hold_ttl, min_notice, max_advance, min_party, max_party, min_age,
    max_active_holds_per_customer, buffer_before, buffer_after, slot_step,
    notify (whether changes send NOTIFY bookingdb_changes). Existing bookings
    are not re-checked.
    """
    rules = parse_rules(pairs)
    with open_db(dsn) as db:
        db.set_venue_rules(venue, rules)
        current = db.get_venue_rules(venue)
    _show_rules(venue, current, as_json)


@command(rules_app, "show")
def show_rules(venue: Venue, dsn: Dsn = None, as_json: Json = False) -> None:
    """Print a venue's rules, its time zone and whether it has opening hours (get_venue_rules)."""
    with open_db(dsn) as db:
        rules = db.get_venue_rules(venue)
    _show_rules(venue, rules, as_json)


# -- opening hours -------------------------------------------------------------------------


@command(hours_app, "set")
def set_hours(
    venue: Venue,
    weekday: Annotated[
        int,
        typer.Option("--weekday", help="ISO weekday 1 (Monday) to 7 (Sunday).", show_default=False),
    ],
    opens: Annotated[str, typer.Option("--opens", help=OPENS, show_default=False)],
    closes: Annotated[str, typer.Option("--closes", help=CLOSES, show_default=False)],
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Add an opening interval on a weekday (set_opening_hours).

    Several intervals a day are allowed. Once a venue has any hours, bookings must
    lie within them, and weekdays without an interval are closed.
    """
    opening, closing = parse_clock(opens, "--opens"), parse_clock(closes, "--closes")
    with open_db(dsn) as db:
        db.set_opening_hours(venue, weekday, opening, closing)
    if as_json:
        print_json({"venue_id": venue, "weekday": weekday, "opens": opening, "closes": closing})
    else:
        console().print(
            f"venue {venue}: {_weekday(weekday)} {_hours(opening, closing)} added", markup=False
        )


@command(hours_app, "show")
def show_hours(venue: Venue, dsn: Dsn = None, as_json: Json = False) -> None:
    """Print a venue's weekly hours and date overrides, in its local time (opening_hours)."""
    with open_db(dsn) as db:
        rules = db.get_venue_rules(venue)
        hours = db.opening_hours(venue)
    weekly = [row for row in hours if row.day is None]
    overrides = [row for row in hours if row.day is not None]
    if as_json:
        print_json(
            {
                "venue_id": venue,
                "timezone": rules["timezone"],
                "open_around_the_clock": not rules["has_hours"],
                "weekly": [
                    {"weekday": row.weekday, "opens": row.opens, "closes": row.closes}
                    for row in weekly
                ],
                "overrides": [
                    {"day": row.day, "opens": row.opens, "closes": row.closes} for row in overrides
                ],
            }
        )
        return
    out = console()
    if not hours:
        out.print(f"venue {venue} has no opening hours: open around the clock", markup=False)
        return
    out.print(f"venue {venue} opening hours, local time in {rules['timezone']}", markup=False)
    out.print(_hours_table(weekly, overrides))
    if weekly:
        out.print("weekdays not listed are closed")
    else:
        out.print("no weekly hours: open around the clock except on the dates listed")


def _hours_table(weekly: list[OpeningHours], overrides: list[OpeningHours]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("when")
    table.add_column("hours")
    for row in weekly:
        table.add_row(Text(_weekday(row.weekday)), Text(_hours(row.opens, row.closes)))
    for row in overrides:
        assert row.day is not None
        when = f"{row.day.isoformat()} ({row.day.strftime('%a')}, override)"
        table.add_row(Text(when), Text(_hours(row.opens, row.closes)))
    return table


@command(hours_app, "clear")
def clear_hours(
    venue: Venue,
    weekday: Annotated[
        int | None,
        typer.Option(
            "--weekday",
            help="ISO weekday 1 (Monday) to 7 (Sunday); default: every weekday.",
            show_default=False,
        ),
    ] = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Remove the weekly hours of one weekday, or of all (clear_opening_hours).

    With other weekdays still set, the cleared one is closed; with no hours and no
    date overrides left, the venue is open around the clock.
    """
    with open_db(dsn) as db:
        db.clear_opening_hours(venue, weekday)
        has_hours = bool(db.get_venue_rules(venue)["has_hours"])
    if as_json:
        print_json({"venue_id": venue, "weekday": weekday, "open_around_the_clock": not has_hours})
        return
    which = "all weekly hours" if weekday is None else f"the hours of {_weekday(weekday)}"
    line = f"venue {venue}: {which} cleared"
    if not has_hours:
        line += "; no hours left: open around the clock"
    console().print(line, markup=False)


@command(hours_app, "override")
def set_override(
    venue: Venue,
    day: Annotated[str, typer.Option("--day", help="Local date, 2027-12-25.", show_default=False)],
    opens: Opens = None,
    closes: Closes = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Replace the weekly hours of one local date (set_date_override).

    Without --opens/--closes the venue is closed all day; with them, an interval is
    added for that date (repeat to add several).
    """
    on = parse_day(day, "--day")
    opening, closing = _clock(opens, "--opens"), _clock(closes, "--closes")
    with open_db(dsn) as db:
        db.set_date_override(venue, on, opening, closing)
    if as_json:
        print_json({"venue_id": venue, "day": on, "opens": opening, "closes": closing})
    else:
        console().print(f"venue {venue}: {on} {_hours(opening, closing)}", markup=False)


@command(hours_app, "clear-override")
def clear_override(
    venue: Venue,
    day: Annotated[
        str | None,
        typer.Option("--day", help="Local date; default: every date.", show_default=False),
    ] = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Remove the date overrides of one date, or all (clear_date_overrides).

    The weekly hours apply again on those dates.
    """
    on: date | None = None if day is None else parse_day(day, "--day")
    with open_db(dsn) as db:
        db.clear_date_overrides(venue, on)
    if as_json:
        print_json({"venue_id": venue, "day": on})
    else:
        which = "all date overrides" if on is None else f"the overrides of {on}"
        console().print(f"venue {venue}: {which} removed", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")
    app.add_typer(hours_app, name="hours")
