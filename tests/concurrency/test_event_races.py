"""An on-sale rush: racers for the same seats, for the best seats, and for
general admission until the event is sold out. Nobody gets a seat twice and
the sold count never exceeds the inventory."""

from __future__ import annotations

from collections import Counter

import psycopg
import pytest

from .conftest import Venue
from .racing import Outcome, Session, assert_refused_only_with, race, run_threads

pytestmark = pytest.mark.concurrency


def make_event(
    venue: Venue, rows: int = 0, per_row: int = 0, ga: int = 0
) -> tuple[int, list[int], int | None]:
    """An event with ``rows`` x ``per_row`` seats (category 'stalls') and a
    general-admission floor of ``ga`` places (category 'floor')."""
    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT bookingdb.set_venue_rules(%s, '{\"max_party\": 1000}')", (venue.venue_id,)
        )
        event = conn.execute(
            "SELECT bookingdb.create_event(%s, 'On sale', %s, %s)",
            (venue.venue_id, venue.at(0), venue.at(180)),
        ).fetchone()
        assert event is not None
        seats: list[int] = []
        for r in range(rows):
            block = conn.execute(
                "SELECT bookingdb.add_seat_block(%s, 'Stalls', %s, 1, %s)",
                (venue.venue_id, chr(ord("A") + r), per_row),
            ).fetchone()
            assert block is not None
            seats += block[0]
        for seat in seats:
            venue.ledger.resource(seat, 1)
        if seats:
            conn.execute(
                "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'stalls', 5000)",
                (venue.venue_id, event[0], seats),
            )
        floor = None
        if ga:
            floor = venue.add_resource("Floor", capacity=ga)
            conn.execute(
                "SELECT bookingdb.add_event_inventory(%s, %s, %s, 'floor', 2500)",
                (venue.venue_id, event[0], [floor]),
            )
    return int(event[0]), seats, floor


def test_racers_for_the_same_two_seats_one_wins(venue: Venue) -> None:
    event, seats, _ = make_event(venue, rows=1, per_row=10)
    outcomes = race(
        venue.dsn,
        10,
        "hold_event_tickets",
        lambda i: {"venue_id": venue.venue_id, "event_id": event, "seat_ids": seats[4:6]},
    )
    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, {"BK001"})
    assert sum(o.won for o in outcomes) == 1
    venue.check()


def test_racers_for_the_best_pairs_get_distinct_adjacent_seats(venue: Venue) -> None:
    # 4 rows of 10 hold exactly 20 pairs if picked middle-out.
    event, seats, _ = make_event(venue, rows=4, per_row=10)
    outcomes = race(
        venue.dsn,
        20,
        "hold_event_tickets",
        lambda i: {
            "venue_id": venue.venue_id,
            "event_id": event,
            "quantity": 2,
            "category": "stalls",
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, set())
    taken = [seat for o in outcomes if o.row for seat in o.row["resource_ids"]]
    assert sorted(taken) == sorted(seats)  # each seat once, all sold
    for o in outcomes:
        assert o.row is not None
        a, b = o.row["resource_ids"]
        assert b == a + 1 and seats.index(a) // 10 == seats.index(b) // 10  # side by side
    venue.check()


def test_an_event_sells_out_exactly_under_a_rush(venue: Venue) -> None:
    """16 buyers keep buying (1-3 floor places, or 1-2 best seats, some named
    seats) until refused; at the end every place is sold exactly once."""
    event, seats, floor = make_event(venue, rows=3, per_row=8, ga=60)
    assert floor is not None

    def buyer(session: Session) -> list[Outcome]:
        told: list[Outcome] = []
        floor_open, seats_open, n = True, True, 0
        while floor_open or seats_open:
            n += 1
            if floor_open and (n % 2 == 0 or not seats_open):
                outcome = session.attempt(
                    "hold_event_tickets",
                    venue_id=venue.venue_id,
                    event_id=event,
                    quantity=1 + (session.index + n) % 3,
                    category="floor",
                )
                # Refused for 3 places may still leave 1 or 2: try singles last.
                if outcome.sqlstate == "BK002":
                    outcome = session.attempt(
                        "hold_event_tickets",
                        venue_id=venue.venue_id,
                        event_id=event,
                        quantity=1,
                        category="floor",
                    )
                    floor_open = outcome.sqlstate != "BK002"
            else:
                named = session.index % 4 == 0 and n < 4
                args = (
                    {"seat_ids": [seats[(session.index * 5 + n) % len(seats)]]}
                    if named
                    else {"quantity": 1 + n % 2, "category": "stalls"}
                )
                outcome = session.attempt(
                    "hold_event_tickets", venue_id=venue.venue_id, event_id=event, **args
                )
                if outcome.sqlstate == "BK001" and not named:
                    outcome = session.attempt(
                        "hold_event_tickets",
                        venue_id=venue.venue_id,
                        event_id=event,
                        quantity=1,
                        category="stalls",
                    )
                    seats_open = outcome.sqlstate != "BK001"
            told.append(outcome)
            if outcome.row is not None and n % 3 == 0:
                told.append(
                    session.attempt(
                        "confirm_hold", venue_id=venue.venue_id, booking_id=outcome.row["id"]
                    )
                )
        return told

    outcomes = [o for told in run_threads(venue.dsn, 16, buyer) for o in told]
    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, {"BK001", "BK002"})

    sold: Counter[int] = Counter()
    for ack in venue.ledger.acks.values():
        for resource in ack.resource_ids:
            sold[resource] += ack.quantity
    assert sold[floor] == 60
    assert all(sold[seat] == 1 for seat in seats)
    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        left = conn.execute(
            "SELECT sum(remaining) FROM bookingdb.event_availability(%s, %s)",
            (venue.venue_id, event),
        ).fetchone()
    assert left is not None and left[0] == 0
    venue.check()
