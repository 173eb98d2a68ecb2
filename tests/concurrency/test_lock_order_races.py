"""Ticket holds naming seats, with lapsed holds spread across them: the lock
order holds on every path, so no call ever ends in a deadlock (40P01).

Found on the way to the GiST defence: `_expire_in_way` expires a lapsed
hold's allocations (the audit trigger updates them, on every seat of that
hold) before the new booking's inserts, outside the resource-id order the
lock design relies on; two `hold_event_tickets` calls naming seats ended in
`40P01 deadlock detected ... while checking exclusion constraint`. Every
booking now takes the exclusive per-resource lock of each resource it writes
(sorted ids) before any of that, so two calls that name a common seat never
write at the same time, and calls with no common seat only meet on lapsed
holds' rows, which each locks in id order before writing an allocation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from .conftest import Venue
from .racing import Session, Step, assert_refused_only_with, backend_pid, race_each
from .test_event_races import make_event

pytestmark = pytest.mark.concurrency

LAPSED_AT_ONCE = timedelta(microseconds=1)


def seat_hold(venue: Venue, event: int, seats: list[int], ttl: timedelta | None = None) -> int:
    with psycopg.connect(venue.dsn, autocommit=True, row_factory=dict_row) as conn:
        row = Session(conn, -1).call(
            "hold_event_tickets",
            venue_id=venue.venue_id,
            event_id=event,
            seat_ids=seats,
            ttl=ttl,
        )
    venue.ledger.record(row)
    return int(row["id"])


def test_two_seat_calls_over_a_lapsed_hold_wait_in_order_and_never_deadlock(
    venue: Venue, lapsed: Callable[[int], None]
) -> None:
    """Seats 1 < 2 < 3; a lapsed hold H on seats 1 and 3.

    1. A (transaction left open) holds seats 1 and 2: it expires H, whose
       allocations on seats 1 *and* 3 are now A's uncommitted updates.
    2. B asks for seats 2 and 3. It must wait for A before writing anything
       (on the lock of seat 2, the first seat they share), not insert seat 3
       and then meet A's update of H's allocation there.
    3. A commits. B is told BK001 (seat 2 is A's); no 40P01.
    """
    event, seats, _ = make_event(venue, rows=1, per_row=3)
    s1, s2, s3 = seats
    h = seat_hold(venue, event, [s1, s3], ttl=LAPSED_AT_ONCE)
    lapsed(h)

    with (
        psycopg.connect(venue.dsn, autocommit=True) as observer,
        psycopg.connect(venue.dsn, row_factory=dict_row) as a_conn,
    ):
        a_pid = backend_pid(a_conn)
        a = Session(a_conn, a_pid).attempt(
            "hold_event_tickets", venue_id=venue.venue_id, event_id=event, seat_ids=[s1, s2]
        )
        assert a.won, a.message

        b = Step(
            venue.dsn,
            "hold_event_tickets",
            venue_id=venue.venue_id,
            event_id=event,
            seat_ids=[s2, s3],
        ).start()
        b.wait_blocked_by(observer, a_pid)
        wait = observer.execute(
            "SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (b.pid,)
        ).fetchone()
        assert wait is not None and wait[0] == "advisory", (
            f"B should wait on a seat's lock before writing, not on {wait}"
        )
        a_conn.commit()
        outcome_b = b.join()

    venue.ledger.record_all([a.row, outcome_b.row])
    assert_refused_only_with([outcome_b], {"BK001"})
    assert not outcome_b.won
    venue.check()


def test_seat_calls_across_lapsed_holds_never_deadlock(
    venue: Venue, lapsed: Callable[[int], None]
) -> None:
    """Rounds of racers naming overlapping pairs and triples of seats, each
    round over holds that lapsed on crossing pairs of those seats (every
    racer's way is blocked by holds that also block other racers' seats)."""
    event, seats, _ = make_event(venue, rows=2, per_row=8)
    rng = random.Random(13)
    for _ in range(4):
        # Lapsed holds on disjoint pairs of free seats far apart in id order.
        now = datetime.now(UTC)
        taken = {r for ack in venue.ledger.occupying(now) for r in ack.resource_ids}
        free = [s for s in seats if s not in taken]
        rng.shuffle(free)
        holds = [seat_hold(venue, event, sorted(free[i : i + 2]), LAPSED_AT_ONCE) for i in (0, 2)]
        for h in holds:
            lapsed(h)
        calls = [
            (
                "hold_event_tickets",
                {
                    "venue_id": venue.venue_id,
                    "event_id": event,
                    "seat_ids": rng.sample(seats, rng.choice((2, 3))),
                },
            )
            for _ in range(12)
        ]
        outcomes = race_each(venue.dsn, calls)
        venue.ledger.record_all(o.row for o in outcomes)
        assert_refused_only_with(outcomes, {"BK001"})
        # Give the winners' seats back, so that the next round has free
        # pairs to lapse holds on however many racers won this one.
        with psycopg.connect(venue.dsn, autocommit=True, row_factory=dict_row) as conn:
            for won in (o.row for o in outcomes if o.won):
                assert won is not None
                venue.ledger.record(
                    Session(conn, -1).call(
                        "release_hold", venue_id=venue.venue_id, booking_id=won["id"]
                    )
                )
    venue.check()
