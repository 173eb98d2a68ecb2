"""Following a database live: ``watch`` (a venue's change feed as it happens)
and ``health`` (a report, and an exit code a liveness probe can use)."""

import json
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from bookingdb import steps
from bookingdb.cli.connect import open_db
from bookingdb.cli.output import (
    ExitCode,
    command,
    console,
    fields_table,
    jsonable,
    print_json,
    show_time,
)
from bookingdb.cli.params import Dsn, InputError, Json, Tz, Venue, parse_duration, zone
from bookingdb.models import Change


def _change_line(change: Change, where: ZoneInfo | None) -> str:
    return (
        f"#{change.seq} {show_time(change.at, where)} {change.action} {change.reference} "
        f"(booking {change.booking_id}) on resource {change.resource_id}: "
        f"{change.old_status or 'new'} -> {change.new_status}, "
        f"{show_time(change.starts_at, where)} to {show_time(change.ends_at, where)}"
    )


def watch(
    venue: Venue,
    after_seq: Annotated[
        int, typer.Option("--after-seq", help="Start after this feed number (0: from the start).")
    ] = 0,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Stop after this many seconds without a change (default: run until Ctrl-C).",
            show_default=False,
        ),
    ] = None,
    poll: Annotated[
        float,
        typer.Option("--poll", help="Seconds between looks at the feed when no NOTIFY arrives."),
    ] = steps.POLL_INTERVAL,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line instead of text.")
    ] = False,
) -> None:
    """Print a venue's changes as they happen, one line each (changes_since, LISTEN).

    Every change once, in feed order, across dropped connections too. Remember
    the last number printed and pass it as --after-seq to resume.
    """
    if timeout is not None and timeout < 0:
        raise InputError("--timeout must not be negative")
    if poll <= 0:
        raise InputError("--poll must be positive")
    where = zone(tz)
    with open_db(dsn) as db:
        feed = db.watch(venue, after_seq, poll_interval=poll, idle_timeout=timeout)
        try:
            for change in feed:
                if as_json:
                    typer.echo(json.dumps(jsonable(change, where), ensure_ascii=False))
                else:
                    typer.echo(_change_line(change, where))
        except KeyboardInterrupt:
            pass
        finally:
            feed.close()


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f} s"


def health(
    max_unswept: Annotated[
        str | None,
        typer.Option(
            "--max-unswept",
            help="Unhealthy when an expired hold has waited longer than this for the sweeper: 10m.",
            show_default=False,
        ),
    ] = None,
    max_feed_lag: Annotated[
        str | None,
        typer.Option(
            "--max-feed-lag",
            help="Unhealthy when a change has gone unread for longer than this: 5m.",
            show_default=False,
        ),
    ] = None,
    max_lock_wait: Annotated[
        str, typer.Option("--max-lock-wait", help="Unhealthy when a lock wait lasts longer.")
    ] = "30s",
    invariants: Annotated[
        bool,
        typer.Option(
            "--invariants/--no-invariants",
            help="Check invariants I1-I7 (--no-invariants: a cheap liveness probe).",
        ),
    ] = True,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Report the database's health (health). Exit 0 when healthy, 1 when not."""
    unswept = None if max_unswept is None else parse_duration(max_unswept, "--max-unswept")
    lag = None if max_feed_lag is None else parse_duration(max_feed_lag, "--max-feed-lag")
    lock_wait = parse_duration(max_lock_wait, "--max-lock-wait")
    with open_db(dsn) as db:
        report = db.health(
            max_unswept=unswept,
            max_feed_lag=lag,
            max_lock_wait=lock_wait,
            check_invariants=invariants,
        )
    healthy = bool(report["healthy"])
    if as_json:
        print_json(report)
    else:
        out = console()
        verdict = "healthy" if healthy else "unhealthy: " + "; ".join(report["problems"])
        out.print(verdict, markup=False)
        violations = report["invariant_violations"]
        out.print(
            fields_table(
                [
                    ("unswept expired holds", str(report["unswept_holds"])),
                    ("oldest unswept for", _seconds(report["oldest_unswept_hold_seconds"])),
                    ("unread changes", str(report["unread_changes"])),
                    ("feed lag", _seconds(report["feed_lag_seconds"])),
                    ("lock waits", str(report["lock_waits"])),
                    ("longest lock wait", _seconds(report["longest_lock_wait_seconds"])),
                    ("notify queue usage", f"{float(report['notify_queue_usage']):.1%}"),
                    (
                        "invariant violations",
                        "not checked" if violations is None else str(len(violations)),
                    ),
                ]
            )
        )
    raise typer.Exit(int(ExitCode.OK if healthy else ExitCode.NO))


def register(app: typer.Typer) -> None:
    command(app, "watch")(watch)
    command(app, "health")(health)
