"""Racers for an exclusive resource (a table): exactly one wins, cleanly."""

from __future__ import annotations

import itertools

import pytest

from .conftest import Venue
from .racing import assert_refused_only_with, race, refusals

pytestmark = pytest.mark.concurrency

RACERS = 32


@pytest.mark.parametrize("function", ["create_booking_atomic", "create_hold"])
def test_thirty_two_racers_for_one_table_one_wins(venue: Venue, function: str) -> None:
    table = venue.add_resource("table 1")

    outcomes = race(
        venue.dsn,
        RACERS,
        function,
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [table],
            "starts_at": venue.at(0),
            "ends_at": venue.at(90),
            "party_size": 2,
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    # Exactly one winner; every loser is told BK001, none sees a deadlock
    # (40P01), an exclusion violation (23P01) or anything else.
    assert_refused_only_with(outcomes, {"BK001"})
    assert sum(o.won for o in outcomes) == 1
    assert refusals(outcomes) == {"BK001": RACERS - 1}
    venue.check()


def test_racers_for_overlapping_times_on_one_table_never_double_book(venue: Venue) -> None:
    table = venue.add_resource("table 1")

    # Racer i asks for an hour starting i*10 minutes later: every request
    # overlaps several others, and non-overlapping pairs may both win.
    outcomes = race(
        venue.dsn,
        RACERS,
        "create_booking_atomic",
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [table],
            "starts_at": venue.at(10 * i),
            "ends_at": venue.at(10 * i + 60),
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK001"})
    winners = sorted((o.row["starts_at"], o.row["ends_at"]) for o in outcomes if o.row)
    # At least one wins, and at most one per hour of the 6 hours requested.
    assert 1 <= len(winners) <= 6
    for (_, first_end), (second_start, _) in itertools.pairwise(winners):
        assert first_end <= second_start
    venue.check()


def test_racers_for_different_tables_all_win(venue: Venue) -> None:
    tables = [venue.add_resource(f"table {i}") for i in range(RACERS)]

    # Same time, a table each: the exclusion constraint must not make
    # unrelated tables wait for or refuse each other.
    outcomes = race(
        venue.dsn,
        RACERS,
        "create_booking_atomic",
        lambda i: {
            "venue_id": venue.venue_id,
            "resource_ids": [tables[i]],
            "starts_at": venue.at(0),
            "ends_at": venue.at(60),
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, set())
    assert all(o.won for o in outcomes)
    venue.check()
