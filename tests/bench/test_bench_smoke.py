"""Smoke test of the benchmark suite: every scenario (S1-S10) in quick mode,
one second per timed load, end to end.

No timing assertions: the figures depend on the machine. What must hold on
any machine is the shape of the results and the correctness checks: no
invariant violation and no double booking by bookingdb.
"""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from bookingdb.bench.runner import run

# End to end: quick runs of the benchmark's scenarios (make test-all).
pytestmark = pytest.mark.e2e


def _checks(scenario: dict[str, object]) -> dict[str, dict[str, object]]:
    checks = scenario["checks"]
    assert isinstance(checks, list)
    return {check["name"]: check for check in checks}


def _metric_names(scenario: dict[str, object]) -> set[str]:
    metrics = scenario["metrics"]
    assert isinstance(metrics, list)
    return {metric["name"] for metric in metrics}


def _quick(
    server_dsn: str, tmp_path: Path, scenarios: list[str], output: io.StringIO | None = None
) -> dict[str, object]:
    """``scenarios`` in quick mode, one second per timed load."""
    return run(
        server_dsn,
        quick=True,
        out_dir=tmp_path,
        console=Console(file=output or io.StringIO(), width=160),
        scenarios=scenarios,
        seconds=1,
    )


def test_quick_s1_s2_run_reports_no_double_bookings(server_dsn: str, tmp_path: Path) -> None:
    output = io.StringIO()
    results = _quick(server_dsn, tmp_path, ["S1", "S2"], output)

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
    results = _quick(server_dsn, tmp_path, ["S8"])

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


def _metric(scenario: dict[str, object], name: str) -> float | None:
    metrics = scenario["metrics"]
    assert isinstance(metrics, list)
    return next(m["value"] for m in metrics if m["name"] == name)


def test_quick_s9_and_s10_check_the_sale_and_the_waitlist(server_dsn: str, tmp_path: Path) -> None:
    results = _quick(server_dsn, tmp_path, ["S9", "S10"])

    assert results["errors"] == []
    saved = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    s9, s10 = saved["scenarios"]["S9"], saved["scenarios"]["S10"]

    # S9: as many connections as the server has room for (128 on the
    # benchmark's own server); every ticket accounted for, none sold twice.
    assert s9["correct"] is True
    assert {
        "tickets/s",
        "checkouts/s (hold + confirm)",
        "time to sell out",
        "refusals BK001",
        "refusals BK002",
        "refusals BK020",
        "checkout latency p50",
        "checkout latency p99",
    } <= _metric_names(s9)
    assert 1 <= s9["details"]["clients"] <= 128
    sold = _metric(s9, "tickets sold")
    assert sold is not None and sold + s9["details"]["left"] == 5_500
    checks = _checks(s9)
    for name in (
        "GA places oversold (acknowledged)",
        "seats sold twice (acknowledged)",
        "tickets beyond capacity (stored)",
        "acknowledged tickets not stored",
        "inventory - sold - left",
    ):
        assert checks[name]["value"] == 0

    # S10: churn happened, and every check that holds for the SQL as it is
    # passes. Serving order: sql/048_waitlist.sql gives up on an entry whose
    # row lock it cannot get within 100 ms, and join_waitlist serving the
    # line holds those locks, so a cancellation beside a join may pass over
    # the first entry; any other failure is new.
    checks = _checks(s10)
    for name in (
        "verify_invariants() rows",
        "freed slots offered twice",
        "waitlist entries that disagree with their booking",
        "offers not traced to a client's step",
        "deadlocks seen by callers",
        "unexpected errors",
    ):
        assert checks[name]["passed"], (name, checks[name])
    assert s10["details"]["serving_failures_beside_join"] == len(s10["details"]["serving_failures"])
    offers = _metric(s10, "offers made by cancel")
    assert offers is not None and offers > 0


def test_quick_s3_to_s7_pass_their_correctness_checks(server_dsn: str, tmp_path: Path) -> None:
    """The scenarios the tests above leave out (the on-sale, the Python client,
    hold -> confirm, growth and storage), so that every scenario of
    ``bookingdb bench --quick`` runs in make test-all."""
    scenarios = ["S3", "S4", "S5", "S6", "S7"]
    results = _quick(server_dsn, tmp_path, scenarios)

    assert results["errors"] == []
    assert results["correct"] is True
    saved = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert sorted(saved["scenarios"]) == scenarios
    for name in scenarios:
        checks = _checks(saved["scenarios"][name])
        assert checks, f"{name} reports no correctness checks"
        assert all(check["passed"] for check in checks.values()), name
