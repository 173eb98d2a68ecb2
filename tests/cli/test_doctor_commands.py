"""``bookingdb doctor [--repair]`` finds and repairs a deliberately corrupted
index (issue 13's "Done means"), on PostgreSQL 15 and 18 alike (damage_kit)."""

from __future__ import annotations

import psycopg
import pytest
from damage_kit import BTREE, GIST, damage, overlapping_insert

from .conftest import Invoke
from .kit import ok_json, printed_json


def test_doctor_on_a_sound_database_says_ok(cli: Invoke) -> None:
    result = cli("doctor")
    assert result.exit_code == 0, result.output
    assert "no overlapping bookings" in result.stdout
    assert "ok: every allocation index finds every allocation" in result.stdout
    report = ok_json(cli("doctor", "--json"))
    assert report["healthy"] is True and report["overlaps"] == []
    assert {i["index_name"] for i in report["indexes"]} == {"allocations_pkey", BTREE, GIST}
    repaired = ok_json(cli("doctor", "--repair", "--json"))
    assert repaired["repairs"] == [] and repaired["after"]["healthy"] is True


def test_doctor_finds_repairs_only_after_the_overlap_is_resolved(cli: Invoke, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        hurt = damage(conn)

    # Found: the damaged indexes and which bookings collide.
    found = cli("doctor")
    assert found.exit_code == 1, found.output
    assert "DAMAGED: 2 missing" in found.stdout and GIST in found.stdout
    assert hurt.first.reference in found.stdout and hurt.second.reference in found.stdout
    assert "T1" in found.stdout and "Resolve each pair first" in found.stdout
    report = printed_json(cli("doctor", "--json"))
    assert report["healthy"] is False
    [pair] = report["overlaps"]
    assert (pair["booking_id"], pair["other_booking_id"]) == (hurt.first.id, hurt.second.id)

    # Refused while the two bookings overlap: exit 3, one line on stderr,
    # the report (with the pair) still on stdout.
    refused = cli("doctor", "--repair")
    assert refused.exit_code == 3, refused.output
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error BK023 overlaps unresolved") and hurt.second.reference in line
    assert "Traceback" not in refused.output
    assert hurt.first.reference in refused.stdout and "Resolve each pair first" in refused.stdout
    assert printed_json(cli("doctor", "--json"))["indexes"] == report["indexes"]

    # The operator cancels one booking; the repair rebuilds and checks again.
    ok_json(cli("cancel", hurt.venue, hurt.first.id, "--json"))
    repaired = cli("doctor", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert f"rebuilt {BTREE}: REINDEX INDEX CONCURRENTLY bookingdb.{BTREE}" in repaired.stdout
    assert f"rebuilt {GIST}: REINDEX INDEX bookingdb.{GIST}" in repaired.stdout
    assert "ok: every allocation index finds every allocation" in repaired.stdout
    assert ok_json(cli("doctor", "--json"))["healthy"] is True
    assert cli("verify").exit_code == 0

    # The exclusion constraint sees every booking again.
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        pytest.raises(psycopg.errors.ExclusionViolation),
    ):
        overlapping_insert(conn, hurt, hurt.stray.id)


def test_doctor_repair_json_reports_what_it_rebuilt(cli: Invoke, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        hurt = damage(conn)
        conn.execute("SELECT bookingdb.cancel_booking(%s, %s)", (hurt.venue, hurt.first.id))
    result = ok_json(cli("doctor", "--repair", "--json"))
    assert result["healthy"] is False  # before the repair
    assert [r["index_name"] for r in result["repairs"]] == [BTREE, GIST]
    assert result["after"]["healthy"] is True
    assert all(i["missing"] == 0 for i in result["after"]["indexes"])


def test_health_points_at_the_doctor(cli: Invoke, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        damage(conn)
    result = cli("health")
    assert result.exit_code == 1, result.output
    verdict = " ".join(result.stdout.split())  # the console wraps long lines
    assert f"allocation index {GIST} has lost entries: run bookingdb doctor" in verdict
