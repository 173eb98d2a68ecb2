"""Racers for a shared resource (a two-chair service, a class): never oversold."""

from __future__ import annotations

import pytest

from .conftest import Venue
from .racing import assert_refused_only_with, race, refusals

pytestmark = pytest.mark.concurrency


@pytest.mark.parametrize("function", ["create_booking_atomic", "create_hold"])
def test_ten_racers_for_a_capacity_two_service_exactly_two_win(venue: Venue, function: str) -> None:
    service = venue.add_resource("haircut, two chairs", capacity=2)

    outcomes = race(
        venue.dsn,
        10,
        function,
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [service],
            "starts_at": venue.at(0),
            "ends_at": venue.at(45),
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK002"})
    assert sum(o.won for o in outcomes) == 2
    assert refusals(outcomes) == {"BK002": 8}
    venue.check()


def test_racers_for_staggered_times_and_quantities_never_oversell(venue: Venue) -> None:
    spin_class = venue.add_resource("spin class", capacity=5)

    # Racer i wants 1-3 places for an hour starting i*15 minutes later, so
    # the occupancy that matters is the maximum at any instant, not the
    # number of overlapping bookings.
    outcomes = race(
        venue.dsn,
        24,
        "create_booking_atomic",
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [spin_class],
            "starts_at": venue.at(15 * (i % 8)),
            "ends_at": venue.at(15 * (i % 8) + 60),
            "quantity": 1 + i % 3,
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK002"})
    assert any(o.won for o in outcomes)
    venue.check()


def test_racers_for_the_last_places_of_a_class_fill_it_exactly(venue: Venue) -> None:
    yoga = venue.add_resource("yoga class", capacity=7)

    # Seven places, twelve racers wanting two each: three win (six places);
    # the seventh place cannot take a pair.
    outcomes = race(
        venue.dsn,
        12,
        "create_booking_atomic",
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [yoga],
            "starts_at": venue.at(0),
            "ends_at": venue.at(60),
            "quantity": 2,
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK002"})
    assert sum(o.won for o in outcomes) == 3
    venue.check()
