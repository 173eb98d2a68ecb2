"""Smoke test of the benchmark suite: S1 and S2, one second per load, end to end.

No timing assertions: the figures depend on the machine. What must hold on
any machine is the shape of the results and the correctness checks: no
invariant violation and no double booking by bookingdb.
"""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

from rich.console import Console

from bookingdb.bench.runner import run


def _checks(scenario: dict[str, object]) -> dict[str, dict[str, object]]:
    checks = scenario["checks"]
    assert isinstance(checks, list)
    return {check["name"]: check for check in checks}


def _metric_names(scenario: dict[str, object]) -> set[str]:
    metrics = scenario["metrics"]
    assert isinstance(metrics, list)
    return {metric["name"] for metric in metrics}


def test_quick_s1_s2_run_reports_no_double_bookings(server_dsn: str, tmp_path: Path) -> None:
    output = io.StringIO()
    results = run(
        server_dsn,
        quick=True,
        out_dir=tmp_path,
        console=Console(file=output, width=160),
        scenarios=["S1", "S2"],
        seconds=1,
    )

    assert results["errors"] == []
    assert results["correct"] is True
    saved = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert saved["scenarios"].keys() == {"S1", "S2"}
    assert saved["postgresql"]["server_version"]
    assert saved["machine"]["cpu_count"]

    s1, s2 = saved["scenarios"]["S1"], saved["scenarios"]["S2"]
    assert {"bookings/s", "latency p50", "latency p99"} <= _metric_names(s1)
    assert {"attempts/s", "attempts/s vs S1", "wins", "latency p99"} <= _metric_names(s2)
    for scenario in (s1, s2):
        checks = _checks(scenario)
        assert checks["verify_invariants() rows"]["value"] == 0
        assert checks["double bookings (acknowledged)"]["value"] == 0
        assert checks["stored - acknowledged bookings"]["value"] == 0
        assert all(check["passed"] for check in checks.values())
    assert _checks(s2)["deadlocks seen by callers"]["value"] == 0
    wins = next(m for m in s2["metrics"] if m["name"] == "wins")
    assert 0 < wins["value"] <= 20 * 50
    # The naive reference's double bookings are reported, never a failure.
    assert _checks(s2)["double bookings (acknowledged)"]["reference"] is not None

    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "chart.png").stat().st_size > 0
    else:
        assert results["chart"] is None
    assert "bookingdb bench" in output.getvalue()
