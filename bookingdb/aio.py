"""The Python API for asyncio (FastAPI, Starlette): :class:`AsyncBookingDB`.

The same methods, arguments, results and exceptions as
:class:`bookingdb.BookingDB`, each a coroutine. Both clients derive their
methods from the declarations in :mod:`bookingdb.calls` and run them with
:mod:`bookingdb.steps` (retries, refusal reports, alternatives, watch); this
module only performs the steps with psycopg's asyncio connections and an
``AsyncConnectionPool``. In a FastAPI app, open one client for the app's
life::

    @asynccontextmanager
    async def lifespan(app):
        async with await AsyncBookingDB.connect() as db:
            app.state.db = db
            yield
"""

from __future__ import annotations

import asyncio
import time as clock
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bookingdb import calls, steps
from bookingdb.calls import Call
from bookingdb.config import resolve_dsn
from bookingdb.errors import BookingError
from bookingdb.models import Change, DoctorReport, IndexRepair
from bookingdb.steps import Stepper

T = TypeVar("T")

__all__ = ["AsyncBookingDB", "AsyncBookingTransaction"]

# Where a step's statement runs: a pooled connection, or the transaction's.
Connection = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


@asynccontextmanager
async def _borrowed(
    conn: psycopg.AsyncConnection[Any],
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    yield conn


def _only(conn: psycopg.AsyncConnection[Any]) -> Connection:
    return lambda: _borrowed(conn)


@asynccontextmanager
async def _savepoint(
    conn: psycopg.AsyncConnection[Any],
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    # Nested in the lock's transaction: a refused call rolls back to here,
    # and the transaction goes on.
    async with conn.transaction():
        yield conn


async def _perform(step: steps.Step, connection: Connection) -> Any:
    """Performs one step of a call: a pause, or its statement on a connection."""
    if isinstance(step, steps.Pause):
        await asyncio.sleep(step.seconds)
        return None
    assert isinstance(step, steps.Execute)
    async with connection() as conn, conn.cursor(row_factory=step.call.row_factory) as cur:
        await cur.execute(step.call.sql, step.call.params)
        return await cur.fetchall()


async def _drive(plan: steps.Plan[T], perform: Callable[[steps.Step], Awaitable[Any]]) -> T:
    """Runs a call's plan to its end, performing each step with ``perform``."""
    walk = Stepper(plan)
    for step in walk:
        assert not isinstance(step, Change)
        try:
            walk.answer(await perform(step))
        except Exception as err:
            walk.fail(err)
    return walk.result


class _Calls:
    """The methods of :class:`AsyncBookingDB` and
    :class:`AsyncBookingTransaction`, one per declaration in
    :mod:`bookingdb.calls` (see there for what each does)."""

    async def _execute(self, call: Call[T]) -> T:
        raise NotImplementedError

    create_venue = calls.awaiting(calls.create_venue)
    add_resource = calls.awaiting(calls.add_resource)
    list_resources = calls.awaiting(calls.list_resources)
    list_venues = calls.awaiting(calls.list_venues)
    set_sellable_capacity = calls.awaiting(calls.set_sellable_capacity)
    create_hold = calls.awaiting(calls.create_hold)
    confirm_hold = calls.awaiting(calls.confirm_hold)
    extend_hold = calls.awaiting(calls.extend_hold)
    release_hold = calls.awaiting(calls.release_hold)
    expire_holds = calls.awaiting(calls.expire_holds)
    create_booking_atomic = calls.awaiting(calls.create_booking_atomic)
    create_booking = create_booking_atomic
    cancel_booking = calls.awaiting(calls.cancel_booking)
    cancel_by_token = calls.awaiting(calls.cancel_by_token)
    approve_booking = calls.awaiting(calls.approve_booking)
    reject_booking = calls.awaiting(calls.reject_booking)
    create_series = calls.awaiting(calls.create_series)
    cancel_series = calls.awaiting(calls.cancel_series)
    reschedule_booking = calls.awaiting(calls.reschedule_booking)
    get_booking = calls.awaiting(calls.get_booking)
    find_booking = calls.awaiting(calls.find_booking)
    customer_bookings = calls.awaiting(calls.customer_bookings)
    list_bookings = calls.awaiting(calls.list_bookings)
    check_availability = calls.awaiting(calls.check_availability)
    check_availability_many = calls.awaiting(calls.check_availability_many)
    availability = calls.awaiting(calls.availability)
    free_time = calls.awaiting(calls.free_time)
    suggest_alternatives = calls.awaiting(calls.suggest_alternatives)
    table_combinations = calls.awaiting(calls.table_combinations)
    local_range = calls.awaiting(calls.local_range)
    create_event = calls.awaiting(calls.create_event)
    add_seat_block = calls.awaiting(calls.add_seat_block)
    add_event_inventory = calls.awaiting(calls.add_event_inventory)
    hold_event_tickets = calls.awaiting(calls.hold_event_tickets)
    event_availability = calls.awaiting(calls.event_availability)
    list_events = calls.awaiting(calls.list_events)
    join_waitlist = calls.awaiting(calls.join_waitlist)
    leave_waitlist = calls.awaiting(calls.leave_waitlist)
    waitlist = calls.awaiting(calls.waitlist)
    process_waitlist = calls.awaiting(calls.process_waitlist)
    changes_since = calls.awaiting(calls.changes_since)
    prune_changes = calls.awaiting(calls.prune_changes)
    bind_tenant_role = calls.awaiting(calls.bind_tenant_role)
    unbind_tenant_role = calls.awaiting(calls.unbind_tenant_role)
    record_refusal = calls.awaiting(calls.record_refusal)
    stats = calls.awaiting(calls.stats)
    health = calls.awaiting(calls.health)
    set_venue_rules = calls.awaiting(calls.set_venue_rules)
    get_venue_rules = calls.awaiting(calls.get_venue_rules)
    set_opening_hours = calls.awaiting(calls.set_opening_hours)
    clear_opening_hours = calls.awaiting(calls.clear_opening_hours)
    set_date_override = calls.awaiting(calls.set_date_override)
    clear_date_overrides = calls.awaiting(calls.clear_date_overrides)
    opening_hours = calls.awaiting(calls.opening_hours)
    set_resource_buffers = calls.awaiting(calls.set_resource_buffers)
    set_resource_pricing = calls.awaiting(calls.set_resource_pricing)
    link_resources = calls.awaiting(calls.link_resources)
    unlink_resources = calls.awaiting(calls.unlink_resources)
    verify_invariants = calls.awaiting(calls.verify_invariants)
    error_codes = calls.awaiting(calls.error_codes)
    check_allocation_indexes = calls.awaiting(calls.check_allocation_indexes)
    hidden_overlaps = calls.awaiting(calls.hidden_overlaps)
    allocation_index_repairs = calls.awaiting(calls.allocation_index_repairs)


class AsyncBookingTransaction(_Calls):
    """The calls of one :meth:`AsyncBookingDB.booking_lock` block; see
    :class:`bookingdb.client.BookingTransaction` (the same, awaited)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], policy: steps.Policy) -> None:
        self._conn: psycopg.AsyncConnection[Any] | None = conn
        self._policy = policy
        self._refused: list[tuple[Call[Any], BookingError]] = []

    async def _execute(self, call: Call[T]) -> T:
        if self._conn is None:
            raise RuntimeError("the transaction of this booking lock has ended")
        conn = self._conn
        try:
            return await _drive(
                steps.attempt(call, 0), lambda step: _perform(step, lambda: _savepoint(conn))
            )
        except BookingError as refusal:
            self._refused.append((call, refusal))
            raise

    async def _settle(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Once the transaction has ended: retire the handle, then count and
        complete its refusals on the connection (autocommit again)."""
        self._conn = None
        connection = _only(conn)
        await _drive(steps.settle(self._refused, self._policy), lambda s: _perform(s, connection))

    acquire_booking_lock = calls.awaiting(calls.acquire_booking_lock)
    try_booking_lock = calls.awaiting(calls.try_booking_lock)


class AsyncBookingDB(_Calls):
    """A pool of asyncio connections to a bookingdb database.

    >>> db = await AsyncBookingDB.connect()    # BOOKINGDB_DSN / DATABASE_URL, else embedded
    >>> hold = await db.create_hold(venue, [table], start, end, idempotency_key="k1")
    >>> booking = await db.confirm_hold(venue, hold.id, customer=Customer(name="Ada"))
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
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
    async def connect(
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
    ) -> AsyncBookingDB:
        """Open a pool and wait until it has ``min_size`` connections; the
        arguments are those of :meth:`bookingdb.BookingDB.connect`. Opening
        the embedded server (no DSN anywhere) blocks the event loop while it
        starts: give a DSN in a server."""
        dsn = resolve_dsn(dsn)
        kwargs = steps.connection_kwargs(prepare_threshold)
        pool: AsyncConnectionPool = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            num_workers=num_workers,
            open=False,
            kwargs=kwargs,
        )
        try:
            await pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            await pool.close()
            # Say why: one direct attempt raises the real OperationalError.
            timeout_s = max(1, int(timeout))
            await (await psycopg.AsyncConnection.connect(dsn, connect_timeout=timeout_s)).close()
            raise
        return cls(
            pool,
            dsn=dsn,
            max_retries=max_retries,
            alternatives_on_refusal=alternatives_on_refusal,
            report_refusals=report_refusals,
        )

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> AsyncBookingDB:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def policy(self) -> steps.Policy:
        """Retries, alternatives and refusal reports, as this client is set."""
        return steps.Policy(self.max_retries, self.alternatives_on_refusal, self.report_refusals)

    async def _execute(self, call: Call[T]) -> T:
        """Runs one call on a pooled connection (see :func:`bookingdb.steps.run`)."""
        connection = self.pool.connection
        return await _drive(steps.run(call, self.policy), lambda step: _perform(step, connection))

    @asynccontextmanager
    async def booking_lock(
        self,
        venue_id: int,
        resource_id: int,
        starts_at: datetime,
        ends_at: datetime,
        *,
        wait: bool = True,
    ) -> AsyncIterator[AsyncBookingTransaction]:
        """A transaction holding the lock every booking of ``resource_id``
        takes; see :meth:`bookingdb.BookingDB.booking_lock`::

            async with db.booking_lock(venue, table, start, end) as tx:
                if await tx.check_availability(venue, [table], start, end):
                    await tx.create_booking_atomic(venue, [table], start, end)
        """
        async with self.pool.connection() as conn:
            tx = AsyncBookingTransaction(conn, self.policy)
            try:
                async with conn.transaction():
                    if wait:
                        await tx.acquire_booking_lock(venue_id, resource_id, starts_at, ends_at)
                    elif not await tx.try_booking_lock(venue_id, resource_id, starts_at, ends_at):
                        raise steps.lock_taken(venue_id, resource_id)
                    yield tx
            finally:
                await tx._settle(conn)

    async def doctor(self) -> DoctorReport:
        """The allocation indexes checked and the overlaps a damaged index let
        in; see :meth:`bookingdb.BookingDB.doctor`."""
        indexes = await self.check_allocation_indexes()
        return DoctorReport(tuple(indexes), tuple(await self.hidden_overlaps()))

    async def repair_allocation_indexes(
        self,
        *,
        include_healthy: bool = False,
        lock_timeout: timedelta = steps.REPAIR_LOCK_TIMEOUT,
    ) -> list[IndexRepair]:
        """Rebuild the damaged allocation indexes once no overlap remains;
        see :meth:`bookingdb.BookingDB.repair_allocation_indexes`."""
        repairs = await self.allocation_index_repairs(include_healthy)
        if not repairs:
            return repairs
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            await conn.execute(*steps.repair_session(lock_timeout))
            for repair in repairs:
                try:
                    await conn.execute(repair.statement)
                except psycopg.Error as err:
                    raise steps.repair_failed(err) from err
        return repairs

    def watch(
        self,
        venue_id: int,
        after_seq: int = 0,
        *,
        poll_interval: float = steps.POLL_INTERVAL,
        idle_timeout: float | None = None,
        reconnect_timeout: float = 60.0,
    ) -> AsyncGenerator[Change, None]:
        """Every change of the venue after ``after_seq``, each exactly once, in
        ``seq`` order, as they happen: ``async for change in db.watch(venue)``.
        The arguments are checked at once. See :meth:`bookingdb.BookingDB.watch`
        (a connection of its own, LISTEN then catch up, reconnecting when it
        drops); ``aclose()`` closes the connection."""
        plan = steps.watch(venue_id, after_seq, poll_interval, idle_timeout, reconnect_timeout)
        return self._watch(plan)

    async def _watch(
        self, plan: Generator[steps.Step | Change, Any, None]
    ) -> AsyncGenerator[Change, None]:
        listener = _Listener(self.dsn)
        walk = Stepper(plan)
        try:
            for step in walk:
                if isinstance(step, Change):
                    yield step
                    continue
                try:
                    walk.answer(await listener.perform(step))
                except Exception as err:
                    walk.fail(err)
        finally:
            await listener.close()

    async def migrate(self) -> dict[str, list[str]]:
        """Bring the database to this package's schema (see :mod:`bookingdb.migrate`;
        run in a thread: migrating is blocking work)."""
        from bookingdb.migrate import migrate

        return await asyncio.to_thread(migrate, self.dsn)


class _Listener:
    """The connection of one watch(): performs the watch plan's steps on it."""

    def __init__(self, dsn: str) -> None:
        self.target = steps.listen_dsn(dsn)
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def perform(self, step: steps.Step) -> Any:
        if isinstance(step, steps.Pause):
            await asyncio.sleep(step.seconds)
            return None
        if isinstance(step, steps.Listen):
            await self.close()
            self.conn = await psycopg.AsyncConnection.connect(self.target, autocommit=True)
            await self.conn.execute(steps.LISTEN)
            return None
        conn = self.conn
        assert conn is not None
        try:
            if isinstance(step, steps.AwaitNotify):
                deadline = clock.monotonic() + step.seconds
                while (left := deadline - clock.monotonic()) > 0:
                    received = [n async for n in conn.notifies(timeout=left, stop_after=1)]
                    if any(note.payload == step.venue for note in received):
                        return None
                return None
            return await _perform(step, _only(conn))
        except psycopg.OperationalError as err:
            if conn.broken or conn.closed:
                raise steps.Dropped() from err
            raise

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None
