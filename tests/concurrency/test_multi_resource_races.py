"""Bookings that claim several resources at once, racing in opposite orders.

Thread A asks for [t1, t2] while thread B asks for [t2, t1]: with locks taken
in the order the caller named them this is the textbook deadlock. The engine
takes them in sorted order, so nobody ever sees 40P01.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from .conftest import Venue
from .racing import Outcome, Session, assert_refused_only_with, run_threads

pytestmark = pytest.mark.concurrency

THREADS = 16
ROUNDS = 12


def test_pairs_asking_for_two_tables_in_opposite_orders_never_deadlock(venue: Venue) -> None:
    t1 = venue.add_resource("table 1")
    t2 = venue.add_resource("table 2")

    def body(session: Session) -> list[Outcome]:
        outcomes = []
        for round_ in range(ROUNDS):
            # Every round is a new race for a new evening; a quarter of the
            # racers start 30 minutes later, so ranges overlap without being equal.
            session.sync()
            start = 240 * round_ + 30 * (session.index % 4 == 3)
            order = [t1, t2] if session.index % 2 == 0 else [t2, t1]
            function = "create_booking_atomic" if session.index % 4 < 2 else "create_hold"
            outcomes.append(
                session.attempt(
                    function,
                    venue_id=venue.venue_id,
                    resource_ids=order,
                    starts_at=venue.at(start),
                    ends_at=venue.at(start + 120),
                    party_size=4,
                )
            )
        return outcomes

    outcomes = [o for mine in run_threads(venue.dsn, THREADS, body) for o in mine]
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK001"})
    # Each evening's two tables go to exactly one party (every request
    # overlaps every other in its round).
    assert sum(o.won for o in outcomes) == ROUNDS
    venue.check()


def test_random_orders_over_tables_and_a_shared_room_never_deadlock(venue: Venue) -> None:
    tables = [venue.add_resource(f"table {i}") for i in range(1, 4)]
    terrace = venue.add_resource("terrace", capacity=2)
    everything = [*tables, terrace]

    def body(session: Session) -> list[Outcome]:
        rng = random.Random(session.index)
        outcomes = []
        for round_ in range(ROUNDS):
            session.sync()
            # Two or three resources in a random order, partly overlapping times.
            wanted = rng.sample(everything, rng.choice([2, 3]))
            start = 300 * round_ + rng.choice([0, 30, 60, 90])
            args: dict[str, Any] = {
                "venue_id": venue.venue_id,
                "resource_ids": wanted,
                "starts_at": venue.at(start),
                "ends_at": venue.at(start + 90),
            }
            function = rng.choice(["create_booking_atomic", "create_hold"])
            outcomes.append(session.attempt(function, **args))
        return outcomes

    outcomes = [o for mine in run_threads(venue.dsn, THREADS, body) for o in mine]
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK001", "BK002"})
    assert any(o.won for o in outcomes)
    venue.check()
