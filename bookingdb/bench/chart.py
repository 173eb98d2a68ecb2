"""The PNG chart: throughput per scenario, p50/p99 latency, S6's growth curve and
S8's availability-engine timings.

matplotlib is an optional extra (``pip install 'bookingdb[bench]'``); without
it :func:`draw` returns False and the caller says the chart was skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

BOOKINGDB_COLOUR = "#1f6feb"
REFERENCE_COLOUR = "#9aa4ae"


def draw(data: Mapping[str, Any], path: Path) -> bool:
    """Draw ``data`` (the results dict) into ``path``; False when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [
        entry
        for result in data["scenarios"].values()
        if not result.get("error")
        for entry in result["series"]
        if entry["per_second"] is not None
    ]
    curve = (data["scenarios"].get("S6") or {}).get("details", {}).get("curve") or []
    engine = (data["scenarios"].get("S8") or {}).get("details", {})
    engine_curve = engine.get("curve") or []
    panels = 2 + bool(curve) + bool(engine_curve)
    # Four panels in a row would be too wide to read: two rows of two.
    rows = 2 if panels == 4 else 1
    height = 0.45 * max(len(series), 6) + 2.2
    fig, grid = plt.subplots(
        rows, panels // rows, figsize=(6.2 * panels / rows, height * rows), squeeze=False
    )
    axes = list(grid.flat)
    labels = [entry["label"] for entry in series]
    colours = [REFERENCE_COLOUR if entry["reference"] else BOOKINGDB_COLOUR for entry in series]
    positions = list(range(len(series)))

    throughput = axes[0]
    values = [entry["per_second"] for entry in series]
    throughput.barh(positions, values, color=colours)
    throughput.set_xlim(0, 1.18 * max(values, default=1))
    throughput.set_yticks(positions, labels)
    throughput.invert_yaxis()
    throughput.set_xlabel("per second (bookings, attempts or tickets; grey = reference)")
    throughput.set_title("Throughput")
    for y, value in zip(positions, values, strict=True):
        throughput.annotate(
            f" {value:,.0f}", (value, y), va="center", fontsize=8, annotation_clip=False
        )

    latency = axes[1]
    height = 0.4
    p50 = [entry["latency"]["p50_ms"] or 0.0 for entry in series]
    p99 = [entry["latency"]["p99_ms"] or 0.0 for entry in series]
    latency.barh([y - height / 2 for y in positions], p50, height, label="p50", color="#58a6ff")
    latency.barh([y + height / 2 for y in positions], p99, height, label="p99", color="#1f3b73")
    latency.set_yticks(positions, labels)
    latency.invert_yaxis()
    latency.set_xscale("symlog", linthresh=1.0)
    latency.set_xlabel("ms per operation (client-observed)")
    latency.set_title("Latency p50 / p99")
    latency.legend(loc="best", fontsize=8)

    if curve:
        growth = axes[2]
        sizes = [point["bookings"] for point in curve]
        growth.plot(
            sizes,
            [point["bookings_per_s"] or 0 for point in curve],
            "o-",
            color=BOOKINGDB_COLOUR,
            label="bookings/s (S1 load)",
        )
        growth.set_xscale("log")
        growth.set_xlabel("existing bookings")
        growth.set_ylabel("bookings/s")
        growth.set_ylim(0, 1.2 * max(point["bookings_per_s"] or 0 for point in curve) + 1)
        growth.set_title("S6 growth")
        checks = growth.twinx()
        checks.plot(
            sizes,
            [point["check_availability_p50_ms"] or 0 for point in curve],
            "s--",
            color="#d29922",
            label="check_availability p50 (server, ms)",
        )
        checks.set_ylabel("check_availability p50, ms (server-side)")
        checks.set_ylim(
            0, 1.2 * max(point["check_availability_p50_ms"] or 0 for point in curve) + 0.001
        )
        lines = growth.get_legend_handles_labels()
        more = checks.get_legend_handles_labels()
        growth.legend(lines[0] + more[0], lines[1] + more[1], loc="lower left", fontsize=8)

    if engine_curve:
        _engine_panel(axes[-1], engine, engine_curve)

    machine = data.get("machine", {})
    fig.suptitle(
        f"bookingdb bench ({data.get('mode')}) · {data.get('generated_at')} · "
        f"{machine.get('cpu_count')} CPUs · PostgreSQL {data['postgresql']['server_version']}",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _engine_panel(ax: Any, engine: Mapping[str, Any], points: list[Mapping[str, Any]]) -> None:
    """S8: server-side p50 of each availability question against the bookings
    present, its target dotted in the same colour; hollow markers where the
    plans were not index-driven."""
    sizes = [point["bookings"] for point in points]
    for number, query in enumerate(engine["queries"]):
        colour = f"C{number}"
        values = [point[query["key"]]["p50_ms"] or 0.0 for point in points]
        ax.plot(sizes, values, "-", color=colour, label=f"{query['label']} p50")
        for size, value, point in zip(sizes, values, points, strict=True):
            plan = (point.get("plans") or {}).get(query["key"]) or {}
            hollow = plan.get("index_driven") is False
            ax.plot(size, value, "o", color=colour, markerfacecolor="white" if hollow else colour)
        ax.axhline(query["target_ms"], color=colour, linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("existing bookings")
    ax.set_ylabel("ms per call, p50 (server-side)")
    ax.set_title("S8 availability engine (dotted: target; hollow: Seq Scan)")
    ax.legend(loc="upper left", fontsize=8)
