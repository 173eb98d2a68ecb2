"""The Python API: one method per public SQL function (blocking; for asyncio
see :mod:`bookingdb.aio`).

The class holds no business rules; every check happens in the database.
Each method is derived from its declaration in :mod:`bookingdb.calls` and
run by :mod:`bookingdb.steps`; this module only performs the steps with
blocking psycopg calls. Each call is one round trip on an autocommit
connection from a psycopg pool (no session state, so it works behind
PgBouncer transaction pooling); a refusal costs one more statement, which
counts it for ``stats()``. :meth:`BookingDB.booking_lock` runs calls in one
transaction; :meth:`BookingDB.watch` alone keeps a connection of its own, to
LISTEN (a session feature: through PgBouncer transaction pooling it would
not work).
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from bookingdb import calls, steps
from bookingdb.calls import Call, Window
from bookingdb.config import resolve_dsn
from bookingdb.errors import BookingError
from bookingdb.models import Change, DoctorReport, IndexRepair
from bookingdb.steps import WATCH, Stepper

T = TypeVar("T")

__all__ = ["WATCH", "BookingDB", "BookingTransaction", "Window"]

# Where a step's statement runs: a pooled connection, or the transaction's.
Connection = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


def _only(conn: psycopg.Connection[Any]) -> Connection:
    return lambda: nullcontext(conn)


@contextmanager
def _savepoint(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    # Nested in the lock's transaction: a refused call rolls back to here,
    # and the transaction goes on.
    with conn.transaction():
        yield conn


def _perform(step: steps.Step, connection: Connection) -> Any:
    """Performs one step of a call: a pause, or its statement on a connection."""
    if isinstance(step, steps.Pause):
        clock.sleep(step.seconds)
        return None
    assert isinstance(step, steps.Execute)
    with connection() as conn, conn.cursor(row_factory=step.call.row_factory) as cur:
        cur.execute(step.call.sql, step.call.params)
        return cur.fetchall()


def _drive(plan: steps.Plan[T], perform: Callable[[steps.Step], Any]) -> T:
    """Runs a call's plan to its end, performing each step with ``perform``."""
    walk = Stepper(plan)
    for step in walk:
        assert not isinstance(step, Change)
        try:
            walk.answer(perform(step))
        except Exception as err:
            walk.fail(err)
    return walk.result


class _Calls:
    """The methods of :class:`BookingDB` and :class:`BookingTransaction`, one
    per declaration in :mod:`bookingdb.calls` (see there for what each does)."""

    def _execute(self, call: Call[T]) -> T:
        raise NotImplementedError

    create_venue = calls.blocking(calls.create_venue)
    add_resource = calls.blocking(calls.add_resource)
    list_resources = calls.blocking(calls.list_resources)
    list_venues = calls.blocking(calls.list_venues)
    set_sellable_capacity = calls.blocking(calls.set_sellable_capacity)
    create_hold = calls.blocking(calls.create_hold)
    confirm_hold = calls.blocking(calls.confirm_hold)
    extend_hold = calls.blocking(calls.extend_hold)
    release_hold = calls.blocking(calls.release_hold)
    expire_holds = calls.blocking(calls.expire_holds)
    create_booking_atomic = calls.blocking(calls.create_booking_atomic)
    create_booking = create_booking_atomic
    cancel_booking = calls.blocking(calls.cancel_booking)
    cancel_by_token = calls.blocking(calls.cancel_by_token)
    approve_booking = calls.blocking(calls.approve_booking)
    reject_booking = calls.blocking(calls.reject_booking)
    create_series = calls.blocking(calls.create_series)
    cancel_series = calls.blocking(calls.cancel_series)
    reschedule_booking = calls.blocking(calls.reschedule_booking)
    get_booking = calls.blocking(calls.get_booking)
    find_booking = calls.blocking(calls.find_booking)
    customer_bookings = calls.blocking(calls.customer_bookings)
    list_bookings = calls.blocking(calls.list_bookings)
    check_availability = calls.blocking(calls.check_availability)
    check_availability_many = calls.blocking(calls.check_availability_many)
    availability = calls.blocking(calls.availability)
    free_time = calls.blocking(calls.free_time)
    suggest_alternatives = calls.blocking(calls.suggest_alternatives)
    table_combinations = calls.blocking(calls.table_combinations)
    local_range = calls.blocking(calls.local_range)
    create_event = calls.blocking(calls.create_event)
    add_seat_block = calls.blocking(calls.add_seat_block)
    add_event_inventory = calls.blocking(calls.add_event_inventory)
    hold_event_tickets = calls.blocking(calls.hold_event_tickets)
    event_availability = calls.blocking(calls.event_availability)
    list_events = calls.blocking(calls.list_events)
    join_waitlist = calls.blocking(calls.join_waitlist)
    leave_waitlist = calls.blocking(calls.leave_waitlist)
    waitlist = calls.blocking(calls.waitlist)
    process_waitlist = calls.blocking(calls.process_waitlist)
    changes_since = calls.blocking(calls.changes_since)
    prune_changes = calls.blocking(calls.prune_changes)
    bind_tenant_role = calls.blocking(calls.bind_tenant_role)
    unbind_tenant_role = calls.blocking(calls.unbind_tenant_role)
    record_refusal = calls.blocking(calls.record_refusal)
    stats = calls.blocking(calls.stats)
    health = calls.blocking(calls.health)
    set_venue_rules = calls.blocking(calls.set_venue_rules)
    get_venue_rules = calls.blocking(calls.get_venue_rules)
    set_opening_hours = calls.blocking(calls.set_opening_hours)
    clear_opening_hours = calls.blocking(calls.clear_opening_hours)
    set_date_override = calls.blocking(calls.set_date_override)
    clear_date_overrides = calls.blocking(calls.clear_date_overrides)
    opening_hours = calls.blocking(calls.opening_hours)
    set_resource_buffers = calls.blocking(calls.set_resource_buffers)
    set_resource_pricing = calls.blocking(calls.set_resource_pricing)
    link_resources = calls.blocking(calls.link_resources)
    unlink_resources = calls.blocking(calls.unlink_resources)
    verify_invariants = calls.blocking(calls.verify_invariants)
    error_codes = calls.blocking(calls.error_codes)
    check_allocation_indexes = calls.blocking(calls.check_allocation_indexes)
    hidden_overlaps = calls.blocking(calls.hidden_overlaps)
    allocation_index_repairs = calls.blocking(calls.allocation_index_repairs)


class BookingTransaction(_Calls):
    """The calls of one :meth:`BookingDB.booking_lock` block: the methods of
    :class:`BookingDB`, run in the block's transaction on one connection,
    plus :meth:`acquire_booking_lock` and :meth:`try_booking_lock` to lock
    more resources (in ascending id order, to avoid deadlocks).

    Each call runs in a savepoint (two more statements): a refusal undoes
    only the refused call, so the block may catch it and go on (try another
    table), or let it leave the block, which rolls everything back. A call
    here is never retried (a retry could only be of the whole transaction).
    Refusals are counted and, on BK001, given their alternatives once the
    transaction has ended, as outside a transaction. The handle is unusable
    once its block has ended."""

    def __init__(self, conn: psycopg.Connection[Any], policy: steps.Policy) -> None:
        self._conn: psycopg.Connection[Any] | None = conn
        self._policy = policy
        self._refused: list[tuple[Call[Any], BookingError]] = []

    def _execute(self, call: Call[T]) -> T:
        if self._conn is None:
            raise RuntimeError("the transaction of this booking lock has ended")
        conn = self._conn
        try:
            return _drive(
                steps.attempt(call, 0), partial(_perform, connection=lambda: _savepoint(conn))
            )
        except BookingError as refusal:
            self._refused.append((call, refusal))
            raise

    def _settle(self, conn: psycopg.Connection[Any]) -> None:
        """Once the transaction has ended: retire the handle, then count and
        complete its refusals on the connection (autocommit again)."""
        self._conn = None
        _drive(steps.settle(self._refused, self._policy), partial(_perform, connection=_only(conn)))

    acquire_booking_lock = calls.blocking(calls.acquire_booking_lock)
    try_booking_lock = calls.blocking(calls.try_booking_lock)


class BookingDB(_Calls):
    """A pool of connections to a bookingdb database.

    >>> db = BookingDB.connect()          # BOOKINGDB_DSN / DATABASE_URL, else embedded
    >>> hold = db.create_hold(venue, [table], start, end, party_size=4, idempotency_key="k1")
    >>> booking = db.confirm_hold(venue, hold.id, customer=Customer(name="Ada"))
    """

    def __init__(
        self,
        pool: ConnectionPool,
        *,
        dsn: str,
        max_retries: int = 3,
        alternatives_on_refusal: bool = True,
        report_refusals: bool = True,
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.max_retries = max_retries
        self.alternatives_on_refusal = alternatives_on_refusal
        self.report_refusals = report_refusals

    @classmethod
    def connect(
        cls,
        dsn: str | None = None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        prepare_threshold: int | None = 5,
        max_retries: int = 3,
        num_workers: int = 3,
        timeout: float = 10.0,
        alternatives_on_refusal: bool = True,
        report_refusals: bool = True,
    ) -> BookingDB:
        """Open a pool and wait until it has ``min_size`` connections.

        ``prepare_threshold=None`` disables server-side prepared statements (for
        PgBouncer before 1.21 in transaction pooling mode). If the server cannot
        be reached within ``timeout`` seconds, the connection error itself is
        raised (not a bare pool timeout). With ``alternatives_on_refusal``, a
        BK001 refusal of create_hold/create_booking_atomic carries the nearest
        free slots in ``SlotUnavailable.alternatives`` (one more round trip,
        only on that refusal). With ``report_refusals``, every refusal of a
        venue's function is counted for ``stats()`` (``record_refusal``, one
        more statement, only on a refusal)."""
        dsn = resolve_dsn(dsn)
        kwargs = steps.connection_kwargs(prepare_threshold)
        pool: ConnectionPool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            num_workers=num_workers,
            open=False,
            kwargs=kwargs,
        )
        try:
            pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            pool.close()
            # Say why: one direct attempt raises the real OperationalError.
            psycopg.connect(dsn, connect_timeout=max(1, int(timeout)), **kwargs).close()
            raise
        return cls(
            pool,
            dsn=dsn,
            max_retries=max_retries,
            alternatives_on_refusal=alternatives_on_refusal,
            report_refusals=report_refusals,
        )

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> BookingDB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def policy(self) -> steps.Policy:
        """Retries, alternatives and refusal reports, as this client is set."""
        return steps.Policy(self.max_retries, self.alternatives_on_refusal, self.report_refusals)

    def _execute(self, call: Call[T]) -> T:
        """Runs one call on a pooled connection (see :func:`bookingdb.steps.run`)."""
        return _drive(
            steps.run(call, self.policy), partial(_perform, connection=self.pool.connection)
        )

    @contextmanager
    def booking_lock(
        self,
        venue_id: int,
        resource_id: int,
        starts_at: datetime,
        ends_at: datetime,
        *,
        wait: bool = True,
    ) -> Iterator[BookingTransaction]:
        """A transaction holding the lock every booking of ``resource_id``
        takes, for flows of your own between checking and booking (a payment
        check, say)::

            with db.booking_lock(venue, table, start, end) as tx:
                if tx.check_availability(venue, [table], start, end):
                    charge_card()
                    tx.create_booking_atomic(venue, [table], start, end)

        Nobody else's booking, hold, move or capacity change of the resource
        runs until the block ends; the handle's own calls do. The block
        commits when it ends normally and rolls back on an exception; either
        releases the lock. A refused call undoes only itself (see
        :class:`BookingTransaction`). ``wait=True`` waits for the lock up to 5 s, then
        raises :class:`~bookingdb.errors.Busy`; ``wait=False`` raises Busy
        at once if another transaction holds it. ``starts_at``/``ends_at``
        say what you mean to book (checked; the whole resource is locked).
        It holds one pooled connection for the block: keep it short."""
        with self.pool.connection() as conn:
            tx = BookingTransaction(conn, self.policy)
            try:
                with conn.transaction():
                    if wait:
                        tx.acquire_booking_lock(venue_id, resource_id, starts_at, ends_at)
                    elif not tx.try_booking_lock(venue_id, resource_id, starts_at, ends_at):
                        raise steps.lock_taken(venue_id, resource_id)
                    yield tx
            finally:
                tx._settle(conn)

    def watch(
        self,
        venue_id: int,
        after_seq: int = 0,
        *,
        poll_interval: float = steps.POLL_INTERVAL,
        idle_timeout: float | None = None,
        reconnect_timeout: float = 60.0,
    ) -> Generator[Change, None, None]:
        """Every change of the venue after ``after_seq``, each exactly once, in
        ``seq`` order, as they happen.

        Uses a connection of its own (not from the pool): it LISTENs on
        ``bookingdb_changes``, then catches up with ``changes_since`` until it
        is empty, then waits ``poll_interval`` seconds (25 ms by default), or
        less when a notification for this venue arrives (venues with the
        ``notify`` rule on send one at commit), and catches up again. If the
        connection drops, it reconnects with a short backoff and continues
        after the last ``seq`` it yielded; if the database cannot be reached
        again within ``reconnect_timeout`` seconds, the ``OperationalError``
        is raised. Stops when no change has arrived for
        ``idle_timeout`` seconds (if given). Closing the generator closes the
        connection.
        """
        plan = steps.watch(venue_id, after_seq, poll_interval, idle_timeout, reconnect_timeout)
        return self._watch(plan)

    def _watch(self, plan: Generator[steps.Step | Change, Any, None]) -> Generator[Change]:
        listener = _Listener(self.dsn)
        walk = Stepper(plan)
        try:
            for step in walk:
                if isinstance(step, Change):
                    yield step
                    continue
                try:
                    walk.answer(listener.perform(step))
                except Exception as err:
                    walk.fail(err)
        finally:
            listener.close()

    def doctor(self) -> DoctorReport:
        """Check the allocation indexes against the table and look for the
        overlapping bookings a damaged index let in (``check_allocation_indexes``
        and ``hidden_overlaps``, two reads of the whole table). ``healthy`` is
        the verdict. Acts across venues: a caller bound to a venue is refused
        (NotFound)."""
        return DoctorReport(tuple(self.check_allocation_indexes()), tuple(self.hidden_overlaps()))

    def repair_allocation_indexes(
        self,
        *,
        include_healthy: bool = False,
        lock_timeout: timedelta = steps.REPAIR_LOCK_TIMEOUT,
    ) -> list[IndexRepair]:
        """Rebuild the allocation indexes that lost entries (all of them with
        ``include_healthy``) and return what was run.

        Refused with :class:`~bookingdb.errors.OverlapsUnresolved` while
        ``hidden_overlaps`` has rows: resolve them first. Runs each statement
        of ``allocation_index_repairs`` on a connection of its own, outside
        any transaction: ``REINDEX INDEX CONCURRENTLY`` for the btrees, a
        plain ``REINDEX INDEX`` for the exclusion constraint's GiST index
        (PostgreSQL cannot rebuild it concurrently; bookings wait while it is
        rebuilt). Each waits at most ``lock_timeout`` for its lock, else
        :class:`~bookingdb.errors.Busy`. Needs the tables' owner (a member of
        bookingdb_owner) or a superuser, on a direct connection."""
        repairs = self.allocation_index_repairs(include_healthy)
        if not repairs:
            return repairs
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(*steps.repair_session(lock_timeout))
            for repair in repairs:
                try:
                    conn.execute(repair.statement)
                except psycopg.Error as err:
                    raise steps.repair_failed(err) from err
        return repairs

    def migrate(self) -> dict[str, list[str]]:
        """Bring the database to this package's schema (see :mod:`bookingdb.migrate`)."""
        from bookingdb.migrate import migrate

        return migrate(self.dsn)


class _Listener:
    """The connection of one watch(): performs the watch plan's steps on it."""

    def __init__(self, dsn: str) -> None:
        self.target = steps.listen_dsn(dsn)
        self.conn: psycopg.Connection[Any] | None = None

    def perform(self, step: steps.Step) -> Any:
        if isinstance(step, steps.Pause):
            clock.sleep(step.seconds)
            return None
        if isinstance(step, steps.Listen):
            self.close()
            self.conn = psycopg.connect(self.target, autocommit=True)
            self.conn.execute(steps.LISTEN)
            return None
        conn = self.conn
        assert conn is not None
        try:
            if isinstance(step, steps.AwaitNotify):
                deadline = clock.monotonic() + step.seconds
                while (left := deadline - clock.monotonic()) > 0:
                    received = list(conn.notifies(timeout=left, stop_after=1))
                    if any(note.payload == step.venue for note in received):
                        return None
                return None
            return _perform(step, _only(conn))
        except psycopg.OperationalError as err:
            if conn.broken or conn.closed:
                raise steps.Dropped() from err
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
