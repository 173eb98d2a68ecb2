"""Clients fighting over one booking (double clicks on confirm, two staff
members cancelling or moving it at once), and moves racing new bookings."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from .conftest import Venue
from .racing import (
    Row,
    Session,
    Step,
    assert_refused_only_with,
    backend_pid,
    race,
    race_each,
    refusals,
)

pytestmark = pytest.mark.concurrency

RACERS = 16


def book(venue: Venue, function: str, resource_ids: list[int], start: float, end: float) -> Row:
    with psycopg.connect(venue.dsn, autocommit=True, row_factory=dict_row) as conn:
        row = Session(conn, -1).call(
            function,
            venue_id=venue.venue_id,
            resource_ids=resource_ids,
            starts_at=venue.at(start),
            ends_at=venue.at(end),
        )
    venue.ledger.record(row)
    return row


def test_confirm_clicked_many_times_at_once_confirms_once(venue: Venue) -> None:
    table = venue.add_resource("table 1")
    hold = book(venue, "create_hold", [table], 0, 60)

    outcomes = race(
        venue.dsn,
        RACERS,
        "confirm_hold",
        lambda i: {"venue_id": venue.venue_id, "booking_id": hold["id"]},
    )
    venue.ledger.record_all(o.row for o in outcomes)

    # Confirming a confirmed booking with no new details returns it unchanged.
    assert_refused_only_with(outcomes, set())
    assert {(o.row["status"], o.row["version"]) for o in outcomes if o.row} == {("confirmed", 2)}
    venue.check()


def test_cancels_with_the_same_expected_version_racing_one_wins(venue: Venue) -> None:
    table = venue.add_resource("table 1")
    booking = book(venue, "create_booking_atomic", [table], 0, 60)

    outcomes = race(
        venue.dsn,
        RACERS,
        "cancel_booking",
        lambda i: {
            "venue_id": venue.venue_id,
            "booking_id": booking["id"],
            "expected_version": booking["version"],
            "reason": f"staff member {i}",
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK004"})
    assert sum(o.won for o in outcomes) == 1
    assert refusals(outcomes) == {"BK004": RACERS - 1}
    venue.check()


def test_cancels_without_expected_version_racing_one_wins_the_rest_get_bk006(
    venue: Venue,
) -> None:
    table = venue.add_resource("table 1")
    booking = book(venue, "create_booking_atomic", [table], 0, 60)

    outcomes = race(
        venue.dsn,
        RACERS,
        "cancel_booking",
        lambda i: {"venue_id": venue.venue_id, "booking_id": booking["id"]},
    )
    venue.ledger.record_all(o.row for o in outcomes)

    # The first cancel wins; the booking is then cancelled, and cancelling a
    # cancelled booking is an invalid transition (BK006), not an internal error.
    assert_refused_only_with(outcomes, {"BK006"})
    assert sum(o.won for o in outcomes) == 1
    venue.check()


def test_moves_with_the_same_expected_version_racing_one_wins(venue: Venue) -> None:
    table = venue.add_resource("table 1")
    booking = book(venue, "create_booking_atomic", [table], 0, 60)

    # Each racer moves the booking to a different later hour.
    outcomes = race(
        venue.dsn,
        RACERS,
        "reschedule_booking",
        lambda i: {
            "venue_id": venue.venue_id,
            "booking_id": booking["id"],
            "expected_version": booking["version"],
            "starts_at": venue.at(60 * (i + 1)),
            "ends_at": venue.at(60 * (i + 2)),
        },
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK004"})
    assert sum(o.won for o in outcomes) == 1
    venue.check()


def test_confirms_racing_releases_of_one_hold_end_in_exactly_one_of_them(venue: Venue) -> None:
    table = venue.add_resource("table 1")
    hold = book(venue, "create_hold", [table], 0, 60)
    target = {"venue_id": venue.venue_id, "booking_id": hold["id"]}

    calls = [("confirm_hold" if i % 2 else "release_hold", target) for i in range(RACERS)]
    outcomes = race_each(venue.dsn, calls)
    venue.ledger.record_all(o.row for o in outcomes)

    confirms = [o for o in outcomes if o.racer % 2]
    releases = [o for o in outcomes if not o.racer % 2]
    if any(o.won for o in releases):
        # Released first: one release won, everyone after is told it is gone.
        assert sum(o.won for o in releases) == 1
        assert refusals(outcomes) == {"BK003": RACERS - 1}
    else:
        # Confirmed first: every confirm gets the booking (a repeated confirm
        # returns it unchanged), every release is told it is no longer a hold.
        assert all(o.won and o.row and o.row["version"] == 2 for o in confirms)
        assert refusals(releases) == {"BK006": len(releases)}
    venue.check()


def test_racers_for_the_slot_a_booking_moves_into_never_double_book(venue: Venue) -> None:
    table = venue.add_resource("table 1")
    booking = book(venue, "create_booking_atomic", [table], 0, 60)

    # Racer 0 moves the booking to 120-180; the others want 150-210 for
    # themselves. The move and the newcomers overlap: one of them wins.
    def request(i: int) -> dict[str, object]:
        if i == 0:
            return {
                "venue_id": venue.venue_id,
                "booking_id": booking["id"],
                "expected_version": booking["version"],
                "starts_at": venue.at(120),
                "ends_at": venue.at(180),
            }
        return {
            "venue_id": venue.venue_id,
            "resource_ids": [table],
            "starts_at": venue.at(150),
            "ends_at": venue.at(210),
        }

    outcomes = race_each(
        venue.dsn,
        [
            ("reschedule_booking" if i == 0 else "create_booking_atomic", request(i))
            for i in range(RACERS)
        ],
    )
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK001"})
    assert sum(o.won for o in outcomes) == 1
    venue.check()


def test_a_move_onto_a_shared_resource_racing_a_new_booking_never_deadlocks(
    venue: Venue,
) -> None:
    """A reschedule gives up its old allocations before it locks the shared
    resources of its new slot; a new booking locks the shared resources
    before it places its exclusive allocations. Steps:

    1. C, another customer, books a chair at 14:00 in a transaction still
       open: it holds the salon's shared-resource lock.
    2. P asks for [t1, chairs] at 10:30-11:30: waits for the salon lock (C).
    3. R moves booking X ([t1, chairs] 10:00-11:00) to 10:15-11:15: deletes
       X's allocations (t1 10:00-11:00 among them), then queues for the
       salon lock behind P.
    4. C commits. P gets the salon lock and places t1 10:30-11:30, which
       overlaps X's old allocation that R has deleted but not committed:
       P waits for R, R waits for P's salon lock.

    The engine must not let that surface as 40P01: one of P and R gets
    t1 for 10:30-11:00, the other is told BK001.
    """
    t1 = venue.add_resource("table 1")
    chairs = venue.add_resource("two-chair salon", capacity=2)
    x = book(venue, "create_booking_atomic", [t1, chairs], 0, 60)

    with (
        psycopg.connect(venue.dsn, autocommit=True) as observer,
        psycopg.connect(venue.dsn, row_factory=dict_row) as customer_in_flight,
    ):
        held = Session(customer_in_flight, -1).call(
            "create_booking_atomic",
            venue_id=venue.venue_id,
            resource_ids=[chairs],
            starts_at=venue.at(240),
            ends_at=venue.at(300),
        )
        c = backend_pid(customer_in_flight)

        p = Step(
            venue.dsn,
            "create_booking_atomic",
            venue_id=venue.venue_id,
            resource_ids=[t1, chairs],
            starts_at=venue.at(30),
            ends_at=venue.at(90),
        ).start()
        p.wait_blocked_by(observer, c)

        r = Step(
            venue.dsn,
            "reschedule_booking",
            venue_id=venue.venue_id,
            booking_id=x["id"],
            expected_version=x["version"],
            starts_at=venue.at(15),
            ends_at=venue.at(75),
        ).start()
        r.wait_blocked_by(observer, p.pid)

        customer_in_flight.commit()
        venue.ledger.record(held)
        outcomes = [p.join(), r.join()]

    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, {"BK001"})
    assert sum(o.won for o in outcomes) == 1
    venue.check()


def test_a_hold_extended_while_racers_want_its_slot_keeps_blocking_them(venue: Venue) -> None:
    table = venue.add_resource("table 1")
    hold = book(venue, "create_hold", [table], 0, 60)
    extend = {"venue_id": venue.venue_id, "booking_id": hold["id"], "extra": timedelta(minutes=5)}
    take = {
        "venue_id": venue.venue_id,
        "resource_ids": [table],
        "starts_at": venue.at(0),
        "ends_at": venue.at(60),
    }

    calls = [
        ("extend_hold", extend) if i % 2 else ("create_booking_atomic", take) for i in range(RACERS)
    ]
    outcomes = race_each(venue.dsn, calls)
    venue.ledger.record_all(o.row for o in outcomes)

    # Every extension succeeds in turn (one version each); no racer gets the table.
    assert_refused_only_with(outcomes, {"BK001"})
    versions = sorted(o.row["version"] for o in outcomes if o.row)
    assert versions == list(range(2, RACERS // 2 + 2))
    assert refusals(outcomes) == {"BK001": RACERS // 2}
    venue.check()
