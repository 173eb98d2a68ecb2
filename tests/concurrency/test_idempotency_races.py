"""Retries with one idempotency key racing each other (a double click, a
client retrying after a timeout while the first try is still running)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from .conftest import Venue
from .racing import assert_refused_only_with, race

pytestmark = pytest.mark.concurrency

RACERS = 16


def booking_rows(venue: Venue) -> int:
    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM bookingdb.bookings WHERE venue_id = %s", (venue.venue_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("function", ["create_booking_atomic", "create_hold"])
@pytest.mark.parametrize("capacity", [1, 2], ids=["table", "shared-room"])
def test_replays_of_one_request_racing_each_other_get_one_booking(
    venue: Venue, function: str, capacity: int
) -> None:
    resource = venue.add_resource("the resource", capacity=capacity)

    # The request takes every unit, so any replay that re-checked capacity
    # instead of finding the original would be refused.
    outcomes = race(
        venue.dsn,
        RACERS,
        function,
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [resource],
            "starts_at": venue.at(0),
            "ends_at": venue.at(60),
            "quantity": capacity,
            "idempotency_key": "checkout-8812",
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    # Every replay is answered with the same booking, none with an error.
    assert_refused_only_with(outcomes, set())
    assert len({o.row["id"] for o in outcomes if o.row}) == 1
    assert booking_rows(venue) == 1
    venue.check()


@pytest.mark.parametrize("function", ["create_booking_atomic", "create_hold"])
def test_one_key_reused_for_different_requests_racing_yields_one_booking(
    venue: Venue, function: str
) -> None:
    tables = [venue.add_resource(f"table {i}") for i in range(4)]

    # Half the racers send one request; the others each send a different one
    # (another table, another time, another party size) with the same key.
    def request(i: int) -> dict[str, Any]:
        variant = 0 if i % 2 == 0 else i
        return {
            "venue_id": venue.venue_id,
            "resource_ids": [tables[variant % 4]],
            "starts_at": venue.at(0 if variant % 3 else 30),
            "ends_at": venue.at(90),
            "party_size": 2 + (variant % 5 == 1),
            "idempotency_key": "checkout-0001",
        }

    outcomes = race(venue.dsn, RACERS, function, request)
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK005"})
    winners = {o.row["id"] for o in outcomes if o.row}
    assert len(winners) == 1
    assert booking_rows(venue) == 1

    # Whoever's request made the booking: every racer that sent exactly that
    # request got the booking back, every other racer got BK005.
    # Replays get it without the cancellation token: only its maker was
    # handed one.
    booking = {**next(o.row for o in outcomes if o.row), "cancel_token": None}
    made_by = request(next(o.racer for o in outcomes if o.row))
    for outcome in outcomes:
        if request(outcome.racer) == made_by:
            assert outcome.row is not None and {**outcome.row, "cancel_token": None} == booking, (
                outcome
            )
        else:
            assert outcome.sqlstate == "BK005", outcome
    if booking["status"] != "held":
        assert sum(bool(o.row and o.row["cancel_token"]) for o in outcomes) == 1
    venue.check()


def test_a_replay_racing_a_rival_for_the_same_table_gets_its_booking_or_bk001(
    venue: Venue,
) -> None:
    table = venue.add_resource("table 1")

    # Even racers replay one keyed request; odd racers want the same table
    # without a key. Whoever wins, keyed racers agree on one outcome.
    def request(i: int) -> dict[str, Any]:
        return {
            "venue_id": venue.venue_id,
            "resource_ids": [table],
            "starts_at": venue.at(0),
            "ends_at": venue.at(60),
            "idempotency_key": "retry-me" if i % 2 == 0 else None,
        }

    outcomes = race(venue.dsn, RACERS, "create_booking_atomic", request)
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK001"})
    # One booking in all, however many keyed racers were answered with it.
    assert len({o.row["id"] for o in outcomes if o.row}) == 1
    assert booking_rows(venue) == 1
    # Keyed racers agree: all got the one booking, or all were refused (a
    # rival won before any keyed request could place its allocation).
    keyed = {o.row["id"] if o.row else o.sqlstate for o in outcomes if o.racer % 2 == 0}
    assert len(keyed) == 1
    venue.check()
