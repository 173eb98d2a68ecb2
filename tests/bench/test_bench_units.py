"""The benchmark's own correctness arithmetic, without a database."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from bookingdb.bench import runner
from bookingdb.bench.acks import Ack, SlotPlan, double_bookings, oversold, slot_index
from bookingdb.bench.cli import bench
from bookingdb.bench.plans import CallPlan, booking_scans, parse_notice


def test_slot_plan_never_repeats_a_slot() -> None:
    plan = SlotPlan(venue_id=1, first_resource=100, resources=10_000, t0=0)
    slots = {plan.slot(i) for i in range(200_000)}
    assert len(slots) == 200_000
    assert all(100 <= resource < 10_100 for resource, _ in slots)


def test_slot_index_matches_the_pgbench_counter() -> None:
    # Client 3 of 16, its second transaction (pgbench numbers them from 1).
    assert slot_index(offset=1_000, clients=16, client=3, transaction_no=2) == 1_000 + 3 + 16


def test_overlapping_acknowledgements_on_one_resource_are_double_bookings() -> None:
    acks = [
        Ack((1,), 0, 3600),
        Ack((1,), 1800, 5400),  # overlaps the first
        Ack((1,), 5000, 9000),  # overlaps the second
        Ack((2,), 0, 3600),  # another resource
        Ack((1,), 9000, 12600),  # touches, does not overlap
    ]
    assert double_bookings(acks) == 2


def test_shared_resources_are_not_exclusive() -> None:
    acks = [Ack((7,), 0, 3600, quantity=2), Ack((7,), 0, 3600, quantity=3)]
    assert double_bookings(acks, capacity={7: 5}) == 0
    assert oversold(acks, {7: 5}) == 0
    assert oversold(acks, {7: 4}) == 1


def test_oversell_counts_peak_units_not_overlapping_bookings() -> None:
    # 09-10 and 11-12 never meet a 10-11 booking: peak 2 units, not 3.
    acks = [Ack((7,), 9, 10, 2), Ack((7,), 11, 12, 2), Ack((7,), 10, 11, 2)]
    assert oversold(acks, {7: 2}) == 0


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="S99"):
        runner.select(["S1", "s99"])
    assert runner.select(["s2", "S1"]) == ["S1", "S2"]
    result = CliRunner().invoke(_app(), ["--scenario", "S99"])
    assert result.exit_code == 2


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(bench)
    return app


@pytest.mark.parametrize(
    ("outcome", "exit_code"),
    [
        ({"correct": True, "errors": []}, 0),
        ({"correct": False, "errors": []}, 1),
        ({"correct": True, "errors": ["S3"]}, 2),
    ],
)
def test_exit_code_follows_correctness_not_timing(
    monkeypatch: pytest.MonkeyPatch, outcome: dict[str, object], exit_code: int
) -> None:
    seen: dict[str, object] = {}

    def fake_run(dsn: str | None, **options: object) -> dict[str, object]:
        seen.update(options, dsn=dsn)
        return outcome

    monkeypatch.setattr(runner, "run", fake_run)
    result = CliRunner().invoke(
        _app(), ["--quick", "--dsn", "dbname=x", "--scenario", "s2", "--scenario", "S1"]
    )
    assert result.exit_code == exit_code
    assert seen["dsn"] == "dbname=x"
    assert seen["quick"] is True
    assert seen["scenarios"] == ["S1", "S2"]


def _scan(node: str, schema: str, relation: str, **more: object) -> dict[str, object]:
    return {"Node Type": node, "Schema": schema, "Relation Name": relation, **more}


def test_a_seq_scan_on_a_booking_table_anywhere_in_the_plan_is_not_index_driven() -> None:
    plan = {
        "Node Type": "Nested Loop",
        "Plans": [
            _scan("Seq Scan", "bookingdb", "resources", **{"Actual Rows": 100, "Actual Loops": 1}),
            _scan("Seq Scan", "bench", "naive_bookings", **{"Actual Rows": 9, "Actual Loops": 1}),
            {
                "Node Type": "Aggregate",
                "Parent Relationship": "SubPlan",
                "Plans": [
                    _scan(
                        "Seq Scan",
                        "bookingdb",
                        "allocations",
                        **{"Actual Rows": 4, "Rows Removed by Filter": 996, "Actual Loops": 2},
                    )
                ],
            },
        ],
    }
    scans = list(booking_scans(plan))
    # Only the booking tables count; the small resources table may be scanned.
    assert [(s.node, s.relation, s.rows_read) for s in scans] == [
        ("Seq Scan", "bookingdb.allocations", 2_000)
    ]
    call = CallPlan(statements=1, scans=tuple(scans))
    assert not call.index_driven
    assert call.to_dict()["scans"] == ["1 x Seq Scan on bookingdb.allocations (2,000 rows read)"]


def test_index_and_bitmap_scans_are_index_driven_and_name_their_indexes() -> None:
    bitmap = _scan(
        "Bitmap Heap Scan",
        "bookingdb",
        "allocations",
        **{
            "Actual Rows": 3,
            "Rows Removed by Index Recheck": 1,
            "Actual Loops": 1,
            "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "allocations_no_overlap"}],
        },
    )
    index = _scan(
        "Index Scan",
        "bookingdb",
        "bookings",
        **{"Index Name": "bookings_pkey", "Actual Rows": 1, "Actual Loops": 50},
    )
    scans = [*booking_scans(bitmap), *booking_scans(index)]
    call = CallPlan(statements=2, scans=tuple(scans))
    assert call.index_driven
    assert call.rows_read == 4 + 50
    assert [s.describe() for s in scans] == [
        "Bitmap Heap Scan using allocations_no_overlap on bookingdb.allocations (4 rows read)",
        "Index Scan using bookings_pkey on bookingdb.bookings (50 rows read)",
    ]


def test_auto_explain_notices_are_read_and_other_notices_ignored() -> None:
    message = (
        'duration: 0.025 ms  plan:\n{\n  "Query Text": "SELECT 1",\n'
        '  "Plan": {"Node Type": "Result", "Actual Rows": 1.00, "Actual Loops": 1}\n}'
    )
    found = parse_notice(message)
    assert found is not None
    assert found["Query Text"] == "SELECT 1"
    assert parse_notice('relation "x" already exists, skipping') is None
    assert parse_notice("duration: 1 ms  plan:\n{not json") is None


def test_s8_to_s10_are_scenarios_of_the_suite_in_order() -> None:
    assert runner.select(["s8"]) == ["S8"]
    assert runner.select(["s10", "S9", "s8"]) == ["S8", "S9", "S10"]
    assert runner.select(None)[-3:] == ["S8", "S9", "S10"]
