"""The results table: scenario, metric, value, reference, ratio, target, verdict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, JustifyMethod
from rich.table import Table

COUNT_UNITS = {"bookings", "attempts", "holds", "offers", "slots", "entries", "tables"}


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return (
            f"{value:.3f} ms"
            if value < 1
            else f"{value:.2f} ms"
            if value < 10
            else f"{value:,.1f} ms"
        )
    if unit == "s":
        return f"{value:.2f} s"
    if unit in ("B", "B/booking"):
        return f"{value:,.0f} B"
    if unit.startswith("of "):
        return f"{value:,.0f} {unit}"
    if unit in COUNT_UNITS or not unit:
        return f"{value:,.0f}"
    return f"{value:,.2f} {unit}"


def _reference(value: float | None, unit: str, label: str | None) -> str:
    if value is None:
        return ""
    text = format_value(value, unit)
    return f"{text} ({label})" if label else text


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.0%}" if value >= 0.1 else f"{value:.1%}"


def _verdict(met: bool | None) -> str:
    if met is None:
        return ""
    return "[green]met[/green]" if met else "[yellow]missed[/yellow]"


def _rows(result: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Metric, value, reference, ratio, target and verdict cells of one scenario."""
    if result.get("error"):
        return [("error", result["error"], "", "", "", "[bold red]error[/bold red]")]
    rows: list[tuple[str, ...]] = []
    for metric in result["metrics"]:
        rows.append(
            (
                metric["name"],
                format_value(metric["value"], metric["unit"]),
                _reference(metric.get("reference"), metric["unit"], metric.get("reference_label")),
                _ratio(metric.get("ratio")),
                metric.get("target") or "",
                _verdict(metric.get("met")),
            )
        )
    for check in result["checks"]:
        reference = check.get("reference")
        rows.append(
            (
                check["name"],
                f"{check['value']:,}",
                ""
                if reference is None
                else f"{reference:,} ({check.get('reference_label') or 'reference'})",
                "",
                "0",
                "[green]ok[/green]" if check["passed"] else "[bold red]FAIL[/bold red]",
            )
        )
    return rows


def table(data: Mapping[str, Any]) -> Table:
    out = Table(title="bookingdb bench", title_justify="left", show_lines=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("Scenario", "left"),
        ("Metric", "left"),
        ("Value", "right"),
        ("Reference", "right"),
        ("Ratio", "right"),
        ("Target", "left"),
        ("Verdict", "left"),
    )
    for column, justify in columns:
        out.add_column(column, justify=justify)
    scenarios: Mapping[str, Any] = data["scenarios"]
    for index, (sid, result) in enumerate(scenarios.items()):
        if index:
            out.add_section()
        rows = _rows(result)
        for number, row in enumerate(rows):
            out.add_row(f"{sid} {result['title']}" if number == 0 else "", *row)
    return out


def print_results(data: Mapping[str, Any], console: Console) -> None:
    console.print(table(data))
    failed = [
        f"{sid}: {check['name']} = {check['value']}"
        + (f" ({check['detail']})" if check.get("detail") else "")
        for sid, result in data["scenarios"].items()
        for check in result["checks"]
        if not check["passed"]
    ]
    if failed:
        console.print("[bold red]correctness checks failed:[/bold red]")
        for line in failed:
            console.print(f"  [red]{line}[/red]")
    else:
        console.print("[green]correctness: every check passed[/green] (targets are informational)")
    if data["errors"]:
        console.print(
            f"[bold red]scenarios that did not complete: {', '.join(data['errors'])}[/bold red]"
        )
    console.print(f"elapsed: {data['elapsed_seconds']:.0f} s")
