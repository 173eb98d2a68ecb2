"""Smoke test of the benchmark suite: S1 and S2, one second per load, and S8
in quick mode, end to end.

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


S8_QUESTIONS = (
    "availability 1 resource, 30 days",
    "availability 100 resources, 1 day",
    "table_combinations, party of 12",
    "check_availability_many, 50 requests",
)


def test_quick_s8_times_each_question_and_checks_its_plans(server_dsn: str, tmp_path: Path) -> None:
    results = run(
        server_dsn,
        quick=True,
        out_dir=tmp_path,
        console=Console(file=io.StringIO(), width=160),
        scenarios=["S8"],
        seconds=1,
    )

    assert results["errors"] == []
    assert results["correct"] is True
    s8 = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["scenarios"]["S8"]
    names = _metric_names(s8)
    for question in S8_QUESTIONS:
        assert {f"{question} p50 @10k", f"{question} p50 @50k", f"{question} p99 @50k"} <= names
    assert {"index-driven plans @10k", "index-driven plans @50k"} <= names
    # Targets apply at 1M: quick mode shows them without a verdict.
    assert all(m["met"] is None for m in s8["metrics"] if "p50" in m["name"])
    checks = _checks(s8)
    assert checks["verify_invariants() rows"]["value"] == 0
    assert checks["stored - acknowledged bookings"]["value"] == 0
    assert all(check["passed"] for check in checks.values())

    curve = s8["details"]["curve"]
    assert [point["bookings"] for point in curve] == [10_000, 50_000]
    for point in curve:
        for key in ("availability_one", "availability_all", "table_combinations"):
            assert point[key]["samples"] == 20
            assert point[key]["p50_ms"] > 0
            # Under 3% of the hours are booked at these sizes: every question finds some.
            assert point[key]["mean_answer"] > 0
        many = point["check_availability_many"]
        assert 0 < many["mean_answer"] <= 50
        if point["plans"] is not None:
            # auto_explain saw the statements inside the functions, down to
            # their reads of the booking tables.
            for plan in point["plans"].values():
                assert plan["statements"] > 1
                assert plan["scans"]
