"""Killed connections: during a storm, terminate random backends
(pg_terminate_backend) and drop client connections mid-call; clients retry
with their idempotency keys; the result is exactly one booking per key, no
orphan allocations, ``verify_invariants()`` empty.

Direct clients each hold one connection of their own (named by
``application_name``) and book with ``create_booking_atomic`` and an
idempotency key. A killer thread waits until the storm has made a few more
calls, picks a client in the middle of a call, and either terminates its
backend from the server side or shuts its socket down from the client side
(the backend then usually commits and finds nobody to answer: the case an
idempotency key exists for). A client whose call fails with a connection
error reconnects and sends the same request with the same key until it is
told a booking or a documented refusal. Two more threads book through
:class:`bookingdb.BookingDB`, whose pool retries by itself; the killer
terminates their backends too.

A fault counts as *landed* only when the call it was aimed at failed with a
connection error; the storm goes on until enough of each kind have landed
(a test in which no kill landed mid-call could not fail), and until at least
one retry was answered with the booking its failed attempt had committed.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from concurrency.ledger import assert_invariants, verify_invariants
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from bookingdb import BookingDB, Busy, CapacityExceeded, SlotUnavailable

from .checks import by_key, orphan_allocations, stored_bookings
from .conftest import BOOK, BUSY, TAKEN, Request, Venue

pytestmark = pytest.mark.faults

APP = "bookingdb-faults"
POOL_APP = f"{APP}-pool"
DIRECT_CLIENTS = 6
POOL_CLIENTS = 2
# Faults of each kind that must land mid-call before the storm may end.
TERMINATIONS = 60
DROPS = 60
POOL_TERMINATIONS = 20
# Retries that must have been answered with what their failed attempt had
# committed: the case idempotency keys are for.
REPLAYS = 10
# Calls the storm completes between two faults, so that it makes progress.
CALLS_BETWEEN_FAULTS = 3
# The storm's budget; not reaching the numbers above within it fails the test.
DEADLINE = 25.0
# A key that gets no answer in this many attempts fails the test (a hang is
# a failure, not a reason to wait forever).
MAX_ATTEMPTS = 200
# Requests spread over this many days: some collide (BK001/BK002), most not.
DAYS = 4

Row = dict[str, Any]


@dataclasses.dataclass
class Tally:
    """What happened in the storm, counted under one lock."""

    calls: int = 0
    terminations_sent: int = 0
    terminations_landed: int = 0
    drops_sent: int = 0
    drops_landed: int = 0
    pool_terminations: int = 0
    # Connection failures no fault was aimed at (a fault that reached its
    # connection only after its call had returned breaks the next call).
    other_failures: int = 0
    connect_failures: int = 0
    busy: int = 0
    # Retries answered with the booking an earlier, failed attempt committed.
    replays_after_failure: int = 0
    pool_replays_after_failure: int = 0
    pool_failures: int = 0
    booked: int = 0
    refused: int = 0


class Storm:
    """State shared by the clients and the killer."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.tally = Tally()
        self.changed = threading.Condition()
        self.stop = threading.Event()
        # key -> the request, and what the client was finally told.
        self.requests: dict[str, Request] = {}
        self.booked: dict[str, int] = {}
        self.refused: dict[str, str] = {}

    def count(self, **deltas: int) -> None:
        with self.changed:
            for name, delta in deltas.items():
                setattr(self.tally, name, getattr(self.tally, name) + delta)
            self.changed.notify_all()

    def wake(self) -> None:
        """Let the killer and the test re-check what they wait for."""
        with self.changed:
            self.changed.notify_all()

    def next_fault(self, clients: list[Client]) -> bool:
        """Wait until the storm has completed a few more calls and a direct
        client has one in flight; False once the storm is over."""
        with self.changed:
            target = self.tally.calls + CALLS_BETWEEN_FAULTS

            def ready() -> bool:
                busy = any(c.in_call for c in clients)
                return self.stop.is_set() or (self.tally.calls >= target and busy)

            self.changed.wait_for(ready)
            return not self.stop.is_set()

    def snapshot(self) -> Tally:
        with self.changed:
            return dataclasses.replace(self.tally)

    def enough(self) -> bool:
        t = self.tally
        return (
            t.terminations_landed >= TERMINATIONS
            and t.drops_landed >= DROPS
            and t.pool_terminations >= POOL_TERMINATIONS
            and t.replays_after_failure >= REPLAYS
        )

    def told_booked(self, key: str, request: Request, row: Row) -> None:
        self.venue.ledger.record(row)
        with self.changed:
            self.requests[key] = request
            self.booked[key] = int(row["id"])
            self.tally.booked += 1

    def told_refused(self, key: str, request: Request, sqlstate: str) -> None:
        with self.changed:
            self.requests[key] = request
            self.refused[key] = sqlstate
            self.tally.refused += 1


class Client:
    """One application connection: books keys one after the other, and
    reconnects and retries the same key after a connection failure."""

    def __init__(self, storm: Storm, index: int) -> None:
        self.storm = storm
        self.index = index
        self.name = f"{APP}-{index}"
        # Guards conn, pid, call and in_call, which the killer reads.
        self.lock = threading.Lock()
        self.conn: psycopg.Connection[Row] | None = None
        self.pid = 0
        self.call = 0
        self.in_call = False
        # call number -> the fault the killer aimed at that call.
        self.faults: dict[int, str] = {}

    def _connect(self) -> psycopg.Connection[Row]:
        with self.lock:
            old, self.conn = self.conn, None
        if old is not None:
            old.close()
        conn = psycopg.connect(
            make_conninfo(self.storm.venue.dsn, application_name=self.name),
            autocommit=True,
            row_factory=dict_row,
        )
        with self.lock:
            self.conn, self.pid = conn, conn.info.backend_pid
        return conn

    @contextmanager
    def _calling(self) -> Iterator[int]:
        with self.lock:
            self.call += 1
            self.in_call = True
            number = self.call
        self.storm.wake()  # a call is in flight: the killer may aim at it
        try:
            yield number
        finally:
            with self.lock:
                self.in_call = False
            self.storm.count(calls=1)

    def book(self, key: str, request: Request) -> None:
        """Send ``request`` with ``key`` until told a booking or a refusal."""
        params = request.params(self.storm.venue.venue_id, key)
        failed = False
        for _ in range(MAX_ATTEMPTS):
            conn = self.conn
            if conn is None or conn.closed or conn.broken:
                try:
                    conn = self._connect()
                except psycopg.OperationalError:
                    self.storm.count(connect_failures=1)
                    continue
            attempt_started = datetime.now(UTC)
            with self._calling() as number:
                try:
                    row = conn.execute(BOOK, params).fetchone()
                except psycopg.Error as err:
                    fault = self._fault_of(number)
                    if err.sqlstate in TAKEN:
                        self.storm.told_refused(key, request, err.sqlstate or "")
                        return
                    if err.sqlstate == BUSY:
                        self.storm.count(busy=1)
                        continue
                    if not isinstance(err, psycopg.OperationalError):
                        raise
                    failed = True
                    if fault == "terminate":
                        self.storm.count(terminations_landed=1)
                    elif fault == "drop":
                        self.storm.count(drops_landed=1)
                    else:
                        self.storm.count(other_failures=1)
                    self._connect_later()
                    continue
                self._fault_of(number)  # aimed too late: it will break the next call
            assert row is not None
            if failed and row["created_at"] < attempt_started:
                self.storm.count(replays_after_failure=1)
            self.storm.told_booked(key, request, row)
            return
        raise AssertionError(f"{key}: no answer after {MAX_ATTEMPTS} attempts")

    def _fault_of(self, number: int) -> str | None:
        with self.lock:
            return self.faults.pop(number, None)

    def _connect_later(self) -> None:
        with self.lock:
            old, self.conn = self.conn, None
        if old is not None:
            old.close()

    def run(self) -> None:
        rng = random.Random(self.index)
        number = 0
        while not self.storm.stop.is_set():
            number += 1
            self.book(f"{self.name}-{number}", self.storm.venue.request(rng, DAYS))
        self._connect_later()


def pool_client(storm: Storm, db: BookingDB, index: int) -> None:
    """A thread of an application using the Python client: its pool retries
    a call with an idempotency key after a connection failure by itself; when
    its retries run out, the application retries the same key."""
    rng = random.Random(1000 + index)
    venue = storm.venue
    number = 0
    while not storm.stop.is_set():
        number += 1
        key = f"{POOL_APP}-{index}-{number}"
        request = venue.request(rng, DAYS)
        for _ in range(MAX_ATTEMPTS):
            attempt_started = datetime.now(UTC)
            try:
                booking = db.create_booking_atomic(
                    venue.venue_id,
                    list(request.resource_ids),
                    request.starts_at,
                    request.ends_at,
                    quantity=request.quantity,
                    idempotency_key=key,
                )
            except (SlotUnavailable, CapacityExceeded) as refusal:
                storm.told_refused(key, request, refusal.sqlstate or "")
                break
            except (Busy, psycopg.OperationalError):
                storm.count(pool_failures=1)
                continue
            storm.count(calls=1)
            if booking.created_at < attempt_started:
                # Answered with a booking an earlier try (ours or the pool's
                # own retry after a killed connection) committed.
                storm.count(pool_replays_after_failure=1)
            storm.told_booked(key, request, dataclasses.asdict(booking))
            break
        else:
            raise AssertionError(f"{key}: no answer after {MAX_ATTEMPTS} attempts")


def killer(storm: Storm, clients: list[Client]) -> None:
    """Aim faults at calls in flight, in turn: terminate a direct client's
    backend, drop a direct client's socket, terminate a pool backend."""
    rng = random.Random(99)
    with psycopg.connect(
        make_conninfo(storm.venue.dsn, application_name=f"{APP}-killer"), autocommit=True
    ) as admin:
        for kind in itertools.cycle(["terminate", "drop", "terminate", "drop", "pool"]):
            if not storm.next_fault(clients):
                return
            if kind == "pool":
                hit = admin.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    "  FROM (SELECT pid FROM pg_stat_activity"
                    "         WHERE application_name = %s AND state = 'active'"
                    "         LIMIT 1) AS busy",
                    (POOL_APP,),
                ).fetchone()
                if hit and hit[0]:
                    storm.count(pool_terminations=1)
            else:
                busy = [c for c in clients if c.in_call]
                if busy:
                    aim(admin, rng.choice(busy), kind, storm)
            with storm.changed:
                if storm.enough():
                    storm.stop.set()
                    storm.changed.notify_all()


def aim(admin: psycopg.Connection[Any], client: Client, kind: str, storm: Storm) -> None:
    """One fault at the call ``client`` has in flight, if it still has one."""
    with client.lock:
        if not client.in_call or client.conn is None:
            return
        client.faults[client.call] = kind
        pid = client.pid
        if kind == "drop":
            # Shut the client's own socket down (a NAT box or a load balancer
            # dropping the connection): a duplicate of its descriptor, so the
            # connection object itself is untouched.
            try:
                fd = os.dup(client.conn.fileno())
            except (psycopg.OperationalError, OSError):
                # The connection broke already: psycopg closed its socket
                # (between fileno() and dup() too, under load).
                return
            with socket.socket(fileno=fd) as sock:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    return
            storm.count(drops_sent=1)
            return
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    storm.count(terminations_sent=1)


def run_storm(venue: Venue) -> tuple[Storm, float]:
    storm = Storm(venue)
    clients = [Client(storm, i) for i in range(DIRECT_CLIENTS)]
    pool_dsn = make_conninfo(venue.dsn, application_name=POOL_APP)
    started = time.monotonic()
    with (
        BookingDB.connect(pool_dsn, max_size=POOL_CLIENTS + 1) as db,
        ThreadPoolExecutor(max_workers=DIRECT_CLIENTS + POOL_CLIENTS + 1) as pool,
    ):
        futures = [pool.submit(c.run) for c in clients]
        futures += [pool.submit(pool_client, storm, db, i) for i in range(POOL_CLIENTS)]
        futures.append(pool.submit(killer, storm, clients))
        for future in futures:
            # A thread that fails ends the storm at once.
            future.add_done_callback(lambda _: storm.wake())
        try:
            with storm.changed:
                storm.changed.wait_for(
                    lambda: storm.stop.is_set() or any(f.done() for f in futures),
                    timeout=DEADLINE,
                )
        finally:
            with storm.changed:
                storm.stop.set()
                storm.changed.notify_all()
        for future in futures:
            future.result()
    return storm, time.monotonic() - started


def test_killed_connections_leave_one_booking_per_key_and_nothing_orphaned(
    venue: Venue, report: Callable[[str, str], None]
) -> None:
    storm, seconds = run_storm(venue)
    t = storm.snapshot()
    line = (
        f"killed: calls={t.calls} booked={t.booked} refused={t.refused} "
        f"terminations_landed={t.terminations_landed}/{t.terminations_sent} "
        f"drops_landed={t.drops_landed}/{t.drops_sent} pool_terminations={t.pool_terminations} "
        f"pool_failures={t.pool_failures} other_failures={t.other_failures} "
        f"replays_after_failure={t.replays_after_failure}+{t.pool_replays_after_failure} "
        f"connect_failures={t.connect_failures} busy={t.busy} in {seconds:.1f}s"
    )
    report("faults_killed_connections", line)

    # The faults landed: a storm in which nothing was killed mid-call proves nothing.
    assert storm.enough(), f"not enough faults landed within {DEADLINE}s: {line}"

    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        stored = stored_bookings(conn, venue.venue_id)
        keys = by_key(stored)
        # Exactly one booking per key told booked, and it is the one the
        # client was told; none for a key told refused; no booking for a key
        # nobody was told about.
        assert not set(storm.booked) & set(storm.refused)
        for key, booking_id in storm.booked.items():
            assert [b.booking_id for b in keys.get(key, [])] == [booking_id], key
            assert stored[booking_id].resource_ids == storm.requests[key].resource_ids, key
        for key, sqlstate in storm.refused.items():
            assert key not in keys, f"{key} was refused ({sqlstate}) but has a booking"
        assert set(keys) == set(storm.booked)
        assert all(b.key is not None for b in stored.values())
        # Every booking is whole; no allocation lacks a live booking.
        assert [b for b in stored.values() if not b.whole] == []
        assert orphan_allocations(conn, venue.venue_id) == []
        assert verify_invariants(conn) == []
    # And the independent check of what clients were told.
    assert_invariants(venue.dsn, venue.venue_id, venue.ledger)
