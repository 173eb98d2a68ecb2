"""Run the benchmark suite: set up, run the scenarios, write and print the results."""

from __future__ import annotations

import json
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bookingdb.bench import chart, report
from bookingdb.bench.results import ScenarioResult
from bookingdb.bench.scenarios import SCENARIOS, Context, Settings
from bookingdb.bench.workspace import Workspace, machine


def select(scenarios: Sequence[str] | None) -> list[str]:
    """The scenario ids to run, in suite order; all when ``scenarios`` is empty."""
    if not scenarios:
        return list(SCENARIOS)
    wanted = {name.strip().upper() for name in scenarios}
    unknown = sorted(wanted - set(SCENARIOS))
    if unknown:
        raise ValueError(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return [sid for sid in SCENARIOS if sid in wanted]


def run(
    dsn: str | None,
    *,
    quick: bool,
    out_dir: Path,
    console: Console,
    scenarios: Sequence[str] | None = None,
    seconds: int | None = None,
) -> dict[str, Any]:
    """Run the suite and return its results, also written to ``out_dir/results.json``
    (and drawn in ``out_dir/chart.png`` when matplotlib is installed).

    ``dsn`` None runs on a throwaway embedded server; otherwise the benchmark
    creates, uses and drops its own databases on ``dsn``'s server.
    ``scenarios`` picks a subset (``["S1", "S2"]``); ``seconds`` overrides the
    length of every timed load (for smoke tests)."""
    chosen = select(scenarios)
    settings = Settings.preset(quick=quick, seconds=seconds)
    out_dir.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    began = time.monotonic()
    mode = "quick" if quick else "full"
    console.print(f"[bold]bookingdb bench[/bold] ({mode}): {', '.join(chosen)}")

    results: dict[str, ScenarioResult] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bookingdb-bench-work-") as work,
        Workspace.open(dsn) as workspace,
    ):
        info = workspace.server_info()
        console.print(f"[dim]{info.target}: {info.version}[/dim]")
        ctx = Context(workspace, settings, console, Path(work), results)
        for sid in chosen:
            scenario = SCENARIOS[sid]
            console.rule(
                f"[bold]{sid} {scenario.title}[/bold]: {scenario.description}", align="left"
            )
            scenario_began = time.monotonic()
            try:
                result = scenario.run(ctx)
            except Exception as err:
                result = ScenarioResult(sid, scenario.title, error=f"{type(err).__name__}: {err}")
                console.print(f"[red]{sid} failed: {result.error}[/red]")
                console.print(f"[dim]{traceback.format_exc(limit=4)}[/dim]")
            result.title = scenario.title
            result.seconds = round(time.monotonic() - scenario_began, 1)
            results[sid] = result

    data: dict[str, Any] = {
        "schema": 1,
        "generated_at": started_at.isoformat(timespec="seconds"),
        "mode": mode,
        "scenarios_run": chosen,
        "elapsed_seconds": round(time.monotonic() - began, 1),
        "correct": all(r.correct for r in results.values()),
        "errors": [sid for sid, r in results.items() if r.error is not None],
        "machine": machine(),
        "postgresql": {
            "target": info.target,
            "version": info.version,
            "server_version": info.server_version,
            "settings": info.settings,
        },
        "settings": asdict(settings),
        "scenarios": {sid: r.to_dict() for sid, r in results.items()},
    }
    results_path = out_dir / "results.json"
    chart_path = out_dir / "chart.png"
    drawn = chart.draw(data, chart_path)
    data["chart"] = str(chart_path) if drawn else None
    results_path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")

    report.print_results(data, console)
    console.print(f"results: {results_path}")
    if drawn:
        console.print(f"chart:   {chart_path}")
    else:
        console.print(
            "chart:   skipped (matplotlib is not installed; pip install 'bookingdb[bench]')"
        )
    return data
