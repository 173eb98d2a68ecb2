"""``bookingdb demo`` against the test database: the storm runs, and nothing is
double booked by the database's own check or by the clients' acknowledgements."""

from __future__ import annotations

import pytest

from .conftest import Invoke
from .kit import ok_json

# End to end: the demo's storm of 32 threads, twice (make test-all).
pytestmark = pytest.mark.e2e


def test_demo_storm_has_no_double_booking_and_can_run_again(cli: Invoke) -> None:
    first = cli("demo", "--threads", 32, "--rounds", 2, "--seed", 7, "--no-migrate")
    assert first.exit_code == 0, first.output
    assert "double bookings found by verify_invariants()" in first.stdout
    assert "OK: no double booking" in first.stdout

    # A second run makes its own venues in the same database (migrating again is harmless).
    report = ok_json(cli("demo", "--threads", 32, "--rounds", 3, "--json"))
    assert report["ok"] is True
    assert report["threads"] == 32
    assert report["attempts"] == 32 * 3
    assert report["other_errors"] == 0
    assert report["invariant_violations"] == []
    assert report["exclusive_overlaps"] == 0
    assert 1 <= report["shared_peak"] <= report["shared_capacity"] == 2
    assert report["split_replays"] == 0
    assert report["unacknowledged_in_db"] == report["acknowledged_missing"] == 0
    # The racers really raced: some won, some were refused with BK codes, and
    # the replay racers were handed one booking per round.
    assert report["bookings_won"] > 0
    assert report["refusals"].get("BK001", 0) > 0
    assert report["refusals"].get("BK018", 0) == 3
    assert report["won_by_role"]["replay"] == 3
    assert report["replays"] >= 3 * 3
    assert report["bookings_won"] + sum(report["refusals"].values()) <= report["attempts"]
