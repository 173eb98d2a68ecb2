"""A mixed storm: many clients holding, confirming, cancelling, moving and
releasing bookings on a handful of resources at once.

Each call may be refused only with the codes its contract names for a race
(taken, full, expired, stale version, wrong status); anything else (a
deadlock, a serialization failure, a constraint violation, an internal
error) fails the test. Clients also act on each other's bookings, so the
same booking row is fought over too.
"""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from typing import Any

import pytest

from .conftest import Venue
from .ledger import Ack
from .racing import Outcome, Session, assert_refused_only_with, run_threads

pytestmark = pytest.mark.concurrency

THREADS = 12
OPS_PER_THREAD = 30

# What each call may be told in a storm besides success.
ALLOWED = {
    "create_hold": {"BK001", "BK002"},
    "create_booking_atomic": {"BK001", "BK002"},
    "confirm_hold": {"BK003", "BK006"},
    "extend_hold": {"BK003", "BK006"},
    "release_hold": {"BK003", "BK006"},
    "cancel_booking": {"BK004", "BK006"},
    "reschedule_booking": {"BK001", "BK002", "BK003", "BK004", "BK006"},
    "get_booking": set(),
    "check_availability": set(),
    "expire_holds": set(),
}


class Known:
    """Bookings any client has heard of, shared by all clients of the storm."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: list[int] = []

    def add(self, booking_id: int) -> None:
        with self._lock:
            if booking_id not in self._ids:
                self._ids.append(booking_id)

    def pick(self, rng: random.Random) -> int | None:
        with self._lock:
            return rng.choice(self._ids) if self._ids else None


def test_a_storm_of_mixed_operations_refuses_only_with_documented_codes(venue: Venue) -> None:
    tables = [venue.add_resource(f"table {i}") for i in range(1, 4)]
    chairs = venue.add_resource("two-chair salon", capacity=2)
    everything = [*tables, chairs]
    known = Known()
    ledger = venue.ledger

    def slot(rng: random.Random) -> dict[str, Any]:
        # Starts on a half-hour grid over four hours; 60 or 90 minutes long,
        # so most requests overlap several others.
        start = 30 * rng.randrange(8)
        return {"starts_at": venue.at(start), "ends_at": venue.at(start + rng.choice([60, 90]))}

    def resources(rng: random.Random) -> list[int]:
        return rng.sample(everything, rng.choice([1, 1, 2]))

    def latest(booking_id: int) -> Ack | None:
        return ledger.acks.get(booking_id)

    def body(session: Session) -> list[tuple[str, Outcome]]:
        rng = random.Random(1000 + session.index)
        done: list[tuple[str, Outcome]] = []
        for n in range(OPS_PER_THREAD):
            target = known.pick(rng)
            ack = latest(target) if target is not None else None
            op = rng.choice(
                ["create_hold"] * 4
                + ["create_booking_atomic"] * 3
                + ["confirm_hold"] * 3
                + ["cancel_booking", "reschedule_booking", "release_hold"] * 2
                + ["extend_hold", "get_booking", "check_availability", "expire_holds"]
            )
            if target is None or ack is None:
                op = "create_hold"
            args: dict[str, Any] = {"venue_id": venue.venue_id}
            if op in ("create_hold", "create_booking_atomic"):
                args |= {"resource_ids": resources(rng), **slot(rng)}
                if op == "create_hold":
                    # A third of the holds lapse at once, so later requests
                    # must expire them lazily.
                    args["ttl"] = rng.choice([timedelta(microseconds=1), None, None])
                elif rng.random() < 0.5:
                    # Keys shared by all clients; the request is a function of
                    # the key, so a reuse is always a replay.
                    key = rng.randrange(15)
                    key_rng = random.Random(key)
                    args |= {
                        "resource_ids": resources(key_rng),
                        **slot(key_rng),
                        "idempotency_key": f"storm-{key}",
                    }
            elif op == "check_availability":
                args |= {"resource_ids": resources(rng), **slot(rng)}
            elif op == "expire_holds":
                args = {"max_rows": 5}
            else:
                assert target is not None and ack is not None
                args["booking_id"] = target
                if op == "extend_hold":
                    args["extra"] = timedelta(minutes=5)
                elif op == "cancel_booking":
                    args["expected_version"] = ack.version if rng.random() < 0.7 else None
                    args["reason"] = f"storm {session.index}/{n}"
                elif op == "reschedule_booking":
                    args |= {"expected_version": ack.version, **slot(rng)}
                    if rng.random() < 0.5:
                        args["resource_ids"] = resources(rng)
            outcome = session.attempt(op, **args)
            if outcome.row is not None and "id" in outcome.row:
                ledger.record(outcome.row)
                known.add(int(outcome.row["id"]))
            done.append((op, outcome))
        return done

    results = [item for mine in run_threads(venue.dsn, THREADS, body) for item in mine]

    for op, allowed in ALLOWED.items():
        assert_refused_only_with([o for name, o in results if name == op], allowed)
    assert {op for op, _ in results} == set(ALLOWED), "the storm did not exercise every call"
    assert any(o.won and o.row and o.row.get("status") == "confirmed" for _, o in results)
    venue.check()
