"""``demo``: sample venues, a concurrent storm, and a summary that proves it held."""

from typing import Annotated

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bookingdb.cli.connect import open_db
from bookingdb.cli.output import ExitCode, command, console, err_console, print_json
from bookingdb.cli.params import Dsn, Json
from bookingdb.config import resolve_dsn
from bookingdb.demo import ROLE_LABELS, StormReport, create_venues, run_storm
from bookingdb.migrate import migrate


def _verdict(value: int, good: bool) -> Text:
    return Text(str(value), style="bold green" if good else "bold red")


def summary_table(report: StormReport) -> Table:
    venues = report.venues
    table = Table(
        title=f"Storm: {report.threads} threads x {report.rounds} rounds, one connection each "
        f"({report.elapsed_seconds:.1f} s)",
        caption=f"bar = venue {venues.bar_id} ({len(venues.tables)} tables), salon = venue "
        f"{venues.salon_id} (service {venues.service_id}, capacity {report.shared_capacity})",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_column("must be", justify="right", style="dim")
    table.add_row("attempts", str(report.attempts), "")
    table.add_row("bookings won", str(report.bookings_won), "")
    for role, label in ROLE_LABELS.items():
        if report.won_by_role.get(role):
            table.add_row(f"  {label}", str(report.won_by_role[role]), "")
    table.add_row("idempotent replays (same booking back)", str(report.replays), "")
    for code, count in report.refusals.items():
        message = report.refusal_messages.get(code, "")
        table.add_row(Text(f"refused {code} {message}"), str(count), "")
    table.add_row("other errors", _verdict(report.other_errors, report.other_errors == 0), "0")
    table.add_row(
        "double bookings found by verify_invariants()",
        _verdict(len(report.invariant_violations), not report.invariant_violations),
        "0",
    )
    table.add_row(
        "overlapping acknowledged bookings on a table (client check)",
        _verdict(report.exclusive_overlaps, report.exclusive_overlaps == 0),
        "0",
    )
    table.add_row(
        "peak acknowledged bookings on the salon service (client check)",
        _verdict(report.shared_peak, report.shared_peak <= report.shared_capacity),
        f"<= {report.shared_capacity}",
    )
    table.add_row(
        "idempotency keys answered with two bookings",
        _verdict(report.split_replays, report.split_replays == 0),
        "0",
    )
    lost = report.unacknowledged_in_db + report.acknowledged_missing
    table.add_row(
        "bookings the database and the clients disagree on", _verdict(lost, lost == 0), "0"
    )
    return table


def demo(
    threads: Annotated[
        int, typer.Option("--threads", min=2, max=90, help="Racing clients, one connection each.")
    ] = 32,
    rounds: Annotated[
        int, typer.Option("--rounds", min=1, max=60, help="Races; each is for a new day's slots.")
    ] = 10,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Seed for who asks for what (repeatable runs).", show_default=False
        ),
    ] = None,
    run_migrate: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Migrate the database first.")
    ] = True,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Race concurrent clients for a sample bar and salon; show nothing was double booked.

    Creates a new bar (tables of different sizes) and a two-chair salon, lines up
    --threads clients (each with its own connection) on a barrier for each of
    --rounds rounds, then checks the result with verify_invariants() and from
    what the clients were told. Exit 1 if anything went wrong.
    """
    target = resolve_dsn(dsn)
    if run_migrate:
        migrate(target)
    with open_db(target) as db:
        venues = create_venues(db)
        with Progress(
            TextColumn("[bold]racing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console(),
            # --json is for scripts: only the JSON, nothing on stderr.
            disable=as_json,
        ) as progress:
            task = progress.add_task("storm", total=threads * rounds)
            report = run_storm(
                db,
                target,
                threads=threads,
                rounds=rounds,
                seed=seed,
                venues=venues,
                on_attempt=lambda: progress.advance(task),
            )
    if as_json:
        print_json({"ok": report.ok, **{k: v for k, v in vars(report).items() if k != "outcomes"}})
    else:
        out = console()
        out.print(summary_table(report))
        for sample in report.error_samples:
            out.print(Text(f"unexpected: {sample}", style="red"))
        out.print(
            Text(
                "OK: no double booking, no unexpected error"
                if report.ok
                else "FAILED: see the red rows above",
                style="bold green" if report.ok else "bold red",
            )
        )
    if not report.ok:
        raise typer.Exit(int(ExitCode.NO))


def register(app: typer.Typer) -> None:
    command(app, "demo")(demo)
