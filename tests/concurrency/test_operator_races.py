"""Operator controls under concurrency: a hoarder racing for many tables gets
exactly the venue's limit; a caller holding the booking lock keeps racers off
until it commits; sellable capacity is never oversold."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from .conftest import Venue
from .racing import Step, assert_refused_only_with, backend_pid, race

pytestmark = pytest.mark.concurrency


def test_one_holder_racing_for_ten_tables_gets_exactly_the_limit(venue: Venue) -> None:
    tables = [venue.add_resource(f"T{i}") for i in range(10)]
    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT bookingdb.set_venue_rules(%s, '{\"max_active_holds_per_customer\": 3}')",
            (venue.venue_id,),
        )
    outcomes = race(
        venue.dsn,
        10,
        "create_hold",
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [tables[i]],
            "starts_at": venue.at(0),
            "ends_at": venue.at(120),
            "holder": "session-abc",
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, {"BK021"})
    assert sum(o.won for o in outcomes) == 3
    venue.check()


def test_bookings_wait_for_a_caller_holding_the_booking_lock(venue: Venue) -> None:
    spin = venue.add_resource("Spin class", capacity=3)
    args = {
        "venue_id": venue.venue_id,
        "resource_ids": [spin],
        "starts_at": venue.at(0),
        "ends_at": venue.at(60),
    }
    with (
        psycopg.connect(venue.dsn) as owner,
        psycopg.connect(venue.dsn, autocommit=True) as observer,
    ):
        owner.execute(
            "SELECT bookingdb.acquire_booking_lock(%s, %s, %s, %s)",
            (venue.venue_id, spin, venue.at(0), venue.at(60)),
        )
        waiting = Step(venue.dsn, "create_booking_atomic", **args, quantity=2).start()
        waiting.wait_blocked_by(observer, backend_pid(owner))
        # The owner books inside its own transaction, then commits.
        with owner.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, 1, NULL, 2)",
                (venue.venue_id, [spin], venue.at(0), venue.at(60)),
            ).fetchone()
        assert row is not None
        owner.commit()
        venue.ledger.record(row)
    outcome = waiting.join()
    # Two places of three were taken while it waited: it sees them and is refused.
    assert outcome.sqlstate == "BK002", outcome.message
    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        booked = conn.execute(
            "SELECT sum(quantity) FROM bookingdb.list_bookings(%s, %s, %s)",
            (venue.venue_id, venue.at(0), venue.at(60)),
        ).fetchone()
    assert booked is not None and booked[0] == 2
    venue.check()


def test_racers_never_exceed_a_lowered_sellable_capacity(venue: Venue) -> None:
    hall = venue.add_resource("Hall", capacity=10)
    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        conn.execute("SELECT bookingdb.set_sellable_capacity(%s, %s, 4)", (venue.venue_id, hall))
    venue.ledger.capacity[hall] = 4  # what may be sold is what the ledger checks
    outcomes = race(
        venue.dsn,
        12,
        "create_booking_atomic",
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [hall],
            "starts_at": venue.at(0),
            "ends_at": venue.at(60),
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, {"BK002"})
    assert sum(o.won for o in outcomes) == 4
    venue.check()
