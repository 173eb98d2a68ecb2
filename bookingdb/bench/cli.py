"""``bookingdb bench``: the benchmark suite as a command.

Register with ``app.command("bench")(bookingdb.bench.cli.bench)``. The exit
code is non-zero only when a correctness check fails (1: an invariant
violation, or a double booking or oversell by bookingdb) or a scenario could
not complete (2); missed performance targets never fail the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console


def bench(
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Every scenario briefly (about 2.5 minutes in total)."),
    ] = False,
    dsn: Annotated[
        str | None,
        typer.Option(
            "--dsn",
            help="Run on this PostgreSQL server: the benchmark creates, migrates and drops "
            "its own bookingdb_bench_* databases there. Default: a throwaway embedded server.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Where to write results.json and chart.png."),
    ] = Path("bench"),
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            metavar="S",
            help="Run only this scenario (S1-S10); repeat for several.",
            show_default=False,
        ),
    ] = None,
    seconds: Annotated[
        int | None,
        typer.Option(
            "--seconds",
            min=1,
            help="Length of every timed load, overriding the preset.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Benchmark bookingdb against bare INSERT and naive check-then-insert (S1-S7),
    time its availability engine (S8), an event's on-sale (S9) and waitlist churn (S10)."""
    from bookingdb.bench import runner

    console = Console()
    try:
        chosen = runner.select(scenario)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--scenario") from None
    try:
        results = runner.run(
            dsn, quick=quick, out_dir=out, console=console, scenarios=chosen, seconds=seconds
        )
    except (psycopg.Error, OSError, RuntimeError) as err:
        # Could not set up (no server, no CREATEDB privilege, no pgbench...):
        # one line, no traceback.
        console.print(f"[red]bookingdb bench: {type(err).__name__}: {err}[/red]")
        raise typer.Exit(2) from None
    if not results["correct"]:
        raise typer.Exit(1)
    if results["errors"]:
        raise typer.Exit(2)
