"""Command-line values: the shared options, and turning text into typed values.

Times must carry a UTC offset (``2027-03-28T19:00+01:00``); a time without one
is refused, or read in the zone named by ``--tz``, never in the machine's
local zone. Durations are written like ``10m``, ``90m``, ``2h``, ``1h30m``.
"""

import contextlib
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from bookingdb.models import Customer


class InputError(Exception):
    """A value on the command line cannot be used; the message says which and why."""


# -- options shared by many commands -------------------------------------------------------

Dsn = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        help="PostgreSQL connection string. Default: $BOOKINGDB_DSN, then $DATABASE_URL, "
        "then the embedded server.",
        show_default=False,
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print JSON (times in ISO 8601) instead of tables.")
]
Tz = Annotated[
    str | None,
    typer.Option(
        "--tz",
        help="IANA zone (e.g. Europe/London) in which to read times written without an "
        "offset, and to show times in.",
        show_default=False,
    ),
]
Venue = Annotated[int, typer.Argument(help="Venue id.", show_default=False)]
BookingId = Annotated[int, typer.Argument(help="Booking id.", show_default=False)]
Resource = Annotated[int, typer.Argument(help="Resource id.", show_default=False)]
Resources = Annotated[
    list[int],
    typer.Option("--resource", "-r", help="Resource id; repeat for several.", show_default=False),
]
Start = Annotated[
    str,
    typer.Option(
        "--start", help="Start, ISO 8601 with offset: 2027-03-28T19:00+01:00.", show_default=False
    ),
]
End = Annotated[
    str | None,
    typer.Option(
        "--end", help="End, ISO 8601 with offset (or give --duration).", show_default=False
    ),
]
Length = Annotated[
    str | None,
    typer.Option("--duration", help="Length instead of --end: 90m, 2h, 1h30m.", show_default=False),
]
Party = Annotated[int, typer.Option("--party", help="Party size (people).")]
Quantity = Annotated[int, typer.Option("--quantity", help="Units of each resource (places).")]
Key = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Idempotency key: replaying the same request returns the same booking.",
        show_default=False,
    ),
]
Ids = Annotated[
    str,
    typer.Option("--resources", help="Resource ids, comma-separated: 1,2,3.", show_default=False),
]
Starts = Annotated[
    str,
    typer.Option(
        "--starts",
        "--start",
        help="Start, ISO 8601 with offset: 2027-03-28T19:00+01:00.",
        show_default=False,
    ),
]
Ends = Annotated[
    str,
    typer.Option(
        "--ends",
        "--end",
        help="End, ISO 8601 with offset: 2027-03-28T22:00+01:00.",
        show_default=False,
    ),
]
Holder = Annotated[
    str | None,
    typer.Option(
        "--holder",
        help="Who holds it: an opaque customer key (session, account), counted against the "
        "venue's max_active_holds_per_customer.",
        show_default=False,
    ),
]
Name = Annotated[str | None, typer.Option("--name", help="Customer name.", show_default=False)]
Email = Annotated[str | None, typer.Option("--email", help="Customer email.", show_default=False)]
Phone = Annotated[str | None, typer.Option("--phone", help="Customer phone.", show_default=False)]


# -- parsing -------------------------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo | None:
    """The ``--tz`` zone, or None when not given."""
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"--tz: unknown time zone {name!r} (use an IANA name such as Europe/London)"
        ) from None


def parse_time(value: str, option: str, tz: ZoneInfo | None) -> datetime:
    """An aware datetime from ISO 8601 text. Without an offset the time is read in
    ``tz``; a local time that does not exist or occurs twice there is refused."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{option}: {value!r} is not an ISO 8601 time (e.g. 2027-03-28T19:00+01:00)"
        ) from None
    if parsed.utcoffset() is not None:
        return parsed
    if tz is None:
        raise InputError(
            f"{option}: {value!r} has no UTC offset; write one "
            f"(e.g. {value}+01:00) or pass --tz ZONE"
        )
    first, second = parsed.replace(tzinfo=tz, fold=0), parsed.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # A clock change: the wall time either never happens (spring forward)
        # or happens twice (fall back). Guessing would book the wrong hour.
        exists = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == parsed
        what = "happens twice" if exists else "does not exist"
        raise InputError(
            f"{option}: {value} {what} in {tz.key} (clock change); write it with an offset"
        )
    return first


_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")


# The longest duration any function accepts (sql/050_availability.sql,
# _elapsed: 100 years of 366 days); longer is refused here, before Python's
# own arithmetic on it can overflow.
LONGEST_DURATION = timedelta(days=36_600)


def parse_duration(value: str, option: str) -> timedelta:
    """``10m``, ``90m``, ``2h``, ``1h30m``, ``1d``, ``45s`` as a timedelta, at
    most :data:`LONGEST_DURATION`."""
    match = _DURATION.fullmatch(value.strip().lower())
    if not value.strip() or match is None:
        raise InputError(f"{option}: {value!r} is not a duration (e.g. 10m, 90m, 2h, 1h30m)")
    parts = {unit: int(amount or 0) for unit, amount in match.groupdict().items()}
    # Whole seconds as a Python int first: it cannot overflow, a timedelta can.
    seconds = parts["d"] * 86_400 + parts["h"] * 3_600 + parts["m"] * 60 + parts["s"]
    if seconds > LONGEST_DURATION.total_seconds():
        raise InputError(f"{option}: {value!r} is longer than 100 years")
    return timedelta(seconds=seconds)


def time_range(
    start: str, end: str | None, length: str | None, tz: ZoneInfo | None
) -> tuple[datetime, datetime]:
    """``--start`` with either ``--end`` or ``--duration``. Whether the range makes
    sense (end after start, not in the past) is the database's call."""
    if (end is None) == (length is None):
        raise InputError("give exactly one of --end and --duration")
    starts_at = parse_time(start, "--start", tz)
    if end is not None:
        return starts_at, parse_time(end, "--end", tz)
    assert length is not None
    # Elapsed time, not wall-clock time: 2h from 00:30 on a clock-change night
    # ends two real hours later (arithmetic within one ZoneInfo is wall-clock),
    # so add in UTC and keep the end in UTC (no fold to get wrong).
    return starts_at, starts_at.astimezone(UTC) + parse_duration(length, "--duration")


def parse_ids(value: str, option: str) -> list[int]:
    """``1,2,3`` as a list of ids, in the order given."""
    parts = [part.strip() for part in value.split(",")]
    if not all(re.fullmatch(r"\d+", part) for part in parts):
        raise InputError(f"{option}: {value!r} is not a list of ids (e.g. 1,2,3)")
    return [int(part) for part in parts]


def parse_day(value: str, option: str) -> date:
    """A calendar date, ``2027-03-28``: a local date at the venue."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{option}: {value!r} is not a date (e.g. 2027-03-28)") from None


_CLOCK = re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?")


def parse_clock(value: str, option: str) -> time:
    """A wall-clock time, ``09:00`` or ``17:30:00``: a local time at the venue
    (no offset; the venue's zone decides which instant it is)."""
    match = _CLOCK.fullmatch(value.strip())
    if match is not None:
        with contextlib.suppress(ValueError):  # 24:00, 09:60
            return time(int(match["h"]), int(match["m"]), int(match["s"] or 0))
    raise InputError(f"{option}: {value!r} is not a clock time (e.g. 09:00, 17:30)")


def parse_rules(pairs: list[str]) -> dict[str, str | int | bool | None]:
    """``key=value`` arguments as the rules for ``set_venue_rules``: a whole number
    is sent as a number, ``true``/``false`` as a boolean, ``null`` as JSON null
    (restore the default), anything else as text (an interval such as ``30
    minutes``). Which keys exist and what each accepts is the database's call."""
    rules: dict[str, str | int | bool | None] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise InputError(f"{pair!r} is not key=value (e.g. min_notice='2 hours')")
        if key in rules:
            raise InputError(f"rule {key} is given twice")
        if value == "null":
            rules[key] = None
        elif value in ("true", "false"):
            rules[key] = value == "true"
        elif re.fullmatch(r"-?\d+", value):
            rules[key] = int(value)
        else:
            rules[key] = value
    return rules


def customer_from(name: str | None, email: str | None, phone: str | None) -> Customer | None:
    """The customer given by --name/--email/--phone, or None when none is."""
    if name is None and email is None and phone is None:
        return None
    return Customer(name=name, email=email, phone=phone)
