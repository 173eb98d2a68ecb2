"""Crash: kill the server process (SIGKILL on the postmaster of a throwaway
embedded cluster) in the middle of a storm, restart it, and check that every
booking a client saw acknowledged is there, nothing unacknowledged is
half-there, and invariants hold.

Storm clients book with ``create_booking_atomic`` and idempotency keys and
cancel some of their own bookings. Before a call goes out it is noted as *in
flight*; when its answer comes back it is *acknowledged* (autocommit: the
call's transaction had committed) or refused. Once enough acknowledgements
are in, the postmaster is killed; every client's next answer is a broken
connection, and what it had in flight has an unknown fate. After the
restart (crash recovery from the WAL):

- every acknowledged booking is there, whole, in the state acknowledged;
- a booking in flight at the crash is either there whole or not at all, and
  so is a cancellation; a refused request left nothing;
- no allocation without a live booking, ``verify_invariants()`` empty;
- clients then retry what they had in flight with the same keys: a booking
  that committed unacknowledged is handed back (the same id), and the
  independent ledger check of what every client was told passes.

Then the storm starts again on the recovered server, for a few rounds.
Two ways to crash: SIGKILL the postmaster alone (its backends finish the
statement they are running, commit and answer before they notice) or every
server process at the same instant (which can catch a transaction between
its commit and its answer).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from concurrency.ledger import assert_invariants, verify_invariants
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from bookingdb.migrate import migrate

from .checks import Stored, by_key, orphan_allocations, stored_bookings
from .cluster import Crash, ThrowawayCluster
from .conftest import BOOK, BUSY, TAKEN, Request, Venue, create_venue

# End to end: real servers SIGKILLed mid-storm (make test-all).
pytestmark = [pytest.mark.faults, pytest.mark.e2e]

APP = "bookingdb-crash"
CLIENTS = 6
ROUNDS = 3
# Acknowledgements per round before the crash: the storm is in full swing.
ACKS_PER_ROUND = 200
# Share of calls that cancel one of the client's own acknowledged bookings.
CANCEL_SHARE = 0.2
DAYS = 10
# How long a round's storm may take to get going, and its clients to notice
# the crash.
DEADLINE = 60.0

CANCEL = (
    "SELECT * FROM bookingdb.cancel_booking("
    "venue_id => %(venue_id)s, booking_id => %(booking_id)s, "
    "expected_version => %(expected_version)s)"
)

Row = dict[str, Any]


@dataclass(frozen=True)
class Create:
    key: str
    request: Request


@dataclass(frozen=True)
class Cancel:
    booking_id: int
    version: int


Op = Create | Cancel


@dataclass
class Round:
    """One storm and its crash: what each client had in flight, and the
    numbers the report gives."""

    number: int
    enough: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    in_flight: dict[int, Op] = field(default_factory=dict)
    acks: int = 0
    killed: bool = False
    acked_after_kill: int = 0


class CrashStorm:
    """What clients sent and were told, over every round."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.lock = threading.Lock()
        self.round = Round(0)
        # Acknowledged: key -> booking id; booking id -> version cancelled at.
        self.booked: dict[str, int] = {}
        self.cancelled: dict[int, int] = {}
        self.refused: set[str] = set()

    def send(self, client: int, op: Op) -> None:
        with self.lock:
            self.round.in_flight[client] = op

    def acknowledged(self, client: int, op: Op, row: Row) -> None:
        self.venue.ledger.record(row)
        with self.lock:
            current = self.round
            del current.in_flight[client]
            if isinstance(op, Create):
                self.booked[op.key] = int(row["id"])
            else:
                self.cancelled[op.booking_id] = int(row["version"])
            current.acks += 1
            current.acked_after_kill += current.killed
            if current.acks >= ACKS_PER_ROUND:
                current.enough.set()

    def nothing_written(self, client: int, op: Op) -> None:
        with self.lock:
            del self.round.in_flight[client]
            if isinstance(op, Create):
                self.refused.add(op.key)

    def killing(self) -> None:
        with self.lock:
            self.round.killed = True


def client(storm: CrashStorm, index: int) -> None:
    """Book and cancel until the connection breaks (the crash)."""
    venue, current = storm.venue, storm.round
    rng = random.Random(current.number * 100 + index)
    mine: list[tuple[int, int]] = []  # acknowledged confirmed bookings: (id, version)
    number = 0
    with psycopg.connect(
        make_conninfo(venue.dsn, application_name=f"{APP}-{index}"),
        autocommit=True,
        row_factory=dict_row,
    ) as conn:
        while not current.stop.is_set():
            op: Op
            if mine and rng.random() < CANCEL_SHARE:
                booking_id, version = mine.pop(rng.randrange(len(mine)))
                op = Cancel(booking_id, version)
                query, params = (
                    CANCEL,
                    {
                        "venue_id": venue.venue_id,
                        "booking_id": booking_id,
                        "expected_version": version,
                    },
                )
            else:
                number += 1
                key = f"{APP}-r{current.number}-{index}-{number}"
                op = Create(key, venue.request(rng, DAYS))
                query, params = BOOK, op.request.params(venue.venue_id, op.key)
            storm.send(index, op)
            try:
                row = conn.execute(query, params).fetchone()
            except psycopg.OperationalError:
                return  # the server is gone; what was in flight stays in flight
            except psycopg.Error as err:
                taken = isinstance(op, Create) and err.sqlstate in TAKEN
                if not (taken or err.sqlstate == BUSY):
                    raise
                storm.nothing_written(index, op)
                if isinstance(op, Cancel):
                    mine.append((op.booking_id, op.version))
                continue
            assert row is not None
            storm.acknowledged(index, op, row)
            if isinstance(op, Create):
                mine.append((int(row["id"]), int(row["version"])))


def storm_until_crash(storm: CrashStorm, cluster: ThrowawayCluster, every_process: bool) -> Crash:
    """Run a round's clients until ACKS_PER_ROUND answers, then crash the
    server under them and wait until every client has seen it."""
    current = storm.round
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(client, storm, i) for i in range(CLIENTS)]
        try:
            # A client that fails before the crash ends the round at once.
            for future in futures:
                future.add_done_callback(lambda _: current.enough.set())
            assert current.enough.wait(DEADLINE), "the storm did not get going"
            assert not any(f.done() for f in futures), [f.exception() for f in futures]
            crash = cluster.crash(every_process=every_process, at_kill=storm.killing)
        finally:
            current.stop.set()
        for future in futures:
            future.result(timeout=DEADLINE)
    return crash


@dataclass
class Findings:
    """What one round's checks after the restart counted."""

    found: int
    cancels_found: int
    in_flight: int
    in_flight_committed: int
    cancels_in_flight: int
    cancels_in_flight_committed: int


def check_after_restart(storm: CrashStorm) -> Findings:
    """The state the crash left, before any client retries."""
    venue, current = storm.venue, storm.round
    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        stored = stored_bookings(conn, venue.venue_id)
        orphans = orphan_allocations(conn, venue.venue_id)
        violations = verify_invariants(conn)
    keys = by_key(stored)

    # Acknowledged bookings: there, whole, the very booking acknowledged.
    lost = [
        key
        for key, booking_id in storm.booked.items()
        if [b.booking_id for b in keys.get(key, [])] != [booking_id] or not stored[booking_id].whole
    ]
    cancels_lost = [
        booking_id
        for booking_id, version in storm.cancelled.items()
        if booking_id not in stored
        or (stored[booking_id].status, stored[booking_id].version) != ("cancelled", version)
    ]
    creates = {op.key for op in current.in_flight.values() if isinstance(op, Create)}
    cancels = [op for op in current.in_flight.values() if isinstance(op, Cancel)]
    assert lost == [], f"acknowledged bookings lost or broken: {lost}"
    assert cancels_lost == [], f"acknowledged cancellations lost: {cancels_lost}"
    # Nothing half there: every booking whole (in flight or not), its
    # allocations active exactly while it occupies; no orphan allocation.
    assert [b for b in stored.values() if not b.whole] == []
    assert orphans == []
    assert violations == []
    # Only keys acknowledged or in flight have a booking, one each; a refused
    # key has none.
    assert set(keys) <= set(storm.booked) | creates
    assert all(len(bookings) == 1 for bookings in keys.values())
    assert not set(keys) & storm.refused
    # An in-flight cancellation happened entirely or not at all.
    for op in cancels:
        booking = stored[op.booking_id]
        assert (booking.status, booking.version) in {
            ("confirmed", op.version),
            ("cancelled", op.version + 1),
        }, (op, booking)

    committed = creates & set(keys)
    cancelled = [op for op in cancels if stored[op.booking_id].status == "cancelled"]
    findings = Findings(
        found=len(storm.booked) - len(lost),
        cancels_found=len(storm.cancelled) - len(cancels_lost),
        in_flight=len(creates),
        in_flight_committed=len(committed),
        cancels_in_flight=len(cancels),
        cancels_in_flight_committed=len(cancelled),
    )
    # Clients reconnect and send again what they had in flight.
    assert retry_in_flight(storm, stored) == len(committed)
    return findings


def retry_in_flight(storm: CrashStorm, stored: dict[int, Stored]) -> int:
    """What a client does after reconnecting: send what it had in flight
    again (a booking with its key; a cancellation is read back), and take
    the answer as acknowledged. Returns how many bookings that had committed
    unacknowledged were handed back."""
    venue = storm.venue
    replayed = 0
    present = {b.key: b.booking_id for b in stored.values() if b.key is not None}
    with psycopg.connect(venue.dsn, autocommit=True, row_factory=dict_row) as conn:
        for op in storm.round.in_flight.values():
            if isinstance(op, Cancel):
                row = conn.execute(
                    "SELECT * FROM bookingdb.get_booking(%s, %s)", (venue.venue_id, op.booking_id)
                ).fetchone()
                assert row is not None
                venue.ledger.record(row)
                continue
            try:
                row = conn.execute(BOOK, op.request.params(venue.venue_id, op.key)).fetchone()
            except psycopg.Error as err:
                assert err.sqlstate in TAKEN, f"{op.key}: {err.sqlstate} {err}"
                assert op.key not in present, f"{op.key} committed, but its replay was refused"
                storm.refused.add(op.key)
                continue
            assert row is not None
            venue.ledger.record(row)
            storm.booked[op.key] = int(row["id"])
            if op.key in present:
                assert row["id"] == present[op.key], f"{op.key}: replay gave another booking"
                replayed += 1
    return replayed


@pytest.mark.parametrize("victims", ["postmaster", "every-process"])
def test_a_crash_loses_no_acknowledged_booking_and_leaves_nothing_half_done(
    cluster: ThrowawayCluster, report: Callable[[str, str], None], victims: str
) -> None:
    started = time.monotonic()
    dsn = cluster.start()
    migrate(dsn)
    venue = create_venue(dsn)
    storm = CrashStorm(venue)
    acknowledged = found = in_flight = committed = 0
    cancels = cancels_found = cancels_in_flight = cancels_committed = 0
    acked_after_kill = processes = 0
    slowest_restart = 0.0

    for number in range(1, ROUNDS + 1):
        storm.round = Round(number)
        crash = storm_until_crash(storm, cluster, every_process=victims == "every-process")
        restarted = time.monotonic()
        cluster.start()
        slowest_restart = max(slowest_restart, time.monotonic() - restarted)
        # The crash hit a storm in full swing: calls were in flight.
        assert storm.round.in_flight, "no call was in flight when the server was killed"
        acknowledged, cancels = len(storm.booked), len(storm.cancelled)
        findings = check_after_restart(storm)
        found, cancels_found = findings.found, findings.cancels_found
        in_flight += findings.in_flight
        committed += findings.in_flight_committed
        cancels_in_flight += findings.cancels_in_flight
        cancels_committed += findings.cancels_in_flight_committed
        acked_after_kill += storm.round.acked_after_kill
        processes = max(processes, crash.children)

    line = (
        f"crash ({victims}, {ROUNDS} rounds): acknowledged={acknowledged} found={found} "
        f"lost={acknowledged - found} in_flight={in_flight} in_flight_committed={committed} "
        f"cancels_acknowledged={cancels} cancels_found={cancels_found} "
        f"cancels_in_flight={cancels_in_flight} cancels_in_flight_committed={cancels_committed} "
        f"acked_after_kill={acked_after_kill} server_processes={processes} "
        f"slowest_restart={slowest_restart:.1f}s total={time.monotonic() - started:.1f}s"
    )
    report(f"faults_server_crash_{victims}", line)
    assert found == acknowledged
    # Everything any client was told agrees with the database.
    assert_invariants(dsn, venue.venue_id, venue.ledger)
