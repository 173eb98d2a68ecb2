"""Moves racing new bookings over the same tables.

A move gives up its old claim and takes a new one. If it gave up every old
claim first, a booking waiting for one of those freed rows while the move
waits for that booking's new row would deadlock (seen as 40P01 in a storm).
"""

from __future__ import annotations

import pytest

from .conftest import Venue
from .racing import Outcome, Session, assert_refused_only_with, run_threads

pytestmark = pytest.mark.concurrency

PAIRS = 6
ROUNDS = 15


def test_a_move_to_another_table_racing_a_booking_of_both_tables_never_deadlocks(
    venue: Venue,
) -> None:
    """Each round, in each pair, booking A sits on table 2 and moves to table 1
    while B asks for tables 1 and 2 at the same time. B can never have table 2
    (A's old claim or, after the move, free but table 1 is A's) unless the
    move fails; either way exactly one party ends up with each table."""
    t1 = venue.add_resource("table 1")
    t2 = venue.add_resource("table 2")

    def body(session: Session) -> list[Outcome]:
        outcomes = []
        pair, role = divmod(session.index, 2)
        for round_ in range(ROUNDS):
            start = 180 * (round_ * PAIRS + pair)
            slot = {"starts_at": venue.at(start), "ends_at": venue.at(start + 60)}
            mine = None
            if role == 0:
                created = session.attempt(
                    "create_booking_atomic", venue_id=venue.venue_id, resource_ids=[t2], **slot
                )
                outcomes.append(created)
                assert created.row is not None
                mine = created.row
            session.sync()
            if role == 0:
                assert mine is not None
                outcomes.append(
                    session.attempt(
                        "reschedule_booking",
                        venue_id=venue.venue_id,
                        booking_id=mine["id"],
                        expected_version=mine["version"],
                        resource_ids=[t1],
                        **slot,
                    )
                )
            else:
                outcomes.append(
                    session.attempt(
                        "create_booking_atomic",
                        venue_id=venue.venue_id,
                        resource_ids=[t1, t2],
                        party_size=2,
                        **slot,
                    )
                )
        return outcomes

    outcomes = [o for mine in run_threads(venue.dsn, 2 * PAIRS, body) for o in mine]
    venue.ledger.record_all(o.row for o in outcomes)

    assert_refused_only_with(outcomes, {"BK001"})
    venue.check()
