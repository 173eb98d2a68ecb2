"""The doctor through the Python client (both flavours): doctor() finds the
indexes that lost rows and the double booking they let in,
repair_allocation_indexes() is refused while it stands and rebuilds once it
is resolved (damage_kit: the same damage on PostgreSQL 15 and 18)."""

from __future__ import annotations

import psycopg
import pytest
from api_kit import Conn
from damage_kit import BTREE, GIST, damage, overlapping_insert

from bookingdb import (
    BookingDB,
    DoctorReport,
    HiddenOverlap,
    IndexCheck,
    IndexRepair,
    OverlapsUnresolved,
)


def test_doctor_finds_a_sound_database_healthy(db: BookingDB) -> None:
    report = db.doctor()
    assert isinstance(report, DoctorReport)
    assert report.healthy and report.damaged == () and report.overlaps == ()
    assert {c.index_name for c in report.indexes} == {"allocations_pkey", BTREE, GIST}
    assert all(isinstance(c, IndexCheck) and c.missing == 0 for c in report.indexes)
    assert db.repair_allocation_indexes() == []


def test_doctor_finds_the_damage_and_repair_waits_for_the_overlap(
    db: BookingDB, conn: Conn
) -> None:
    hurt = damage(conn)
    report = db.doctor()
    assert not report.healthy
    assert {c.index_name: c.missing for c in report.damaged} == {GIST: 2, BTREE: 2}
    [pair] = report.overlaps
    assert isinstance(pair, HiddenOverlap)
    assert (pair.reference, pair.other_reference) == (hurt.first.reference, hurt.second.reference)
    assert pair.resource_name == "T1" and pair.overlap[0] < pair.overlap[1]

    with pytest.raises(OverlapsUnresolved) as refused:
        db.repair_allocation_indexes()
    assert refused.value.sqlstate == "BK023"
    assert hurt.second.reference in (refused.value.detail or "")
    assert {c.index_name: c.missing for c in db.doctor().damaged} == {GIST: 2, BTREE: 2}

    db.cancel_booking(hurt.venue, hurt.first.id)
    repairs = db.repair_allocation_indexes()
    assert [(r.index_name, r.concurrently) for r in repairs] == [(BTREE, True), (GIST, False)]
    assert all(isinstance(r, IndexRepair) for r in repairs)
    assert db.doctor().healthy
    assert db.verify_invariants() == []
    with pytest.raises(psycopg.errors.ExclusionViolation):
        overlapping_insert(conn, hurt, hurt.stray.id)


def test_repair_can_rebuild_every_index(db: BookingDB) -> None:
    repairs = db.repair_allocation_indexes(include_healthy=True)
    assert {r.index_name for r in repairs} == {"allocations_pkey", BTREE, GIST}
    assert db.doctor().healthy
