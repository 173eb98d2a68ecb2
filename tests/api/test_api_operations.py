"""What operators watch, through the Python client: refusals counted (the
client reports each one after the refused statement rolled back), stats()
and health()."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from api_kit import Conn, Connect

from bookingdb import BookingDB, NotFound, SlotUnavailable

At = Callable[[float], datetime]


def _refuse_a_slot(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    db.create_booking_atomic(venue, [table], at(10), at(12))
    with pytest.raises(SlotUnavailable):
        db.create_hold(venue, [table], at(11), at(13))


def test_refusals_are_reported_and_show_in_stats(db: BookingDB, venue: int, at: At) -> None:
    _refuse_a_slot(db, venue, at)
    _refuse_a_slot(db, venue, at)
    with pytest.raises(NotFound):
        db.get_booking(venue, 987654)
    assert db.stats(venue)["refusals"] == {"BK001": 2, "BK007": 1}


def test_a_client_may_leave_refusals_uncounted(
    connect: Connect, dsn: str, db: BookingDB, venue: int, at: At
) -> None:
    with connect(dsn, max_size=1, report_refusals=False) as quiet:
        _refuse_a_slot(quiet, venue, at)
    assert db.stats(venue)["refusals"] == {}


def test_a_report_that_fails_never_hides_the_refusal(
    db: BookingDB, conn: Conn, venue: int, at: At, caplog: pytest.LogCaptureFixture
) -> None:
    # This test's own database: take the counter away so every report fails.
    conn.execute("DROP FUNCTION bookingdb.record_refusal(bigint, text)")
    with caplog.at_level(logging.WARNING, logger="bookingdb"):
        _refuse_a_slot(db, venue, at)
    assert "could not report refusal BK001" in caplog.text


def test_stats_count_bookings_holds_utilisation_and_hours(
    db: BookingDB, venue: int, at: At
) -> None:
    table = db.add_resource(venue, "T1")
    room = db.add_resource(venue, "Room", capacity=4)
    db.create_booking_atomic(venue, [table], at(10), at(12))
    hold = db.create_hold(venue, [table], at(13), at(14))
    db.confirm_hold(venue, hold.id)
    released = db.create_hold(venue, [room], at(10), at(11), quantity=2)
    db.release_hold(venue, released.id)
    db.create_hold(venue, [room], at(10), at(12), quantity=4)
    # Holds count by when they were made (now), bookings by when they start.
    window = (datetime.now(UTC) - timedelta(hours=1), at(24))
    hours = (window[1] - window[0]) / timedelta(hours=1)
    stats = db.stats(venue, *window)
    assert stats["venue_id"] == venue and stats["timezone"] == "Europe/Paris"
    assert datetime.fromisoformat(stats["since"]) == window[0]
    assert stats["bookings_by_status"] == {"confirmed": 2, "released": 1, "held": 1}
    holds = stats["holds"]
    assert (holds["created"], holds["confirmed"], holds["released"], holds["live"]) == (3, 1, 1, 1)
    assert holds["conversion_rate"] == pytest.approx(1 / 3, abs=1e-4)
    use = {row["resource_id"]: row["utilisation"] for row in stats["utilisation"]}
    # T1: 3 hours of the window; Room: all 4 units for 2 hours.
    assert use == {
        table: pytest.approx(3 / hours, abs=1e-4),
        room: pytest.approx(2 / hours, abs=1e-4),
    }
    per_hour = {row["hour"]: row["bookings"] for row in stats["bookings_per_hour"]}
    assert sum(per_hour.values()) == 3
    # Local (Paris) hours, not UTC.
    paris_10 = at(10).astimezone(ZoneInfo("Europe/Paris")).replace(tzinfo=None)
    assert per_hour[paris_10.isoformat()] == 2


def test_health_is_healthy_on_a_tidy_database(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    db.create_hold(venue, [table], at(10), at(12))
    report = db.health(max_unswept=timedelta(minutes=10), max_feed_lag=timedelta(minutes=5))
    assert report["healthy"] is True and report["problems"] == []
    assert report["unswept_holds"] == 0 and report["invariant_violations"] == []
    assert report["invariants_checked"] is True


def test_health_reports_a_lapsed_hold_nobody_swept(db: BookingDB, venue: int, at: At) -> None:
    table = db.add_resource(venue, "T1")
    db.create_hold(venue, [table], at(10), at(12), ttl=timedelta(microseconds=1))
    # Without max_unswept, a lapsed hold is no problem (it never blocks).
    assert db.health(check_invariants=False)["healthy"] is True
    report = db.health(max_unswept=timedelta(0), check_invariants=False)
    assert report["healthy"] is False
    assert report["unswept_holds"] == 1
    assert [p for p in report["problems"] if "unswept" in p]
    assert report["invariants_checked"] is False and report["invariant_violations"] is None
    db.expire_holds()
    assert db.health(max_unswept=timedelta(0))["healthy"] is True
