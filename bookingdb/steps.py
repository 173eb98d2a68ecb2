"""What running a call means, written once for both clients, without I/O.

The retry loop, refusal reporting, the alternatives attached to a BK001
refusal and the ``watch()`` loop are generators here that yield *steps*
(run this statement, pause, listen, wait for a notification) and are sent
each step's outcome, or have its exception thrown in. :mod:`bookingdb.client`
performs the steps with blocking psycopg calls and :mod:`bookingdb.aio` with
asyncio ones, so the two clients cannot drift apart: psycopg 3 keeps its own
connection logic the same way (generators, and one sync and one async
waiter).
"""

from __future__ import annotations

import logging
import random
import time as clock
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bookingdb import calls
from bookingdb.calls import Call
from bookingdb.errors import BookingError, Busy, SlotUnavailable, translate
from bookingdb.models import Change

T = TypeVar("T")

log = logging.getLogger(__name__)

# Failures after which running the same call again is harmless *if* the call
# is idempotent: the connection dropped (did it commit? the key answers),
# or PostgreSQL rolled the transaction back for us.
TRANSIENT = (
    psycopg.OperationalError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)

# The application_name of watch() connections (unless the DSN names one).
WATCH = "bookingdb watch"
LISTEN = "LISTEN bookingdb_changes"
# Feed rows per changes_since call in watch().
FEED_PAGE = 1000
#: How often watch() looks at the feed when no NOTIFY wakes it (new venues
#: send none: NOTIFY serialises commits). A look that finds nothing is one
#: indexed read; a listener sees a change within about this long.
POLL_INTERVAL = 0.025


def connection_kwargs(prepare_threshold: int | None) -> dict[str, Any]:
    """The settings of every pooled connection: autocommit, so that each call
    is its own transaction and leaves no session state behind."""
    return {"autocommit": True, "prepare_threshold": prepare_threshold}


@dataclass(frozen=True)
class Policy:
    """What a client does around a call: how often it retries a retry-safe
    call, whether a BK001 refusal gets alternatives, whether refusals are
    counted for ``stats()``."""

    max_retries: int = 3
    alternatives: bool = True
    report: bool = True


# -- the steps a driver performs ---------------------------------------------------------


@dataclass(frozen=True)
class Execute:
    """Run the call's statement; the outcome is the list of rows."""

    call: Call[Any]


@dataclass(frozen=True)
class Pause:
    """Sleep (a backoff); the outcome is None."""

    seconds: float


@dataclass(frozen=True)
class Listen:
    """(Re)open the watch connection: close the old one, connect, LISTEN."""


@dataclass(frozen=True)
class AwaitNotify:
    """Return when a notification for ``venue`` arrives, or after ``seconds``."""

    venue: str
    seconds: float


Step = Execute | Pause | Listen | AwaitNotify
Plan = Generator[Step, Any, T]


class Dropped(Exception):
    """Thrown into the watch plan by a driver whose watch connection broke."""


class Stepper(Generic[T]):
    """Walks a plan: iterate for its next step (or change), and tell it how
    the step went with :meth:`answer` or :meth:`fail`; :attr:`result` is
    what the plan returned."""

    def __init__(self, plan: Generator[Step | Change, Any, T]) -> None:
        self._plan = plan
        self._reply: Any = None
        self._failure: Exception | None = None
        self._result: Any = None

    def __iter__(self) -> Iterator[Step | Change]:
        return self

    def __next__(self) -> Step | Change:
        reply, failure = self._reply, self._failure
        self._reply = self._failure = None
        try:
            if failure is not None:
                return self._plan.throw(failure)
            return self._plan.send(reply)
        except StopIteration as done:
            self._result = done.value
            raise StopIteration from None

    def answer(self, reply: Any) -> None:
        self._reply = reply

    def fail(self, failure: Exception) -> None:
        self._failure = failure

    @property
    def result(self) -> T:
        value: T = self._result
        return value


# -- one call ------------------------------------------------------------------------------


def run(call: Call[T], policy: Policy) -> Plan[T]:
    """A call as the clients run it on their pool: retried when safe; a
    refusal counted and (BK001) given alternatives before it is raised."""
    try:
        return (yield from attempt(call, policy.max_retries))
    except BookingError as refusal:
        yield from aftermath(call, refusal, policy)
        raise


def attempt(call: Call[T], max_retries: int) -> Plan[T]:
    """Runs the statement. A ``retry_safe`` call runs again, after a jittered
    backoff, on a transient failure or a retryable refusal (BK020, nothing
    was written), up to ``max_retries`` times. A refusal is raised as its
    :class:`~bookingdb.errors.BookingError`."""
    tries = 0
    while True:
        try:
            rows = yield Execute(call)
            return call.result(rows)
        except psycopg.Error as err:
            refusal = translate(err)
            tries += 1
            retryable = refusal.retryable if refusal is not None else isinstance(err, TRANSIENT)
            if not (call.retry_safe and retryable and tries <= max_retries):
                if refusal is None:
                    raise
                raise refusal from err
            # Jittered backoff so retrying clients do not stampede together.
            yield Pause(random.uniform(0, 0.05 * 2**tries))


def aftermath(call: Call[Any], refusal: BookingError, policy: Policy) -> Plan[None]:
    """What follows a refusal, each in a statement of its own (the refused
    statement rolled back and took nothing with it): count it for
    ``stats()``, and on BK001 fetch the nearest free slots into
    ``refusal.alternatives``. The refusal is the caller's answer: if either
    fails, it is logged or noted on the refusal, never raised."""
    venue_id = call.venue_id
    if policy.report and venue_id is not None:
        try:
            yield from attempt(calls.record_refusal(venue_id, refusal.sqlstate), 0)
        except Exception:
            log.warning(
                "could not report refusal %s of venue %s", refusal.sqlstate, venue_id, exc_info=True
            )
    if policy.alternatives and isinstance(refusal, SlotUnavailable) and call.alternatives:
        try:
            refusal.alternatives = tuple((yield from run(call.alternatives, policy)))
        except (psycopg.Error, BookingError) as failure:
            refusal.add_note(f"alternatives could not be fetched: {failure}")


def settle(refused: list[tuple[Call[Any], BookingError]], policy: Policy) -> Plan[None]:
    """The aftermath of each refusal a transaction met, once it has ended
    (in the transaction the statements would fail: it is aborted)."""
    for call, refusal in refused:
        yield from aftermath(call, refusal, policy)


# -- the booking lock ----------------------------------------------------------------------


def lock_taken(venue_id: int, resource_id: int) -> Busy:
    """The refusal of ``booking_lock(..., wait=False)`` when another
    transaction holds the lock: :class:`~bookingdb.errors.Busy`, as when a
    wait runs out, since what to do is the same (retry after a pause)."""
    return Busy(
        "booking lock held by another transaction",
        sqlstate=Busy.sqlstate,
        detail=f"venue_id: {venue_id}, resource_id: {resource_id}",
        hint="Retry after a short, jittered pause.",
    )


# -- watch() -------------------------------------------------------------------------------


def listen_dsn(dsn: str) -> str:
    """The DSN of a watch() connection: named :data:`WATCH` unless it names itself."""
    if "application_name" in conninfo_to_dict(dsn):
        return dsn
    return make_conninfo(dsn, application_name=WATCH)


def watch(
    venue_id: int,
    after_seq: int,
    poll_interval: float,
    idle_timeout: float | None,
    reconnect_timeout: float,
) -> Generator[Step | Change, Any, None]:
    """The watch() loop, its arguments checked now (before any connection).

    It yields the changes to hand to the caller among its steps. LISTEN
    first, then catch up with ``changes_since`` until it is empty, then wait
    for a notification for this venue (venues with the ``notify`` rule on)
    or ``poll_interval`` seconds, and catch up again. A dropped connection (a driver
    throws :class:`Dropped`) is reopened with a short backoff, continuing
    after the last ``seq`` yielded; if that fails for ``reconnect_timeout``
    seconds the OperationalError is raised. Ends when no change has come for
    ``idle_timeout`` seconds (if given)."""
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive (got {poll_interval})")
    if idle_timeout is not None and idle_timeout < 0:
        raise ValueError(f"idle_timeout must not be negative (got {idle_timeout})")
    if after_seq < 0:
        raise ValueError(f"after_seq must not be negative (got {after_seq})")
    return _watch(venue_id, after_seq, poll_interval, idle_timeout, reconnect_timeout)


def _watch(
    venue_id: int,
    last_seq: int,
    poll_interval: float,
    idle_timeout: float | None,
    reconnect_timeout: float,
) -> Generator[Step | Change, Any, None]:
    yield Listen()
    last_change = clock.monotonic()
    while True:
        try:
            # LISTEN came first, so a change committed from here on either is
            # in this catch-up or wakes the wait below.
            while page := (
                yield from attempt(calls.changes_since(venue_id, last_seq, FEED_PAGE), 0)
            ):
                for change in page:
                    last_seq = change.seq
                    yield change
                last_change = clock.monotonic()
            wait = poll_interval
            if idle_timeout is not None:
                left = last_change + idle_timeout - clock.monotonic()
                if left <= 0:
                    return
                wait = min(wait, left)
            yield AwaitNotify(str(venue_id), wait)
        except Dropped:
            yield from _relisten(reconnect_timeout)


def _relisten(within: float) -> Generator[Step, Any, None]:
    deadline = clock.monotonic() + within
    tries = 0
    while True:
        tries += 1
        yield Pause(random.uniform(0.5, 1.0) * min(2.0, 0.05 * 2**tries))
        try:
            yield Listen()
            return
        except psycopg.OperationalError:
            if clock.monotonic() >= deadline:
                raise
            log.info("watch: reconnect attempt %s failed", tries, exc_info=True)


# -- the doctor's repair -------------------------------------------------------------------

#: How long each REINDEX of ``repair_allocation_indexes`` may wait for its
#: lock by default: one queued behind a long transaction would hold up every
#: booking queued behind it, so it gives up instead (Busy; try again later).
REPAIR_LOCK_TIMEOUT = timedelta(seconds=5)


def repair_session(lock_timeout: timedelta) -> tuple[str, tuple[str]]:
    """The statement that bounds the lock waits of the repair's own
    connection (a session setting: REINDEX CONCURRENTLY runs outside any
    transaction, so SET LOCAL cannot)."""
    ms = max(1, int(lock_timeout.total_seconds() * 1000))
    return "SELECT set_config('lock_timeout', %s, false)", (f"{ms}ms",)


def repair_failed(err: psycopg.Error) -> Exception:
    """A failed REINDEX as the client raises it: a lock wait past the bound
    is Busy (55P03); anything else stays the database's own error."""
    return translate(err) or err
