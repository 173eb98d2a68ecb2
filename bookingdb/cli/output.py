"""What the CLI prints, and the one place that turns failures into exit codes.

Every command is registered through :func:`command`, which wraps it in
:func:`guard`: a refusal, bad input or an unreachable database becomes one
line on stderr and a documented exit code, never a traceback.
"""

import dataclasses
import enum
import functools
import json
import subprocess
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ParamSpec
from zoneinfo import ZoneInfo

import psycopg
import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bookingdb.cli.params import InputError
from bookingdb.errors import BookingError
from bookingdb.models import Booking, BookingSlot, InvariantViolation
from bookingdb.server import EmbeddedServerError

P = ParamSpec("P")


class ExitCode(enum.IntEnum):
    """Exit codes of every ``bookingdb`` command."""

    OK = 0
    #: The answer is no: ``check`` slot not available, ``verify`` found
    #: violations, ``health`` unhealthy, ``doctor`` damage or overlaps found,
    #: ``db status``/``db url`` server not running, ``demo`` failed.
    NO = 1
    #: Bad usage or input (also click's own usage errors): fix the command line.
    BAD_INPUT = 2
    #: The database refused the request (SQLSTATE class BK): see the code.
    REFUSED = 3
    #: The database cannot be reached or used (connection, embedded server, non-BK error).
    DATABASE = 4


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 the answer is no (check: not available, verify: violations, "
    "health: unhealthy, doctor: damage found, db status: stopped, demo: failed); 2 bad input; "
    "3 refused by the database (BKxxx); 4 database unreachable or failing."
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def refusal_line(err: BookingError) -> str:
    """``error BK001 slot unavailable: <detail> (hint: ...)``."""
    line = f"error {err.sqlstate} {err.message}"
    if err.detail:
        line += f": {err.detail}"
    if err.hint:
        line += f" (hint: {err.hint})"
    return _one_line(line)


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print one line to stderr; return the Exit to raise."""
    typer.echo(_one_line(message), err=True)
    return typer.Exit(int(code))


def guard(func: Callable[P, None]) -> Callable[P, None]:
    """Run a command, turning expected failures into one line and an exit code."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except BookingError as err:
            raise fail(refusal_line(err), ExitCode.REFUSED) from None
        except (InputError, ValueError) as err:
            # ValueError: input the client refuses before the database sees it
            # (a number beyond SQL int, a naive time).
            raise fail(f"error: {err}", ExitCode.BAD_INPUT) from None
        except psycopg.Error as err:
            if err.sqlstate is None:
                # Client side: connection refused, lost, timed out (PoolTimeout too).
                raise fail(f"error: {err}", ExitCode.DATABASE) from None
            hint = ""
            if err.sqlstate in ("3F000", "42883"):  # no such schema / function
                hint = " (is the database migrated? run: bookingdb migrate)"
            raise fail(f"error {err.sqlstate}: {err}{hint}", ExitCode.DATABASE) from None
        except (EmbeddedServerError, OSError) as err:
            raise fail(f"error: {err}", ExitCode.DATABASE) from None
        except subprocess.CalledProcessError as err:  # pg_ctl, from the embedded server
            output = err.stderr.decode(errors="replace") if isinstance(err.stderr, bytes) else ""
            raise fail(f"error: {output.strip() or err}", ExitCode.DATABASE) from None

    return run


def command(app: typer.Typer, name: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Register ``func`` as command ``name`` of ``app``, guarded by :func:`guard`."""

    def register(func: Callable[P, None]) -> Callable[P, None]:
        app.command(name)(guard(func))
        return func

    return register


# -- plain values --------------------------------------------------------------------------


def console() -> Console:
    """A console on the current stdout (plain, no colours, when it is not a terminal)."""
    out = Console(highlight=False)
    if not out.is_terminal:
        # Pipes and files: wide enough that a bookings table does not wrap.
        out = Console(highlight=False, width=max(out.width, 160))
    return out


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def show_time(value: datetime | None, tz: ZoneInfo | None = None) -> str:
    if value is None:
        return "-"
    if tz is not None:
        value = value.astimezone(tz)
    spec = "minutes" if value.second == 0 and value.microsecond == 0 else "seconds"
    return value.isoformat(timespec=spec)


def show_clock(value: time | None) -> str:
    """A local wall-clock time: ``09:00``, or ``09:00:30`` when it has seconds."""
    if value is None:
        return "-"
    return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")


def jsonable(value: Any, tz: ZoneInfo | None = None) -> Any:
    """Dataclasses, datetimes, dates and times (ISO 8601), paths, tuples... as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name), tz) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return (value.astimezone(tz) if tz is not None else value).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, tz) for v in value]
    return value


def print_json(value: Any, tz: ZoneInfo | None = None) -> None:
    typer.echo(json.dumps(jsonable(value, tz), indent=2, ensure_ascii=False))


def fields_table(rows: Iterable[tuple[str, str]]) -> Table:
    """A two-column label/value table."""
    table = Table(show_header=False, box=box.SIMPLE, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, Text(value))
    return table


# -- results -------------------------------------------------------------------------------


def _customer(customer: Mapping[str, Any] | None) -> str:
    if not customer:
        return "-"
    return ", ".join(f"{key}: {value}" for key, value in customer.items())


def show_booking(booking: Booking, as_json: bool, tz: ZoneInfo | None = None) -> None:
    if as_json:
        print_json(booking, tz)
        return
    rows = [
        ("booking", f"{booking.id}  {booking.reference}"),
        ("status", booking.status),
        ("starts", show_time(booking.starts_at, tz)),
        ("ends", show_time(booking.ends_at, tz)),
        ("venue", str(booking.venue_id)),
        ("resources", ", ".join(str(r) for r in booking.resource_ids)),
        ("party", str(booking.party_size)),
        ("quantity", str(booking.quantity)),
        ("customer", _customer(booking.customer)),
    ]
    if booking.event_id is not None:
        rows.append(("event", str(booking.event_id)))
    if booking.total_cents is not None:
        rows.append(("total (cents)", str(booking.total_cents)))
    if booking.waitlist_entry_id is not None:
        rows.append(("waitlist entry", str(booking.waitlist_entry_id)))
    if booking.payment_ref:
        rows.append(("payment ref", booking.payment_ref))
    if booking.expires_at is not None:
        rows.append(("expires", show_time(booking.expires_at, tz)))
    if booking.cancel_reason:
        rows.append(("cancel reason", booking.cancel_reason))
    rows.append(("version", str(booking.version)))
    if booking.cancel_token is not None:
        # Handed out once, by the call that confirmed: the customer's to keep.
        rows.append(("cancel token", booking.cancel_token))
    console().print(fields_table(rows))


def rows_table(
    columns: Sequence[str], rows: Iterable[Sequence[str]], *, right: Collection[str] = ()
) -> Table:
    """A table with a heading per column (those in ``right`` right-aligned) and
    plain-text cells."""
    table = Table(box=box.SIMPLE_HEAD)
    for title in columns:
        table.add_column(title, justify="right" if title in right else "left")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def show_bookings(
    bookings: list[Booking], as_json: bool, tz: ZoneInfo | None = None, *, empty: str
) -> None:
    """Bookings one per row (``empty``: what to say when there are none)."""
    if as_json:
        print_json(bookings, tz)
        return
    if not bookings:
        console().print(empty, markup=False)
        return
    columns = ("booking", "reference", "status", "starts", "ends", "resources", "party")
    rows = (
        (
            str(b.id),
            b.reference,
            b.status,
            show_time(b.starts_at, tz),
            show_time(b.ends_at, tz),
            ", ".join(str(r) for r in b.resource_ids),
            str(b.party_size),
        )
        for b in bookings
    )
    console().print(rows_table(columns, rows, right=("booking", "party")))


def show_slots(slots: list[BookingSlot], as_json: bool, tz: ZoneInfo | None = None) -> None:
    if as_json:
        print_json(slots, tz)
        return
    if not slots:
        console().print("no bookings in that window")
        return
    columns = (
        "starts",
        "ends",
        "resource",
        "booking",
        "reference",
        "status",
        "qty",
        "expires",
        "version",
    )
    rows = (
        (
            show_time(slot.starts_at, tz),
            show_time(slot.ends_at, tz),
            str(slot.resource_id),
            str(slot.booking_id),
            slot.reference,
            slot.status,
            str(slot.quantity),
            show_time(slot.expires_at, tz),
            str(slot.version),
        )
        for slot in slots
    )
    console().print(rows_table(columns, rows, right=("resource", "booking", "qty", "version")))


def show_violations(violations: list[InvariantViolation], as_json: bool) -> None:
    if as_json:
        print_json(violations)
        return
    out = console()
    if not violations:
        out.print("ok: every invariant holds (I1-I7)")
        return
    table = Table(box=box.SIMPLE_HEAD, title=f"{len(violations)} invariant violation(s)")
    table.add_column("invariant")
    table.add_column("detail")
    for row in violations:
        table.add_row(Text(row.invariant), Text(row.detail))
    out.print(table)
