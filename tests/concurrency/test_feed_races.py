"""The change feed under concurrent writers: a consumer that reads while
bookings commit in any order, and reconnects now and then, sees every change
exactly once, numbered without gaps, each booking's changes in order."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from .conftest import Venue
from .racing import Outcome, Session, assert_refused_only_with, run_threads

pytestmark = pytest.mark.concurrency


def consume(venue: Venue, stop: threading.Event, reconnect_every: int) -> list[dict[str, Any]]:
    """Poll changes_since from the last seq seen until ``stop`` is set, then
    drain; drop the connection every ``reconnect_every`` reads (a consumer
    that disconnects and catches up from its cursor)."""
    seen: list[dict[str, Any]] = []
    last, reads = 0, 0
    conn = psycopg.connect(venue.dsn, autocommit=True, row_factory=dict_row)
    try:
        while True:
            finished = stop.is_set()
            page = conn.execute(
                "SELECT * FROM bookingdb.changes_since(%s, %s, 50)", (venue.venue_id, last)
            ).fetchall()
            seen += page
            last = page[-1]["seq"] if page else last
            reads += 1
            if reads % reconnect_every == 0:
                conn.close()
                conn = psycopg.connect(venue.dsn, autocommit=True, row_factory=dict_row)
            if finished and not page:
                return seen
    finally:
        conn.close()


def test_a_consumer_sees_every_change_once_in_order_across_reconnects(venue: Venue) -> None:
    tables = [venue.add_resource(f"T{i}") for i in range(4)]
    stop = threading.Event()
    consumed: list[list[dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: consumed.append(consume(venue, stop, 5)))
    reader.start()

    def writer(session: Session) -> list[Outcome]:
        told: list[Outcome] = []
        for n in range(15):
            hour = (session.index + n) % 6
            outcome = session.attempt(
                "create_booking_atomic",
                venue_id=venue.venue_id,
                resource_ids=[tables[(session.index * 7 + n) % 4]],
                starts_at=venue.at(60 * hour),
                ends_at=venue.at(60 * hour + 60),
            )
            told.append(outcome)
            if outcome.row is not None and n % 3 == 1:
                told.append(
                    session.attempt(
                        "cancel_booking", venue_id=venue.venue_id, booking_id=outcome.row["id"]
                    )
                )
            elif outcome.row is not None and n % 3 == 2:
                told.append(
                    session.attempt(
                        "reschedule_booking",
                        venue_id=venue.venue_id,
                        booking_id=outcome.row["id"],
                        expected_version=outcome.row["version"],
                        starts_at=venue.at(60 * hour + 600),
                        ends_at=venue.at(60 * hour + 660),
                    )
                )
        return told

    try:
        outcomes = [o for told in run_threads(venue.dsn, 8, writer) for o in told]
    finally:
        stop.set()
        reader.join(120)
    assert not reader.is_alive() and len(consumed) == 1
    seen = consumed[0]
    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, {"BK001"})

    # Gap-free, no duplicates, and what a fresh reader gets from 0 is the same.
    assert [c["seq"] for c in seen] == list(range(1, len(seen) + 1))
    with psycopg.connect(venue.dsn, autocommit=True, row_factory=dict_row) as conn:
        again = conn.execute(
            "SELECT * FROM bookingdb.changes_since(%s, 0, 10000)", (venue.venue_id,)
        ).fetchall()
        audit = conn.execute(
            "SELECT booking_id, action, old_status, new_status FROM bookingdb.audit_log"
            " WHERE venue_id = %s ORDER BY booking_id, version",
            (venue.venue_id,),
        ).fetchall()
    assert again == seen
    # Each booking's changes, in feed order, are exactly its audit trail.
    in_feed: dict[int, list[tuple[str, str | None, str]]] = {}
    for c in seen:
        in_feed.setdefault(c["booking_id"], []).append(
            (c["action"], c["old_status"], c["new_status"])
        )
    in_audit: dict[int, list[tuple[str, str | None, str]]] = {}
    for a in audit:
        in_audit.setdefault(a["booking_id"], []).append(
            (a["action"], a["old_status"], a["new_status"])
        )
    assert in_feed == in_audit
    assert set(in_feed) == set(venue.ledger.acks)
    venue.check()
