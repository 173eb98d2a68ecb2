"""Every public SQL function the clients call, declared once.

Each function here takes a method's typed arguments and returns a
:class:`Call`: the SQL, the converted parameters, how rows become the result,
whether running it again is safe, and whether it belongs to a venue (for
refusal reporting). It runs nothing. :class:`bookingdb.BookingDB` and
:class:`bookingdb.AsyncBookingDB` derive one method from each declaration
(one line per method per client), and run the Call with
:mod:`bookingdb.steps`, so the SQL, the argument checks and the result
mapping exist once for both.

Checks that can fail (a naive datetime, an int beyond SQL int) run when the
declaration is called, before any connection is used.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from psycopg.rows import BaseRowFactory, class_row, kwargs_row, scalar_row
from psycopg.types.json import Jsonb
from psycopg.types.range import Range

from bookingdb.models import (
    Alternative,
    Booking,
    BookingSlot,
    Change,
    CustomerLike,
    ErrorCode,
    Event,
    EventInventoryItem,
    HiddenOverlap,
    IndexCheck,
    IndexRepair,
    InvariantViolation,
    OpeningHours,
    Resource,
    Slot,
    SlotRequest,
    TableCombination,
    Venue,
    WaitlistEntry,
    customer_json,
)

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One statement calling one public SQL function, ready to run.

    ``result`` turns the fetched rows into what the method returns.
    ``retry_safe``: running it again after a transient failure or a
    retryable refusal (BK020) cannot do anything twice (read-only, idempotent
    by nature, or carrying an idempotency key). ``venue_scoped``: the first
    parameter is the venue_id a refusal is counted against. ``alternatives``:
    on BK001, the question whose answer is attached to the refusal."""

    sql: str
    params: tuple[Any, ...]
    row_factory: BaseRowFactory[Any]
    result: Callable[[list[Any]], T]
    retry_safe: bool = False
    venue_scoped: bool = True
    alternatives: Call[list[Alternative]] | None = None

    def __post_init__(self) -> None:
        for value in self.params:
            _check_param(value)

    @property
    def venue_id(self) -> int | None:
        """The venue a refusal of this call is counted against, if any."""
        if self.venue_scoped and self.params and isinstance(self.params[0], int):
            return self.params[0]
        return None


_first = itemgetter(0)


def _rows(rows: list[R]) -> list[R]:
    return rows


def _all(
    sql: str,
    params: tuple[Any, ...],
    row_factory: BaseRowFactory[R],
    *,
    retry_safe: bool = True,
    venue_scoped: bool = True,
) -> Call[list[R]]:
    """A set-returning function: every row."""
    return Call(sql, params, row_factory, _rows, retry_safe, venue_scoped)


def _one(
    sql: str,
    params: tuple[Any, ...],
    row_factory: BaseRowFactory[R],
    *,
    retry_safe: bool = False,
) -> Call[R]:
    """A function returning one row."""
    return Call(sql, params, row_factory, _first, retry_safe)


def _value(
    sql: str,
    params: tuple[Any, ...],
    convert: Callable[[Any], T],
    *,
    retry_safe: bool = False,
    venue_scoped: bool = True,
) -> Call[T]:
    """A function returning one value, passed through ``convert``."""
    return Call(sql, params, scalar_row, lambda rows: convert(rows[0]), retry_safe, venue_scoped)


def _takes_slot(
    sql: str,
    params: tuple[Any, ...],
    idempotency_key: str | None,
    alternatives: Call[list[Alternative]],
) -> Call[Booking]:
    """A call that takes a slot: safe to retry only with an idempotency key;
    on BK001 the refusal is given the answer of ``alternatives``."""
    return Call(sql, params, _BOOKING, _first, idempotency_key is not None, True, alternatives)


# Functions returning void: one row whose value means nothing.
_NOTHING: BaseRowFactory[None] = kwargs_row(lambda **_: None)


def _void(sql: str, params: tuple[Any, ...], *, retry_safe: bool = True) -> Call[None]:
    return Call(sql, params, _NOTHING, _first, retry_safe)


_BOOKING = kwargs_row(Booking.from_row)
_ENTRY = kwargs_row(WaitlistEntry.from_row)

# -- argument checks: what the database must never see ---------------------------------

_INT32 = range(-(2**31), 2**31)


_INT64 = range(-(2**63), 2**63)


def _check_param(value: Any) -> None:
    """Refuse, before anything is sent, values no public function can take:
    PostgreSQL would otherwise look for a function of other argument types
    (a numeric id, a time with a zone) or the driver would fail on a NUL."""
    if isinstance(value, list | tuple):
        for item in value:
            _check_param(item)
    elif isinstance(value, bool):
        # A bool is an int to Python but a boolean to PostgreSQL; the two
        # boolean arguments are sent through _flag.
        raise ValueError(f"{value} is not an integer")
    elif isinstance(value, int) and value not in _INT64:
        raise ValueError(f"{value} does not fit in a 64-bit integer (bigint)")
    elif isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    elif isinstance(value, time) and value.tzinfo is not None:
        raise ValueError(
            f"times of day are the venue's wall-clock times: pass {value} without tzinfo"
        )


def _flag(value: bool) -> str:
    """A boolean argument, as the text PostgreSQL reads (``%s::boolean``)."""
    return "true" if value else "false"


def _day(name: str, value: date | None) -> date | None:
    # A datetime is a date too, but would be sent as timestamptz.
    if isinstance(value, datetime):
        raise ValueError(f"{name} must be a date, not a datetime (got {value.isoformat()})")
    return value


def _int32(name: str, value: int | None) -> int | None:
    # SQL int is 32 bits; psycopg would send a larger Python int as bigint and
    # the function would not even be found. Say what is wrong instead.
    if value is not None and value not in _INT32:
        raise ValueError(f"{name} must fit in a 32-bit integer (got {value})")
    return value


def _aware(name: str, value: datetime) -> datetime:
    # A naive datetime would be read in the session's TimeZone; refuse it.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value


def _maybe_aware(name: str, value: datetime | None) -> datetime | None:
    return None if value is None else _aware(name, value)


def _window(value: Window) -> Range[datetime]:
    starts_at, ends_at = value
    return Range(_aware("window start", starts_at), _aware("window end", ends_at), "[)")


def _interval_text(value: str | int | timedelta | None) -> str | int | None:
    # Rules travel as JSON: intervals as text PostgreSQL reads, whatever the
    # session's IntervalStyle.
    if isinstance(value, timedelta):
        return f"{value.total_seconds():f} seconds"
    return value


def _bounds(value: Range[datetime]) -> Window:
    # A range inside a finite window has both bounds.
    assert value.lower is not None and value.upper is not None
    return (value.lower, value.upper)


def _windows(ranges: list[Range[datetime]]) -> list[Window]:
    return [_bounds(part) for part in ranges]


def _slot(
    venue_id: int, resource_ids: Sequence[int], starts_at: datetime, ends_at: datetime
) -> tuple[int, list[int], datetime, datetime]:
    """The four leading arguments of the functions that ask about a slot."""
    return venue_id, list(resource_ids), _aware("starts_at", starts_at), _aware("ends_at", ends_at)


def _ids(values: Sequence[int] | None) -> list[int] | None:
    return None if values is None else list(values)


# -- a method from a declaration -------------------------------------------------------


class Runs(Protocol):
    """A blocking client: runs a Call and returns its result."""

    def _execute(self, call: Call[T], /) -> T: ...


class AwaitsRuns(Protocol):
    """An asyncio client: runs a Call and returns its result."""

    async def _execute(self, call: Call[T], /) -> T: ...


def blocking(declare: Callable[P, Call[T]]) -> Callable[Concatenate[Runs, P], T]:
    """The blocking client method of a declaration: same arguments, returns
    the Call's result."""

    def method(self: Runs, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._execute(declare(*args, **kwargs))

    return _named_like(method, declare)


def awaiting(
    declare: Callable[P, Call[T]],
) -> Callable[Concatenate[AwaitsRuns, P], Coroutine[Any, Any, T]]:
    """The asyncio client method of a declaration: same arguments, a
    coroutine returning the Call's result."""

    async def method(self: AwaitsRuns, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._execute(declare(*args, **kwargs))

    return _named_like(method, declare)


M = TypeVar("M", bound=Callable[..., Any])


def _named_like(method: M, declare: Callable[..., Call[Any]]) -> M:
    """``method`` with the name, docstring and signature of ``declare``
    (``self`` first, returning what the Call returns), for ``help()``."""
    functools.update_wrapper(method, declare)
    signature = inspect.signature(declare)
    returns = str(signature.return_annotation)
    if returns.startswith("Call[") and returns.endswith("]"):
        returns = returns[len("Call[") : -1]
    me = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[me, *signature.parameters.values()], return_annotation=returns
    )
    return method


# -- venues and resources ----------------------------------------------------------------


def create_venue(name: str, timezone: str = "UTC") -> Call[int]:
    return _value(
        "SELECT bookingdb.create_venue(%s, %s)", (name, timezone), int, venue_scoped=False
    )


def list_venues() -> Call[list[Venue]]:
    """The venues this connection may reach (its own when bound to venues)."""
    return _all("SELECT * FROM bookingdb.list_venues()", (), kwargs_row(Venue), venue_scoped=False)


def add_resource(
    venue_id: int,
    name: str,
    capacity: int = 1,
    seats_min: int = 1,
    seats_max: int | None = None,
    kind: str = "table",
) -> Call[int]:
    return _value(
        "SELECT bookingdb.add_resource(%s, %s, %s, %s, %s, %s)",
        (
            venue_id,
            name,
            _int32("capacity", capacity),
            _int32("seats_min", seats_min),
            _int32("seats_max", seats_max),
            kind,
        ),
        int,
    )


def list_resources(venue_id: int) -> Call[list[Resource]]:
    return _all(
        "SELECT * FROM bookingdb.list_resources(%s)", (venue_id,), kwargs_row(Resource.from_row)
    )


def set_sellable_capacity(
    venue_id: int, resource_id: int, sellable_capacity: int | None
) -> Call[None]:
    """How many units of a shared resource may be sold at once: fewer than its
    capacity keeps places back, more overbooks on purpose (up to 10x), None
    sells exactly the capacity. Lowering it below what current and future
    bookings use is refused (:class:`~bookingdb.errors.CapacityInUse`)."""
    return _void(
        "SELECT bookingdb.set_sellable_capacity(%s, %s, %s)",
        (venue_id, resource_id, _int32("sellable_capacity", sellable_capacity)),
    )


# -- holds -------------------------------------------------------------------------------


def create_hold(
    venue_id: int,
    resource_ids: Sequence[int],
    starts_at: datetime,
    ends_at: datetime,
    *,
    party_size: int = 1,
    quantity: int = 1,
    idempotency_key: str | None = None,
    ttl: timedelta | None = None,
    holder: str | None = None,
) -> Call[Booking]:
    """Hold resources while the customer checks out. ``holder`` is an opaque
    key for the customer (a session or account id), counted against the
    venue's ``max_active_holds_per_customer``
    (:class:`~bookingdb.errors.TooManyHolds`). With an ``idempotency_key`` a
    transient failure or :class:`~bookingdb.errors.Busy` (BK020) is retried
    with jittered backoff; without one it is raised. On BK001 the refusal
    carries the nearest free slots (``alternatives_on_refusal``)."""
    return _takes_slot(
        "SELECT * FROM bookingdb.create_hold(venue_id => %s, resource_ids => %s,"
        " starts_at => %s, ends_at => %s, party_size => %s, quantity => %s,"
        " idempotency_key => %s, ttl => %s, holder => %s)",
        (
            *_slot(venue_id, resource_ids, starts_at, ends_at),
            _int32("party_size", party_size),
            _int32("quantity", quantity),
            idempotency_key,
            ttl,
            holder,
        ),
        idempotency_key,
        suggest_alternatives(venue_id, resource_ids, starts_at, ends_at, party_size=party_size),
    )


def confirm_hold(
    venue_id: int,
    booking_id: int,
    *,
    customer: CustomerLike | None = None,
    payment_ref: str | None = None,
) -> Call[Booking]:
    """Turn a live hold into a confirmed booking. The result carries the
    customer's ``cancel_token`` (for :meth:`cancel_by_token`), handed out this
    once: a replay returns the booking without it."""
    # Confirming an already confirmed booking with the same details returns
    # it unchanged, so a retry after a lost connection is safe.
    return _one(
        "SELECT * FROM bookingdb.confirm_hold(%s, %s, %s::jsonb, %s)",
        (venue_id, booking_id, customer_json(customer), payment_ref),
        _BOOKING,
        retry_safe=True,
    )


def extend_hold(venue_id: int, booking_id: int, extra: timedelta) -> Call[Booking]:
    return _one(
        "SELECT * FROM bookingdb.extend_hold(%s, %s, %s)", (venue_id, booking_id, extra), _BOOKING
    )


def release_hold(venue_id: int, booking_id: int) -> Call[Booking]:
    return _one("SELECT * FROM bookingdb.release_hold(%s, %s)", (venue_id, booking_id), _BOOKING)


def expire_holds(max_rows: int = 1000) -> Call[int]:
    return _value(
        "SELECT bookingdb.expire_holds(%s)",
        (_int32("max_rows", max_rows),),
        int,
        retry_safe=True,
        venue_scoped=False,
    )


# -- bookings ----------------------------------------------------------------------------


def create_booking_atomic(
    venue_id: int,
    resource_ids: Sequence[int],
    starts_at: datetime,
    ends_at: datetime,
    *,
    party_size: int = 1,
    customer: CustomerLike | None = None,
    quantity: int = 1,
    idempotency_key: str | None = None,
    status: str = "confirmed",
) -> Call[Booking]:
    """Books in one step; ``status="pending"`` records a request the venue
    approves (:meth:`approve_booking`) or rejects later. The result carries
    the customer's ``cancel_token``, handed out this once. With an
    ``idempotency_key`` a transient failure or :class:`~bookingdb.errors.Busy`
    (BK020) is retried with jittered backoff; without one it is raised. On
    BK001 the refusal carries the nearest free slots."""
    return _takes_slot(
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
        (
            *_slot(venue_id, resource_ids, starts_at, ends_at),
            _int32("party_size", party_size),
            customer_json(customer),
            _int32("quantity", quantity),
            idempotency_key,
            status,
        ),
        idempotency_key,
        suggest_alternatives(venue_id, resource_ids, starts_at, ends_at, party_size=party_size),
    )


def cancel_booking(
    venue_id: int,
    booking_id: int,
    *,
    expected_version: int | None = None,
    reason: str | None = None,
) -> Call[Booking]:
    return _one(
        "SELECT * FROM bookingdb.cancel_booking(%s, %s, %s, %s)",
        (venue_id, booking_id, _int32("expected_version", expected_version), reason),
        _BOOKING,
    )


def cancel_by_token(
    venue_id: int, reference: str, token: str, reason: str | None = None
) -> Call[Booking]:
    """Cancel a confirmed or pending booking for a customer with no account:
    its reference and the ``cancel_token`` handed out when it was confirmed. A
    wrong token and an unknown reference get the same
    :class:`~bookingdb.errors.NotFound`. Not retried (a second cancel is
    refused)."""
    return _one(
        "SELECT * FROM bookingdb.cancel_by_token(%s, %s, %s, %s)",
        (venue_id, reference, token, reason),
        _BOOKING,
    )


def approve_booking(
    venue_id: int, booking_id: int, *, expected_version: int | None = None
) -> Call[Booking]:
    return _one(
        "SELECT * FROM bookingdb.approve_booking(%s, %s, %s)",
        (venue_id, booking_id, _int32("expected_version", expected_version)),
        _BOOKING,
    )


def reject_booking(
    venue_id: int,
    booking_id: int,
    *,
    expected_version: int | None = None,
    reason: str | None = None,
) -> Call[Booking]:
    return _one(
        "SELECT * FROM bookingdb.reject_booking(%s, %s, %s, %s)",
        (venue_id, booking_id, _int32("expected_version", expected_version), reason),
        _BOOKING,
    )


def create_series(
    venue_id: int,
    resource_ids: Sequence[int],
    first_starts_at: datetime,
    duration: timedelta,
    every: timedelta | str,
    occurrences: int,
    *,
    party_size: int = 1,
    customer: CustomerLike | None = None,
    idempotency_key: str | None = None,
) -> Call[list[Booking]]:
    """Book ``occurrences`` slots at the same local wall-clock time every
    ``every`` (a timedelta, or interval text such as ``"1 month"``), all or
    nothing."""
    return _all(
        "SELECT * FROM bookingdb.create_series("
        "%s, %s, %s, %s, %s::interval, %s, %s, %s::jsonb, %s)",
        (
            venue_id,
            list(resource_ids),
            _aware("first_starts_at", first_starts_at),
            duration,
            every,
            _int32("occurrences", occurrences),
            _int32("party_size", party_size),
            customer_json(customer),
            idempotency_key,
        ),
        _BOOKING,
        retry_safe=idempotency_key is not None,
    )


def cancel_series(
    venue_id: int,
    series_id: int,
    *,
    from_starts_at: datetime | None = None,
    reason: str | None = None,
) -> Call[list[Booking]]:
    """Cancel the occurrences starting at or after ``from_starts_at`` (default now)."""
    return _all(
        "SELECT * FROM bookingdb.cancel_series(%s, %s, %s, %s)",
        (venue_id, series_id, _maybe_aware("from_starts_at", from_starts_at), reason),
        _BOOKING,
        retry_safe=False,
    )


def reschedule_booking(
    venue_id: int,
    booking_id: int,
    expected_version: int | None,
    starts_at: datetime,
    ends_at: datetime,
    resource_ids: Sequence[int] | None = None,
) -> Call[Booking]:
    return _one(
        "SELECT * FROM bookingdb.reschedule_booking(%s, %s, %s, %s, %s, %s)",
        (
            venue_id,
            booking_id,
            _int32("expected_version", expected_version),
            _aware("starts_at", starts_at),
            _aware("ends_at", ends_at),
            _ids(resource_ids),
        ),
        _BOOKING,
    )


def get_booking(venue_id: int, booking_id: int) -> Call[Booking]:
    return _one(
        "SELECT * FROM bookingdb.get_booking(%s, %s)",
        (venue_id, booking_id),
        _BOOKING,
        retry_safe=True,
    )


def find_booking(venue_id: int, reference: str) -> Call[Booking]:
    """The booking with this human reference (``BK-7Q3M-X2PD``; case and
    surrounding spaces ignored)."""
    return _one(
        "SELECT * FROM bookingdb.find_booking(%s, %s)",
        (venue_id, reference),
        _BOOKING,
        retry_safe=True,
    )


def customer_bookings(
    venue_id: int, email: str, from_ts: datetime | None = None, *, include_past: bool = False
) -> Call[list[Booking]]:
    """The bookings (any status) whose customer e-mail matches, ignoring case,
    in start order: those starting at or after ``from_ts``; by default those
    starting from now (the database's now()); with ``include_past=True``, all
    of them (then ``from_ts`` must not be given)."""
    if include_past and from_ts is not None:
        raise ValueError("give from_ts or include_past=True, not both")
    if from_ts is None and not include_past:
        # The SQL default (now()) decides, not this machine's clock.
        return _all(
            "SELECT * FROM bookingdb.customer_bookings(%s, %s)", (venue_id, email), _BOOKING
        )
    return _all(
        "SELECT * FROM bookingdb.customer_bookings(%s, %s, %s)",
        (venue_id, email, _maybe_aware("from_ts", from_ts)),
        _BOOKING,
    )


def list_bookings(venue_id: int, starts_at: datetime, ends_at: datetime) -> Call[list[BookingSlot]]:
    return _all(
        "SELECT * FROM bookingdb.list_bookings(%s, %s, %s)",
        (venue_id, _aware("starts_at", starts_at), _aware("ends_at", ends_at)),
        class_row(BookingSlot),
    )


def check_availability(
    venue_id: int,
    resource_ids: Sequence[int],
    starts_at: datetime,
    ends_at: datetime,
    *,
    quantity: int = 1,
    exclude_booking_id: int | None = None,
) -> Call[bool]:
    return _value(
        "SELECT bookingdb.check_availability(%s, %s, %s, %s, %s, %s)",
        (
            *_slot(venue_id, resource_ids, starts_at, ends_at),
            _int32("quantity", quantity),
            exclude_booking_id,
        ),
        bool,
        retry_safe=True,
    )


def check_availability_many(venue_id: int, requests: Sequence[SlotRequest]) -> Call[list[bool]]:
    """One answer per request, in order, from one round trip."""
    for request in requests:
        _aware("starts_at", request.starts_at)
        _aware("ends_at", request.ends_at)
    return _all(
        "SELECT idx, available FROM bookingdb.check_availability_many(%s, %s) ORDER BY idx",
        (venue_id, Jsonb([request.to_json() for request in requests])),
        kwargs_row(lambda idx, available: bool(available)),
    )


def availability(
    venue_id: int,
    window: Window,
    duration: timedelta,
    *,
    step: timedelta | None = None,
    resource_ids: Sequence[int] | None = None,
    party_size: int = 1,
    quantity: int = 1,
) -> Call[list[Slot]]:
    return _all(
        "SELECT * FROM bookingdb.availability(%s, %s::tstzrange, %s, %s, %s, %s, %s)",
        (
            venue_id,
            _window(window),
            duration,
            step,
            _ids(resource_ids),
            _int32("party_size", party_size),
            _int32("quantity", quantity),
        ),
        class_row(Slot),
    )


def free_time(venue_id: int, resource_id: int, window: Window) -> Call[list[Window]]:
    """The free intervals of one resource inside ``window``, in order."""
    return _value(
        "SELECT bookingdb.free_time(%s, %s, %s::tstzrange)",
        (venue_id, resource_id, _window(window)),
        _windows,
        retry_safe=True,
    )


def suggest_alternatives(
    venue_id: int,
    resource_ids: Sequence[int],
    starts_at: datetime,
    ends_at: datetime,
    *,
    party_size: int = 1,
    max_results: int = 5,
) -> Call[list[Alternative]]:
    return _all(
        "SELECT * FROM bookingdb.suggest_alternatives(%s, %s, %s, %s, %s, %s)",
        (
            *_slot(venue_id, resource_ids, starts_at, ends_at),
            _int32("party_size", party_size),
            _int32("max_results", max_results),
        ),
        class_row(Alternative),
    )


def table_combinations(
    venue_id: int,
    starts_at: datetime,
    ends_at: datetime,
    party_size: int,
    *,
    max_tables: int = 3,
) -> Call[list[TableCombination]]:
    return _all(
        "SELECT * FROM bookingdb.table_combinations(%s, %s, %s, %s, %s)",
        (
            venue_id,
            _aware("starts_at", starts_at),
            _aware("ends_at", ends_at),
            _int32("party_size", party_size),
            _int32("max_tables", max_tables),
        ),
        kwargs_row(TableCombination.from_row),
    )


def local_range(venue_id: int, day: date, starts: time, ends: time) -> Call[Window]:
    """The instants of a local date and times at the venue (its time zone)."""
    return _value(
        "SELECT bookingdb.local_range(%s, %s, %s, %s)",
        (venue_id, _day("day", day), starts, ends),
        _bounds,
        retry_safe=True,
    )


# -- the booking lock (inside a transaction only) ----------------------------------------


def acquire_booking_lock(
    venue_id: int, resource_id: int, starts_at: datetime, ends_at: datetime
) -> Call[None]:
    """Take, until the transaction ends, the lock every booking of this
    resource takes (waits at most 5 s, then :class:`~bookingdb.errors.Busy`).
    To lock several resources, lock them in ascending id order."""
    return _void(
        "SELECT bookingdb.acquire_booking_lock(%s, %s, %s, %s)",
        (venue_id, resource_id, _aware("starts_at", starts_at), _aware("ends_at", ends_at)),
        retry_safe=False,
    )


def try_booking_lock(
    venue_id: int, resource_id: int, starts_at: datetime, ends_at: datetime
) -> Call[bool]:
    """Like :meth:`acquire_booking_lock` without waiting: True when the lock is
    now held until the transaction ends, False when someone else holds it."""
    return _value(
        "SELECT bookingdb.try_booking_lock(%s, %s, %s, %s)",
        (venue_id, resource_id, _aware("starts_at", starts_at), _aware("ends_at", ends_at)),
        bool,
    )


# -- events and tickets ------------------------------------------------------------------


def create_event(venue_id: int, name: str, starts_at: datetime, ends_at: datetime) -> Call[int]:
    """An event (a concert, a match) for [starts_at, ends_at); its inventory
    is put on sale with :meth:`add_event_inventory`."""
    return _value(
        "SELECT bookingdb.create_event(%s, %s, %s, %s)",
        (venue_id, name, _aware("starts_at", starts_at), _aware("ends_at", ends_at)),
        int,
    )


def add_seat_block(
    venue_id: int, section: str, row_label: str, first_number: int, seat_count: int
) -> Call[list[int]]:
    """``seat_count`` adjacent numbered seats in one row; their resource ids
    in seat order. Rows added first count as the better rows."""
    return _value(
        "SELECT bookingdb.add_seat_block(venue_id => %s, section => %s, row_label => %s,"
        " first_number => %s, seat_count => %s)",
        (
            venue_id,
            section,
            row_label,
            _int32("first_number", first_number),
            _int32("seat_count", seat_count),
        ),
        list,
    )


def add_event_inventory(
    venue_id: int,
    event_id: int,
    resource_ids: Sequence[int],
    category: str,
    price_cents: int,
) -> Call[None]:
    """Put seats or general-admission areas on sale in a price category
    (again: changes their category and price)."""
    return _void(
        "SELECT bookingdb.add_event_inventory(venue_id => %s, event_id => %s,"
        " resource_ids => %s, category => %s, price_cents => %s)",
        (venue_id, event_id, list(resource_ids), category, _int32("price_cents", price_cents)),
    )


def hold_event_tickets(
    venue_id: int,
    event_id: int,
    *,
    quantity: int | None = None,
    seat_ids: Sequence[int] | None = None,
    category: str | None = None,
    customer: CustomerLike | None = None,
    idempotency_key: str | None = None,
    ttl: timedelta | None = None,
    holder: str | None = None,
) -> Call[Booking]:
    """Hold the named ``seat_ids``, or the best ``quantity`` adjacent seats of
    a category, or ``quantity`` general-admission places (ttl default 15
    minutes). ``holder`` (else the customer's e-mail) is counted against the
    venue's ``max_active_holds_per_customer``. With an ``idempotency_key`` a
    transient failure or :class:`~bookingdb.errors.Busy` (BK020) is retried
    with jittered backoff; without one it is raised."""
    return _one(
        "SELECT * FROM bookingdb.hold_event_tickets(venue_id => %s, event_id => %s,"
        " quantity => %s, seat_ids => %s, category => %s, customer => %s::jsonb,"
        " idempotency_key => %s, ttl => %s, holder => %s)",
        (
            venue_id,
            event_id,
            _int32("quantity", quantity),
            _ids(seat_ids),
            category,
            customer_json(customer),
            idempotency_key,
            ttl,
            holder,
        ),
        _BOOKING,
        retry_safe=idempotency_key is not None,
    )


def event_availability(venue_id: int, event_id: int) -> Call[list[EventInventoryItem]]:
    """One row per resource on sale: places left (1 or 0 for a seat)."""
    return _all(
        "SELECT * FROM bookingdb.event_availability(%s, %s)",
        (venue_id, event_id),
        class_row(EventInventoryItem),
    )


def list_events(venue_id: int) -> Call[list[Event]]:
    return _all("SELECT * FROM bookingdb.list_events(%s)", (venue_id,), class_row(Event))


# -- waitlist ----------------------------------------------------------------------------


def join_waitlist(
    venue_id: int,
    resource_ids: Sequence[int],
    starts_at: datetime | None,
    ends_at: datetime | None,
    *,
    party_size: int = 1,
    customer: CustomerLike | None = None,
    priority: int = 0,
    event_id: int | None = None,
) -> Call[int]:
    """Wait for any one of ``resource_ids`` (with ``event_id``: tickets among
    them; the times may then be None, the event's). When capacity frees up
    the database offers the first matching entry a hold; returns the entry_id."""
    return _value(
        "SELECT bookingdb.join_waitlist(venue_id => %s, resource_ids => %s,"
        " starts_at => %s, ends_at => %s, party_size => %s, customer => %s::jsonb,"
        " priority => %s, event_id => %s)",
        (
            venue_id,
            list(resource_ids),
            _maybe_aware("starts_at", starts_at),
            _maybe_aware("ends_at", ends_at),
            _int32("party_size", party_size),
            customer_json(customer),
            _int32("priority", priority),
            event_id,
        ),
        int,
    )


def leave_waitlist(venue_id: int, entry_id: int) -> Call[WaitlistEntry]:
    """Take an entry off the waitlist; an offered hold passes to the next in line."""
    return _one("SELECT * FROM bookingdb.leave_waitlist(%s, %s)", (venue_id, entry_id), _ENTRY)


def waitlist(venue_id: int, *, include_closed: bool = False) -> Call[list[WaitlistEntry]]:
    """Offered entries, then waiting ones in serving order (``include_closed``:
    booked, lapsed and left ones too)."""
    return _all(
        "SELECT * FROM bookingdb.waitlist(%s, %s::boolean)",
        (venue_id, _flag(include_closed)),
        _ENTRY,
    )


def process_waitlist(venue_id: int, max_entries: int = 100) -> Call[int]:
    """Offer what is free now to waiting entries in order; how many got an offer."""
    return _value(
        "SELECT bookingdb.process_waitlist(%s, %s)",
        (venue_id, _int32("max_entries", max_entries)),
        int,
        retry_safe=True,
    )


# -- tenancy -----------------------------------------------------------------------------


def bind_tenant_role(venue_id: int, role_name: str) -> Call[None]:
    """Bind a database role to a venue: its connections reach only the venues
    bound to it. For the schema owner (a platform operator), not the app role."""
    return _void(
        "SELECT bookingdb.bind_tenant_role(%s, %s)", (venue_id, role_name), retry_safe=True
    )


def unbind_tenant_role(venue_id: int, role_name: str) -> Call[bool]:
    """Remove a role's binding to a venue; True if there was one."""
    return _value(
        "SELECT bookingdb.unbind_tenant_role(%s, %s)", (venue_id, role_name), bool, retry_safe=True
    )


# -- change feed -------------------------------------------------------------------------


def changes_since(venue_id: int, after_seq: int = 0, max_rows: int = 1000) -> Call[list[Change]]:
    """The venue's changes after ``after_seq``, oldest first (``seq`` is gap-free
    and in commit order). Numbering rows on first read is idempotent, so a
    retry is safe."""
    return _all(
        "SELECT * FROM bookingdb.changes_since(%s, %s, %s)",
        (venue_id, after_seq, _int32("max_rows", max_rows)),
        class_row(Change),
    )


def prune_changes(venue_id: int, older_than: timedelta = timedelta(days=30)) -> Call[int]:
    """Delete feed rows older than ``older_than`` that have been readable; how many."""
    return _value(
        "SELECT bookingdb.prune_changes(%s, %s)", (venue_id, older_than), int, retry_safe=True
    )


def record_refusal(venue_id: int, code: str) -> Call[None]:
    """Count one refusal (a BK code) for ``stats()``; the client does this
    itself after every refusal when ``report_refusals`` is on."""
    return _void("SELECT bookingdb.record_refusal(%s, %s)", (venue_id, code), retry_safe=False)


# -- operations: statistics and health ---------------------------------------------------


def stats(
    venue_id: int, since: datetime | None = None, until: datetime | None = None
) -> Call[dict[str, Any]]:
    """Operator statistics for [since, until) (default: 7 days either side of
    now): bookings_by_status, holds, refusals, utilisation, bookings_per_hour."""
    return _value(
        "SELECT bookingdb.stats(%s, %s, %s)",
        (venue_id, _maybe_aware("since", since), _maybe_aware("until", until)),
        dict,
        retry_safe=True,
    )


def health(
    *,
    max_unswept: timedelta | None = None,
    max_feed_lag: timedelta | None = None,
    max_lock_wait: timedelta | None = timedelta(seconds=30),
    check_invariants: bool = True,
) -> Call[dict[str, Any]]:
    """The database's health report; ``report["healthy"]`` is the verdict and
    ``report["problems"]`` says why not."""
    return _value(
        "SELECT bookingdb.health(%s::interval, %s::interval, %s::interval, %s::boolean)",
        (max_unswept, max_feed_lag, max_lock_wait, _flag(check_invariants)),
        dict,
        retry_safe=True,
        venue_scoped=False,
    )


# -- venue rules and settings ------------------------------------------------------------


def set_venue_rules(
    venue_id: int, rules: Mapping[str, str | int | bool | timedelta | None]
) -> Call[None]:
    """Set some rules (hold_ttl, min_notice, max_advance, buffer_before,
    buffer_after, slot_step as timedelta or interval text; min_party,
    max_party, min_age, max_active_holds_per_customer as int; notify as bool;
    None restores the default)."""
    payload = {key: _interval_text(value) for key, value in rules.items()}
    return _void("SELECT bookingdb.set_venue_rules(%s, %s)", (venue_id, Jsonb(payload)))


def get_venue_rules(venue_id: int) -> Call[dict[str, Any]]:
    return _value("SELECT bookingdb.get_venue_rules(%s)", (venue_id,), dict, retry_safe=True)


def set_opening_hours(venue_id: int, weekday: int, opens: time, closes: time) -> Call[None]:
    """Add an interval on ISO weekday 1-7; ``closes <= opens`` ends the next day."""
    return _void(
        "SELECT bookingdb.set_opening_hours(%s, %s, %s, %s)",
        (venue_id, _int32("weekday", weekday), opens, closes),
    )


def clear_opening_hours(venue_id: int, weekday: int | None = None) -> Call[None]:
    return _void(
        "SELECT bookingdb.clear_opening_hours(%s, %s)", (venue_id, _int32("weekday", weekday))
    )


def set_date_override(
    venue_id: int, day: date, opens: time | None = None, closes: time | None = None
) -> Call[None]:
    """Closed all day (no times), or add an interval for that date."""
    return _void(
        "SELECT bookingdb.set_date_override(%s, %s, %s, %s)",
        (venue_id, _day("day", day), opens, closes),
    )


def clear_date_overrides(venue_id: int, day: date | None = None) -> Call[None]:
    return _void("SELECT bookingdb.clear_date_overrides(%s, %s)", (venue_id, _day("day", day)))


def opening_hours(venue_id: int) -> Call[list[OpeningHours]]:
    return _all("SELECT * FROM bookingdb.opening_hours(%s)", (venue_id,), class_row(OpeningHours))


def set_resource_buffers(
    venue_id: int, resource_id: int, before: timedelta, after: timedelta
) -> Call[None]:
    return _void(
        "SELECT bookingdb.set_resource_buffers(%s, %s, %s, %s)",
        (venue_id, resource_id, before, after),
    )


def set_resource_pricing(
    venue_id: int,
    resource_id: int,
    deposit_cents: int,
    min_spend_cents: int,
    zone: str | None = None,
) -> Call[None]:
    return _void(
        "SELECT bookingdb.set_resource_pricing(%s, %s, %s, %s, %s)",
        (
            venue_id,
            resource_id,
            _int32("deposit_cents", deposit_cents),
            _int32("min_spend_cents", min_spend_cents),
            zone,
        ),
    )


def link_resources(venue_id: int, a: int, b: int) -> Call[None]:
    """Declare two tables combinable (pushed together for one party)."""
    return _void("SELECT bookingdb.link_resources(%s, %s, %s)", (venue_id, a, b))


def unlink_resources(venue_id: int, a: int, b: int) -> Call[None]:
    return _void("SELECT bookingdb.unlink_resources(%s, %s, %s)", (venue_id, a, b))


def error_codes() -> Call[list[ErrorCode]]:
    """The catalogue of refusal codes (README, Error codes)."""
    return _all(
        "SELECT * FROM bookingdb.error_codes()", (), class_row(ErrorCode), venue_scoped=False
    )


def verify_invariants() -> Call[list[InvariantViolation]]:
    return _all(
        "SELECT * FROM bookingdb.verify_invariants()",
        (),
        class_row(InvariantViolation),
        venue_scoped=False,
    )


# -- the doctor: damaged allocation indexes (issue 13) ----------------------------------


def check_allocation_indexes() -> Call[list[IndexCheck]]:
    """Each allocation index against the table: rows it should hold, rows a
    scan of it finds, and how many it has lost."""
    return _all(
        "SELECT * FROM bookingdb.check_allocation_indexes()",
        (),
        class_row(IndexCheck),
        venue_scoped=False,
    )


def hidden_overlaps() -> Call[list[HiddenOverlap]]:
    """Pairs of active bookings overlapping on an exclusive resource, read
    from the table without any index."""
    return _all(
        "SELECT * FROM bookingdb.hidden_overlaps()",
        (),
        kwargs_row(HiddenOverlap.from_row),
        venue_scoped=False,
    )


def allocation_index_repairs(include_healthy: bool = False) -> Call[list[IndexRepair]]:
    """The REINDEX statements for the damaged allocation indexes (every one
    with ``include_healthy``); raises OverlapsUnresolved (BK023) while
    ``hidden_overlaps`` has rows. Runs nothing."""
    return _all(
        "SELECT * FROM bookingdb.allocation_index_repairs(%s::boolean)",
        (_flag(include_healthy),),
        class_row(IndexRepair),
        venue_scoped=False,
    )
