"""A concert on sale, looped for a bounded time: the pattern that sold seats
twice on PostgreSQL 16-18 (issue 13).

Buyers, each on its own connection, released together by a barrier, keep
buying until the time is up: named seats, the best available seats, standing
places; their holds have a short ttl, most lapse and are sold again, some are
confirmed; now and then a buyer looks at what is left (event_availability).
At the end, besides ``verify_invariants()`` and the ledger's checks, an
independent check judges from what the buyers were told. Right after each
acknowledgement the buyer reads the database clock (``clock_timestamp()``):
the booking was surely committed by then, so it surely occupied its seats or
places from that instant until its hold's ``expires_at`` (no transaction can
see a hold as lapsed before then, ``now()`` never runs ahead of the clock),
or for good once confirmed. No seat may be surely occupied by two bookings
at one instant, and the standing floor may never surely hold more than its
capacity. (A transaction's ``created_at`` is no start: a buyer queued on the
seat picker's lock has a ``now()`` from before the hold it later replaces was
even made.)

``BOOKINGDB_STRESS_SECONDS`` (default 3) bounds the loop,
``BOOKINGDB_STRESS_BUYERS`` (default 30) sets the number of buyers.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from .conftest import Venue
from .racing import Outcome, Session, assert_refused_only_with, run_threads
from .test_event_races import make_event

pytestmark = pytest.mark.concurrency

SECONDS = float(os.environ.get("BOOKINGDB_STRESS_SECONDS", "3"))
BUYERS = int(os.environ.get("BOOKINGDB_STRESS_BUYERS", "30"))

ROWS, PER_ROW, FLOOR_PLACES = 6, 10, 40
# Short enough that most holds lapse during the loop and their seats are sold again.
TTLS = ("150 milliseconds", "400 milliseconds", "1 second")
CONFIRM_SHARE = 0.08

# Refusals a buyer may get: seats taken / no adjacent run (BK001), the floor
# is full (BK002), a confirmation that came after the hold lapsed (BK003),
# and busy (BK020): a rush queues on the seat picker's lock, and on a loaded
# machine a buyer may wait past the functions' lock_timeout; that refusal
# writes nothing and tells the buyer to retry, as documented.
# Anything else (a deadlock, an exclusion violation) is a bug.
ALLOWED = {"BK001", "BK002", "BK003", "BK020"}


@dataclass(frozen=True)
class Sale:
    """One booking as its buyer was told, and when it surely occupied."""

    booking_id: int
    resource_ids: tuple[int, ...]
    quantity: int
    acked_at: datetime
    expires_at: datetime | None
    confirmed: bool

    @property
    def until(self) -> datetime | None:
        """End of the sure occupation: the hold's expires_at, never once confirmed."""
        return None if self.confirmed else self.expires_at

    def overlaps(self, other: Sale) -> bool:
        """Both surely occupied at some instant: [acked_at, until) intersect."""
        return (other.until is None or self.acked_at < other.until) and (
            self.until is None or other.acked_at < self.until
        )


def make_concert(venue: Venue) -> tuple[int, list[list[int]], int]:
    """An event with ROWS x PER_ROW numbered seats ('stalls') and a standing
    floor of FLOOR_PLACES ('floor'); returns (event, seats by row, floor)."""
    event, seats, floor = make_event(venue, rows=ROWS, per_row=PER_ROW, ga=FLOOR_PLACES)
    assert floor is not None
    rows = [seats[i : i + PER_ROW] for i in range(0, len(seats), PER_ROW)]
    return event, rows, floor


def double_sales(sales: list[Sale], floor: int) -> list[str]:
    """Seats acknowledged to two bookings that occupied them at the same time,
    and instants at which the floor held more than its capacity."""
    problems: list[str] = []
    by_seat: dict[int, list[Sale]] = defaultdict(list)
    for sale in sales:
        for resource_id in sale.resource_ids:
            if resource_id != floor:
                by_seat[resource_id].append(sale)
    for seat, claims in sorted(by_seat.items()):
        claims.sort(key=lambda s: s.acked_at)
        for i, first in enumerate(claims):
            for second in claims[i + 1 :]:
                if first.overlaps(second):
                    problems.append(f"seat {seat} sold twice at once: {first} and {second}")

    # Sweep the floor's sure occupancy: +q at acked_at, -q when the hold
    # lapses (ends before starts at one instant: the times are half-open).
    on_floor = [s for s in sales if floor in s.resource_ids]
    steps = sorted(
        [(s.acked_at, 1, s.quantity, s.booking_id) for s in on_floor]
        + [(s.until, 0, -s.quantity, s.booking_id) for s in on_floor if s.until is not None]
    )
    in_use = 0
    for at, _, delta, booking_id in steps:
        in_use += delta
        if in_use > FLOOR_PLACES:
            problems.append(
                f"floor oversold at {at}: {in_use} of {FLOOR_PLACES} places (booking {booking_id})"
            )
    return problems


def test_a_concert_on_sale_never_sells_a_seat_twice(venue: Venue) -> None:
    event, rows, floor = make_concert(venue)
    v = venue.venue_id
    deadline = time.monotonic() + SECONDS
    lock = threading.Lock()
    sales: list[Sale] = []
    outcomes: list[Outcome] = []

    def buyer(session: Session) -> int:
        rng = random.Random(session.index)
        calls = 0
        while time.monotonic() < deadline:
            calls += 1
            ttl = rng.choice(TTLS)
            pick = rng.random()
            if pick < 0.08:
                session.call("event_availability", venue_id=v, event_id=event)
                continue
            if pick < 0.40:
                row = rng.choice(rows)
                first = rng.randrange(len(row))
                args: dict[str, Any] = {"seat_ids": row[first : first + rng.choice((1, 2))]}
            elif pick < 0.75:
                args = {"quantity": rng.choice((1, 2)), "category": "stalls"}
            else:
                args = {"quantity": rng.choice((1, 2, 3)), "category": "floor"}
            hold = session.attempt(
                "hold_event_tickets", venue_id=v, event_id=event, ttl=ttl, **args
            )
            told = [hold]
            confirmed = False
            if hold.row is not None:
                venue.ledger.record(hold.row)
                clock = session.conn.execute("SELECT clock_timestamp() AS t").fetchone()
                assert clock is not None
                acked_at: datetime = clock["t"]
                if rng.random() < CONFIRM_SHARE:
                    confirm = session.attempt("confirm_hold", venue_id=v, booking_id=hold.row["id"])
                    told.append(confirm)
                    if confirm.row is not None:
                        venue.ledger.record(confirm.row)
                        confirmed = confirm.row["status"] == "confirmed"
            with lock:
                outcomes.extend(told)
                if hold.row is not None:
                    sales.append(
                        Sale(
                            booking_id=hold.row["id"],
                            resource_ids=tuple(hold.row["resource_ids"]),
                            quantity=hold.row["quantity"],
                            acked_at=acked_at,
                            expires_at=hold.row["expires_at"],
                            confirmed=confirmed,
                        )
                    )
        return calls

    calls = run_threads(venue.dsn, BUYERS, buyer)

    assert_refused_only_with(outcomes, ALLOWED)
    holds_per_seat = Counter(s for sale in sales for s in sale.resource_ids if s != floor)
    resold = sum(1 for n in holds_per_seat.values() if n > 1)
    assert resold > 0, f"{sum(calls)} calls, {len(sales)} holds, yet no seat was sold again"
    problems = double_sales(sales, floor)
    assert problems == [], "\n".join(problems)
    venue.check()
