"""``doctor``: find allocation indexes that lost entries (the PostgreSQL 16-18
GiST bug, issue 13) and the double bookings they let in; with ``--repair``,
rebuild the indexes once the operator has resolved those."""

from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import ExitCode, command, console, print_json, rows_table, show_time
from bookingdb.cli.params import Dsn, Json, Tz, zone
from bookingdb.errors import OverlapsUnresolved
from bookingdb.models import DoctorReport, IndexCheck, IndexRepair


def _state(check: IndexCheck) -> str:
    if check.missing is None:
        return "not checked"
    return f"DAMAGED: {check.missing} missing" if check.missing else "ok"


def _show_indexes(out: Console, report: DoctorReport) -> None:
    columns = ("index", "method", "rows in table", "found through index", "state")
    rows = (
        (
            c.index_name,
            c.method,
            "-" if c.table_rows is None else str(c.table_rows),
            "-" if c.index_rows is None else str(c.index_rows),
            _state(c),
        )
        for c in report.indexes
    )
    out.print(rows_table(columns, rows, right=("rows in table", "found through index")))


def _show_overlaps(out: Console, report: DoctorReport, where: ZoneInfo | None) -> None:
    if not report.overlaps:
        out.print("no overlapping bookings on exclusive resources")
        return
    columns = ("venue", "resource", "booking", "and booking", "overlap")
    rows = (
        (
            str(o.venue_id),
            f"{o.resource_name} ({o.resource_id})",
            f"{o.reference} (booking {o.booking_id}, {o.status}) "
            f"{show_time(o.starts_at, where)} to {show_time(o.ends_at, where)}",
            f"{o.other_reference} (booking {o.other_booking_id}, {o.other_status}) "
            f"{show_time(o.other_starts_at, where)} to {show_time(o.other_ends_at, where)}",
            f"{show_time(o.overlap[0], where)} to {show_time(o.overlap[1], where)}",
        )
        for o in report.overlaps
    )
    out.print(f"{len(report.overlaps)} pair(s) of bookings overlap (each resource is exclusive):")
    out.print(rows_table(columns, rows, right=("venue",)))


def _advice(out: Console, report: DoctorReport) -> None:
    if report.overlaps:
        out.print(
            "Resolve each pair first: cancel, move or release one of the two bookings "
            "(bookingdb cancel VENUE BOOKING; a lapsed hold: bookingdb expire-holds), "
            "then run bookingdb doctor --repair.",
            markup=False,
        )
    elif report.damaged:
        out.print(
            "Rebuild the damaged indexes with: bookingdb doctor --repair "
            "(the exclusion constraint's index blocks bookings while it is rebuilt).",
            markup=False,
        )
    else:
        out.print("ok: every allocation index finds every allocation it should hold")


def _show_repairs(out: Console, repairs: list[IndexRepair]) -> None:
    if not repairs:
        out.print("nothing to repair")
    for repair in repairs:
        out.print(f"rebuilt {repair.index_name}: {repair.statement}", markup=False)


def doctor(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Rebuild the damaged allocation indexes (refused while bookings overlap).",
        ),
    ] = False,
    rebuild_all: Annotated[
        bool,
        typer.Option(
            "--all", help="With --repair: rebuild every allocation index, damaged or not."
        ),
    ] = False,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Find allocation indexes that lost entries and the double bookings they let in.

    Compares what each index of the allocations finds with what the table
    holds (check_allocation_indexes) and lists the pairs of bookings that
    overlap on an exclusive resource (hidden_overlaps). With --repair, once
    no pair remains, rebuilds the damaged indexes (allocation_index_repairs:
    REINDEX CONCURRENTLY; the exclusion constraint's index with a plain
    REINDEX, which PostgreSQL cannot do concurrently) and checks again. Run
    it as the tables' owner or a superuser, on a direct connection.

    Exit 0 when every index is whole and nothing overlaps (after --repair:
    once repaired), 1 when damage or overlaps remain, 3 when --repair is
    refused (BK023) because bookings overlap.
    """
    where = zone(tz)
    out = console()
    with open_db(dsn) as db:
        report = db.doctor()
        result: dict[str, Any] = {
            "healthy": report.healthy,
            "indexes": report.indexes,
            "overlaps": report.overlaps,
        }
        if not as_json:
            _show_indexes(out, report)
            _show_overlaps(out, report, where)
        if repair:
            try:
                repairs = db.repair_allocation_indexes(include_healthy=rebuild_all)
            except OverlapsUnresolved:
                if as_json:
                    print_json(result, where)
                else:
                    _advice(out, report)
                raise
            report = db.doctor()
            result.update(
                repairs=repairs,
                after={
                    "healthy": report.healthy,
                    "indexes": report.indexes,
                    "overlaps": report.overlaps,
                },
            )
            if not as_json:
                _show_repairs(out, repairs)
                _show_indexes(out, report)
    if as_json:
        print_json(result, where)
    else:
        _advice(out, report)
    raise typer.Exit(int(ExitCode.OK if report.healthy else ExitCode.NO))


def register(app: typer.Typer) -> None:
    command(app, "doctor")(doctor)
