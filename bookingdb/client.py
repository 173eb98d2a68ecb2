"""The Python API: one method per public SQL function.

The class holds no business rules; every check happens in the database.
Each call is one round trip on an autocommit connection from a psycopg pool
(no session state, so it works behind PgBouncer transaction pooling); a
refusal costs one more statement, which counts it for ``stats()``.
:meth:`BookingDB.watch` alone keeps a connection of its own, to LISTEN (a
session feature: through PgBouncer transaction pooling it would not work).
"""

from __future__ import annotations

import logging
import random
import time as clock
from collections.abc import Generator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import BaseRowFactory, class_row, kwargs_row, scalar_row
from psycopg.types.json import Jsonb
from psycopg.types.range import Range
from psycopg_pool import ConnectionPool, PoolTimeout

from bookingdb.config import resolve_dsn
from bookingdb.errors import BookingError, SlotUnavailable, translate
from bookingdb.models import (
    Alternative,
    Booking,
    BookingSlot,
    Change,
    CustomerLike,
    Event,
    EventInventoryItem,
    InvariantViolation,
    OpeningHours,
    Resource,
    Slot,
    SlotRequest,
    TableCombination,
    WaitlistEntry,
    customer_json,
)

T = TypeVar("T")

log = logging.getLogger(__name__)

# Failures after which running the same call again is harmless *if* the call
# is idempotent: the connection dropped (did it commit? the key answers),
# or PostgreSQL rolled the transaction back for us.
_TRANSIENT = (
    psycopg.OperationalError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)

_BOOKING = kwargs_row(Booking.from_row)
_ENTRY = kwargs_row(WaitlistEntry.from_row)
# Functions returning void: one row whose value means nothing.
_VOID: BaseRowFactory[None] = kwargs_row(lambda **_: None)


_INT32 = range(-(2**31), 2**31)


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


Window = tuple[datetime, datetime]

# The application_name of watch() connections (unless the DSN names one).
WATCH = "bookingdb watch"
# Feed rows per changes_since call in watch().
_FEED_PAGE = 1000


def _window(value: Window) -> Range[datetime]:
    starts_at, ends_at = value
    return Range(_aware("window start", starts_at), _aware("window end", ends_at), "[)")


def _interval_text(value: str | int | timedelta | None) -> str | int | None:
    # Rules travel as JSON: intervals as text PostgreSQL reads, whatever the
    # session's IntervalStyle.
    if isinstance(value, timedelta):
        return f"{value.total_seconds():f} seconds"
    return value


def _await_notify(conn: psycopg.Connection[Any], venue: str, wait: float) -> None:
    """Returns when a notification for this venue arrives, or after ``wait`` seconds."""
    deadline = clock.monotonic() + wait
    while (left := deadline - clock.monotonic()) > 0:
        received = list(conn.notifies(timeout=left, stop_after=1))
        if any(note.payload == venue for note in received):
            return


class BookingDB:
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
        kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": prepare_threshold}
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

    # -- the one place that runs SQL -------------------------------------------------

    def _run(
        self,
        query: str,
        params: Sequence[Any],
        row_factory: BaseRowFactory[T],
        *,
        retry_safe: bool,
        venue_scoped: bool = True,
    ) -> list[T]:
        """Runs one statement. A call that is ``retry_safe`` (idempotent) runs
        again after a transient failure or a retryable refusal (BK020). A
        refusal of a ``venue_scoped`` function (``params[0]`` is the venue_id)
        is reported for ``stats()`` before it is raised."""
        attempt = 0
        while True:
            try:
                with self.pool.connection() as conn, conn.cursor(row_factory=row_factory) as cur:
                    cur.execute(query, params)
                    return cur.fetchall()
            except psycopg.Error as err:
                refusal = translate(err)
                attempt += 1
                retryable = (
                    refusal.retryable if refusal is not None else isinstance(err, _TRANSIENT)
                )
                if not (retry_safe and retryable and attempt <= self.max_retries):
                    if refusal is None:
                        raise
                    if venue_scoped and self.report_refusals and params:
                        self._report_refusal(params[0], refusal.sqlstate)
                    raise refusal from err
                # Jittered backoff so retrying clients do not stampede together.
                clock.sleep(random.uniform(0, 0.05 * 2**attempt))

    def _report_refusal(self, venue_id: object, code: str) -> None:
        """Counts a refusal for ``stats()`` in a new autocommit statement: the
        refused statement rolled back and took nothing with it. The refusal is
        the caller's answer, so a failed report is logged, never raised."""
        if not isinstance(venue_id, int):
            return
        try:
            with self.pool.connection() as conn:
                conn.execute("SELECT bookingdb.record_refusal(%s, %s)", (venue_id, code))
        except Exception:
            log.warning("could not report refusal %s of venue %s", code, venue_id, exc_info=True)

    def _booking(
        self,
        query: str,
        params: Sequence[Any],
        *,
        retry_safe: bool,
        request: tuple[int, Sequence[int], datetime, datetime, int],
    ) -> Booking:
        """Runs a call that takes a slot; on BK001 attaches the nearest free
        slots to the refusal (when ``alternatives_on_refusal``)."""
        try:
            return self._one(query, params, _BOOKING, retry_safe=retry_safe)
        except SlotUnavailable as refusal:
            if self.alternatives_on_refusal:
                venue_id, resource_ids, starts_at, ends_at, party_size = request
                try:
                    refusal.alternatives = tuple(
                        self.suggest_alternatives(
                            venue_id, resource_ids, starts_at, ends_at, party_size=party_size
                        )
                    )
                except (psycopg.Error, BookingError) as failure:
                    # The refusal is the answer; say why it has no alternatives.
                    refusal.add_note(f"alternatives could not be fetched: {failure}")
            raise

    def _one(
        self,
        query: str,
        params: Sequence[Any],
        row_factory: BaseRowFactory[T],
        *,
        retry_safe: bool = False,
        venue_scoped: bool = True,
    ) -> T:
        return self._run(
            query, params, row_factory, retry_safe=retry_safe, venue_scoped=venue_scoped
        )[0]

    # -- venues and resources --------------------------------------------------------

    def create_venue(self, name: str, timezone: str = "UTC") -> int:
        return int(
            self._one(
                "SELECT bookingdb.create_venue(%s, %s)",
                (name, timezone),
                scalar_row,
                venue_scoped=False,
            )
        )

    def add_resource(
        self,
        venue_id: int,
        name: str,
        capacity: int = 1,
        seats_min: int = 1,
        seats_max: int | None = None,
        kind: str = "table",
    ) -> int:
        return int(
            self._one(
                "SELECT bookingdb.add_resource(%s, %s, %s, %s, %s, %s)",
                (
                    venue_id,
                    name,
                    _int32("capacity", capacity),
                    _int32("seats_min", seats_min),
                    _int32("seats_max", seats_max),
                    kind,
                ),
                scalar_row,
            )
        )

    def list_resources(self, venue_id: int) -> list[Resource]:
        return self._run(
            "SELECT * FROM bookingdb.list_resources(%s)",
            (venue_id,),
            kwargs_row(Resource.from_row),
            retry_safe=True,
        )

    # -- holds -------------------------------------------------------------------------

    def create_hold(
        self,
        venue_id: int,
        resource_ids: Sequence[int],
        starts_at: datetime,
        ends_at: datetime,
        *,
        party_size: int = 1,
        quantity: int = 1,
        idempotency_key: str | None = None,
        ttl: timedelta | None = None,
    ) -> Booking:
        return self._booking(
            "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                venue_id,
                list(resource_ids),
                _aware("starts_at", starts_at),
                _aware("ends_at", ends_at),
                _int32("party_size", party_size),
                _int32("quantity", quantity),
                idempotency_key,
                ttl,
            ),
            retry_safe=idempotency_key is not None,
            request=(venue_id, resource_ids, starts_at, ends_at, party_size),
        )

    def confirm_hold(
        self,
        venue_id: int,
        booking_id: int,
        *,
        customer: CustomerLike | None = None,
        payment_ref: str | None = None,
    ) -> Booking:
        # Confirming an already confirmed booking with the same details returns
        # it unchanged, so a retry after a lost connection is safe.
        return self._one(
            "SELECT * FROM bookingdb.confirm_hold(%s, %s, %s::jsonb, %s)",
            (venue_id, booking_id, customer_json(customer), payment_ref),
            _BOOKING,
            retry_safe=True,
        )

    def extend_hold(self, venue_id: int, booking_id: int, extra: timedelta) -> Booking:
        return self._one(
            "SELECT * FROM bookingdb.extend_hold(%s, %s, %s)",
            (venue_id, booking_id, extra),
            _BOOKING,
        )

    def release_hold(self, venue_id: int, booking_id: int) -> Booking:
        return self._one(
            "SELECT * FROM bookingdb.release_hold(%s, %s)", (venue_id, booking_id), _BOOKING
        )

    def expire_holds(self, max_rows: int = 1000) -> int:
        return int(
            self._one(
                "SELECT bookingdb.expire_holds(%s)",
                (_int32("max_rows", max_rows),),
                scalar_row,
                retry_safe=True,
                venue_scoped=False,
            )
        )

    # -- bookings ----------------------------------------------------------------------

    def create_booking_atomic(
        self,
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
    ) -> Booking:
        """Books in one step; ``status="pending"`` records a request the venue
        approves (:meth:`approve_booking`) or rejects later."""
        return self._booking(
            "SELECT * FROM bookingdb.create_booking_atomic("
            "%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
            (
                venue_id,
                list(resource_ids),
                _aware("starts_at", starts_at),
                _aware("ends_at", ends_at),
                _int32("party_size", party_size),
                customer_json(customer),
                _int32("quantity", quantity),
                idempotency_key,
                status,
            ),
            retry_safe=idempotency_key is not None,
            request=(venue_id, resource_ids, starts_at, ends_at, party_size),
        )

    create_booking = create_booking_atomic

    def cancel_booking(
        self,
        venue_id: int,
        booking_id: int,
        *,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> Booking:
        return self._one(
            "SELECT * FROM bookingdb.cancel_booking(%s, %s, %s, %s)",
            (venue_id, booking_id, _int32("expected_version", expected_version), reason),
            _BOOKING,
        )

    def approve_booking(
        self, venue_id: int, booking_id: int, *, expected_version: int | None = None
    ) -> Booking:
        return self._one(
            "SELECT * FROM bookingdb.approve_booking(%s, %s, %s)",
            (venue_id, booking_id, _int32("expected_version", expected_version)),
            _BOOKING,
        )

    def reject_booking(
        self,
        venue_id: int,
        booking_id: int,
        *,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> Booking:
        return self._one(
            "SELECT * FROM bookingdb.reject_booking(%s, %s, %s, %s)",
            (venue_id, booking_id, _int32("expected_version", expected_version), reason),
            _BOOKING,
        )

    def create_series(
        self,
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
    ) -> list[Booking]:
        """Book ``occurrences`` slots at the same local wall-clock time every
        ``every`` (a timedelta, or interval text such as ``"1 month"``), all or
        nothing."""
        return self._run(
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
        self,
        venue_id: int,
        series_id: int,
        *,
        from_starts_at: datetime | None = None,
        reason: str | None = None,
    ) -> list[Booking]:
        """Cancel the occurrences starting at or after ``from_starts_at`` (default now)."""
        return self._run(
            "SELECT * FROM bookingdb.cancel_series(%s, %s, %s, %s)",
            (
                venue_id,
                series_id,
                None if from_starts_at is None else _aware("from_starts_at", from_starts_at),
                reason,
            ),
            _BOOKING,
            retry_safe=False,
        )

    def reschedule_booking(
        self,
        venue_id: int,
        booking_id: int,
        expected_version: int | None,
        starts_at: datetime,
        ends_at: datetime,
        resource_ids: Sequence[int] | None = None,
    ) -> Booking:
        return self._one(
            "SELECT * FROM bookingdb.reschedule_booking(%s, %s, %s, %s, %s, %s)",
            (
                venue_id,
                booking_id,
                _int32("expected_version", expected_version),
                _aware("starts_at", starts_at),
                _aware("ends_at", ends_at),
                None if resource_ids is None else list(resource_ids),
            ),
            _BOOKING,
        )

    def get_booking(self, venue_id: int, booking_id: int) -> Booking:
        return self._one(
            "SELECT * FROM bookingdb.get_booking(%s, %s)",
            (venue_id, booking_id),
            _BOOKING,
            retry_safe=True,
        )

    def list_bookings(
        self, venue_id: int, starts_at: datetime, ends_at: datetime
    ) -> list[BookingSlot]:
        return self._run(
            "SELECT * FROM bookingdb.list_bookings(%s, %s, %s)",
            (venue_id, _aware("starts_at", starts_at), _aware("ends_at", ends_at)),
            class_row(BookingSlot),
            retry_safe=True,
        )

    def check_availability(
        self,
        venue_id: int,
        resource_ids: Sequence[int],
        starts_at: datetime,
        ends_at: datetime,
        *,
        quantity: int = 1,
        exclude_booking_id: int | None = None,
    ) -> bool:
        return bool(
            self._one(
                "SELECT bookingdb.check_availability(%s, %s, %s, %s, %s, %s)",
                (
                    venue_id,
                    list(resource_ids),
                    _aware("starts_at", starts_at),
                    _aware("ends_at", ends_at),
                    _int32("quantity", quantity),
                    exclude_booking_id,
                ),
                scalar_row,
                retry_safe=True,
            )
        )

    def check_availability_many(self, venue_id: int, requests: Sequence[SlotRequest]) -> list[bool]:
        """One answer per request, in order, from one round trip."""
        for request in requests:
            _aware("starts_at", request.starts_at)
            _aware("ends_at", request.ends_at)
        answers = self._run(
            "SELECT idx, available FROM bookingdb.check_availability_many(%s, %s) ORDER BY idx",
            (venue_id, Jsonb([request.to_json() for request in requests])),
            kwargs_row(lambda idx, available: bool(available)),
            retry_safe=True,
        )
        return answers

    def availability(
        self,
        venue_id: int,
        window: Window,
        duration: timedelta,
        *,
        step: timedelta | None = None,
        resource_ids: Sequence[int] | None = None,
        party_size: int = 1,
        quantity: int = 1,
    ) -> list[Slot]:
        return self._run(
            "SELECT * FROM bookingdb.availability(%s, %s::tstzrange, %s, %s, %s, %s, %s)",
            (
                venue_id,
                _window(window),
                duration,
                step,
                None if resource_ids is None else list(resource_ids),
                _int32("party_size", party_size),
                _int32("quantity", quantity),
            ),
            class_row(Slot),
            retry_safe=True,
        )

    def free_time(self, venue_id: int, resource_id: int, window: Window) -> list[Window]:
        """The free intervals of one resource inside ``window``, in order."""
        free = self._one(
            "SELECT bookingdb.free_time(%s, %s, %s::tstzrange)",
            (venue_id, resource_id, _window(window)),
            scalar_row,
            retry_safe=True,
        )
        return [(part.lower, part.upper) for part in free]

    def suggest_alternatives(
        self,
        venue_id: int,
        resource_ids: Sequence[int],
        starts_at: datetime,
        ends_at: datetime,
        *,
        party_size: int = 1,
        max_results: int = 5,
    ) -> list[Alternative]:
        return self._run(
            "SELECT * FROM bookingdb.suggest_alternatives(%s, %s, %s, %s, %s, %s)",
            (
                venue_id,
                list(resource_ids),
                _aware("starts_at", starts_at),
                _aware("ends_at", ends_at),
                _int32("party_size", party_size),
                _int32("max_results", max_results),
            ),
            class_row(Alternative),
            retry_safe=True,
        )

    def table_combinations(
        self,
        venue_id: int,
        starts_at: datetime,
        ends_at: datetime,
        party_size: int,
        *,
        max_tables: int = 3,
    ) -> list[TableCombination]:
        return self._run(
            "SELECT * FROM bookingdb.table_combinations(%s, %s, %s, %s, %s)",
            (
                venue_id,
                _aware("starts_at", starts_at),
                _aware("ends_at", ends_at),
                _int32("party_size", party_size),
                _int32("max_tables", max_tables),
            ),
            kwargs_row(TableCombination.from_row),
            retry_safe=True,
        )

    def local_range(self, venue_id: int, day: date, starts: time, ends: time) -> Window:
        """The instants of a local date and times at the venue (its time zone)."""
        value: Range[datetime] = self._one(
            "SELECT bookingdb.local_range(%s, %s, %s, %s)",
            (venue_id, day, starts, ends),
            scalar_row,
            retry_safe=True,
        )
        assert value.lower is not None and value.upper is not None
        return (value.lower, value.upper)

    # -- events and tickets ------------------------------------------------------------

    def create_event(self, venue_id: int, name: str, starts_at: datetime, ends_at: datetime) -> int:
        """An event (a concert, a match) for [starts_at, ends_at); its inventory
        is put on sale with :meth:`add_event_inventory`."""
        return int(
            self._one(
                "SELECT bookingdb.create_event(%s, %s, %s, %s)",
                (venue_id, name, _aware("starts_at", starts_at), _aware("ends_at", ends_at)),
                scalar_row,
            )
        )

    def add_seat_block(
        self, venue_id: int, section: str, row_label: str, first_number: int, seat_count: int
    ) -> list[int]:
        """``seat_count`` adjacent numbered seats in one row; their resource ids
        in seat order. Rows added first count as the better rows."""
        ids: list[int] = self._one(
            "SELECT bookingdb.add_seat_block(venue_id => %s, section => %s, row_label => %s,"
            " first_number => %s, seat_count => %s)",
            (
                venue_id,
                section,
                row_label,
                _int32("first_number", first_number),
                _int32("seat_count", seat_count),
            ),
            scalar_row,
        )
        return list(ids)

    def add_event_inventory(
        self,
        venue_id: int,
        event_id: int,
        resource_ids: Sequence[int],
        category: str,
        price_cents: int,
    ) -> None:
        """Put seats or general-admission areas on sale in a price category
        (again: changes their category and price)."""
        self._run(
            "SELECT bookingdb.add_event_inventory(venue_id => %s, event_id => %s,"
            " resource_ids => %s, category => %s, price_cents => %s)",
            (venue_id, event_id, list(resource_ids), category, _int32("price_cents", price_cents)),
            _VOID,
            retry_safe=True,
        )

    def hold_event_tickets(
        self,
        venue_id: int,
        event_id: int,
        *,
        quantity: int | None = None,
        seat_ids: Sequence[int] | None = None,
        category: str | None = None,
        customer: CustomerLike | None = None,
        idempotency_key: str | None = None,
        ttl: timedelta | None = None,
    ) -> Booking:
        """Hold the named ``seat_ids``, or the best ``quantity`` adjacent seats of
        a category, or ``quantity`` general-admission places (ttl default 15
        minutes). With an ``idempotency_key`` a transient failure or
        :class:`~bookingdb.errors.Busy` (BK020) is retried with jittered
        backoff; without one it is raised."""
        return self._one(
            "SELECT * FROM bookingdb.hold_event_tickets(venue_id => %s, event_id => %s,"
            " quantity => %s, seat_ids => %s, category => %s, customer => %s::jsonb,"
            " idempotency_key => %s, ttl => %s)",
            (
                venue_id,
                event_id,
                _int32("quantity", quantity),
                None if seat_ids is None else list(seat_ids),
                category,
                customer_json(customer),
                idempotency_key,
                ttl,
            ),
            _BOOKING,
            retry_safe=idempotency_key is not None,
        )

    def event_availability(self, venue_id: int, event_id: int) -> list[EventInventoryItem]:
        """One row per resource on sale: places left (1 or 0 for a seat)."""
        return self._run(
            "SELECT * FROM bookingdb.event_availability(%s, %s)",
            (venue_id, event_id),
            class_row(EventInventoryItem),
            retry_safe=True,
        )

    def list_events(self, venue_id: int) -> list[Event]:
        return self._run(
            "SELECT * FROM bookingdb.list_events(%s)",
            (venue_id,),
            class_row(Event),
            retry_safe=True,
        )

    # -- waitlist ----------------------------------------------------------------------

    def join_waitlist(
        self,
        venue_id: int,
        resource_ids: Sequence[int],
        starts_at: datetime | None,
        ends_at: datetime | None,
        *,
        party_size: int = 1,
        customer: CustomerLike | None = None,
        priority: int = 0,
        event_id: int | None = None,
    ) -> int:
        """Wait for any one of ``resource_ids`` (with ``event_id``: tickets among
        them; the times may then be None, the event's). When capacity frees up
        the database offers the first matching entry a hold; returns the entry_id."""
        return int(
            self._one(
                "SELECT bookingdb.join_waitlist(venue_id => %s, resource_ids => %s,"
                " starts_at => %s, ends_at => %s, party_size => %s, customer => %s::jsonb,"
                " priority => %s, event_id => %s)",
                (
                    venue_id,
                    list(resource_ids),
                    None if starts_at is None else _aware("starts_at", starts_at),
                    None if ends_at is None else _aware("ends_at", ends_at),
                    _int32("party_size", party_size),
                    customer_json(customer),
                    _int32("priority", priority),
                    event_id,
                ),
                scalar_row,
            )
        )

    def leave_waitlist(self, venue_id: int, entry_id: int) -> WaitlistEntry:
        """Take an entry off the waitlist; an offered hold passes to the next in line."""
        return self._one(
            "SELECT * FROM bookingdb.leave_waitlist(%s, %s)", (venue_id, entry_id), _ENTRY
        )

    def waitlist(self, venue_id: int, *, include_closed: bool = False) -> list[WaitlistEntry]:
        """Offered entries, then waiting ones in serving order (``include_closed``:
        booked, lapsed and left ones too)."""
        return self._run(
            "SELECT * FROM bookingdb.waitlist(%s, %s)",
            (venue_id, include_closed),
            _ENTRY,
            retry_safe=True,
        )

    def process_waitlist(self, venue_id: int, max_entries: int = 100) -> int:
        """Offer what is free now to waiting entries in order; how many got an offer."""
        return int(
            self._one(
                "SELECT bookingdb.process_waitlist(%s, %s)",
                (venue_id, _int32("max_entries", max_entries)),
                scalar_row,
                retry_safe=True,
            )
        )

    # -- change feed -------------------------------------------------------------------

    def changes_since(
        self, venue_id: int, after_seq: int = 0, max_rows: int = 1000
    ) -> list[Change]:
        """The venue's changes after ``after_seq``, oldest first (``seq`` is gap-free
        and in commit order). Numbering rows on first read is idempotent, so a
        retry is safe."""
        return self._run(
            "SELECT * FROM bookingdb.changes_since(%s, %s, %s)",
            (venue_id, after_seq, _int32("max_rows", max_rows)),
            class_row(Change),
            retry_safe=True,
        )

    def prune_changes(self, venue_id: int, older_than: timedelta = timedelta(days=30)) -> int:
        """Delete feed rows older than ``older_than`` that have been readable; how many."""
        return int(
            self._one(
                "SELECT bookingdb.prune_changes(%s, %s)",
                (venue_id, older_than),
                scalar_row,
                retry_safe=True,
            )
        )

    def watch(
        self,
        venue_id: int,
        after_seq: int = 0,
        *,
        poll_interval: float = 1.0,
        idle_timeout: float | None = None,
        reconnect_timeout: float = 60.0,
    ) -> Generator[Change, None, None]:
        """Every change of the venue after ``after_seq``, each exactly once, in
        ``seq`` order, as they happen.

        Uses a connection of its own (not from the pool): it LISTENs on
        ``bookingdb_changes``, then catches up with ``changes_since`` until it
        is empty, then waits for a notification for this venue, or
        ``poll_interval`` seconds (a venue may turn NOTIFY off), and catches up
        again. If the connection drops, it reconnects with a short backoff and
        continues after the last ``seq`` it yielded; if the database cannot be
        reached again within ``reconnect_timeout`` seconds, the
        ``OperationalError`` is raised. Stops when no change has arrived for
        ``idle_timeout`` seconds (if given). Closing the generator closes the
        connection.
        """
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive (got {poll_interval})")
        if idle_timeout is not None and idle_timeout < 0:
            raise ValueError(f"idle_timeout must not be negative (got {idle_timeout})")
        if after_seq < 0:
            raise ValueError(f"after_seq must not be negative (got {after_seq})")
        return self._watch(venue_id, after_seq, poll_interval, idle_timeout, reconnect_timeout)

    def _watch(
        self,
        venue_id: int,
        last_seq: int,
        poll_interval: float,
        idle_timeout: float | None,
        reconnect_timeout: float,
    ) -> Generator[Change, None, None]:
        conn = self._listen()
        last_change = clock.monotonic()
        try:
            while True:
                try:
                    # LISTEN came first, so a change committed from here on
                    # either is in this catch-up or wakes the wait below.
                    while page := self._feed_page(conn, venue_id, last_seq):
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
                    _await_notify(conn, str(venue_id), wait)
                except psycopg.OperationalError:
                    if not (conn.broken or conn.closed):
                        raise
                    conn.close()
                    conn = self._relisten(reconnect_timeout)
        finally:
            conn.close()

    def _listen(self) -> psycopg.Connection[Any]:
        """A dedicated autocommit connection listening on bookingdb_changes."""
        target = self.dsn
        if "application_name" not in conninfo_to_dict(target):
            target = make_conninfo(target, application_name=WATCH)
        conn = psycopg.connect(target, autocommit=True)
        try:
            conn.execute("LISTEN bookingdb_changes")
        except BaseException:
            conn.close()
            raise
        return conn

    def _relisten(self, within: float) -> psycopg.Connection[Any]:
        deadline = clock.monotonic() + within
        attempt = 0
        while True:
            attempt += 1
            clock.sleep(random.uniform(0.5, 1.0) * min(2.0, 0.05 * 2**attempt))
            try:
                return self._listen()
            except psycopg.OperationalError:
                if clock.monotonic() >= deadline:
                    raise
                log.info("watch: reconnect attempt %s failed", attempt, exc_info=True)

    def _feed_page(self, conn: psycopg.Connection[Any], venue_id: int, after: int) -> list[Change]:
        try:
            with conn.cursor(row_factory=class_row(Change)) as cur:
                cur.execute(
                    "SELECT * FROM bookingdb.changes_since(%s, %s, %s)",
                    (venue_id, after, _FEED_PAGE),
                )
                return cur.fetchall()
        except psycopg.Error as err:
            refusal = translate(err)
            if refusal is not None:
                raise refusal from err
            raise

    def record_refusal(self, venue_id: int, code: str) -> None:
        """Count one refusal (a BK code) for ``stats()``; the client does this
        itself after every refusal when ``report_refusals`` is on."""
        self._run(
            "SELECT bookingdb.record_refusal(%s, %s)", (venue_id, code), _VOID, retry_safe=False
        )

    # -- operations: statistics and health ---------------------------------------------

    def stats(
        self, venue_id: int, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, Any]:
        """Operator statistics for [since, until) (default: 7 days either side of
        now): bookings_by_status, holds, refusals, utilisation, bookings_per_hour."""
        stats: dict[str, Any] = self._one(
            "SELECT bookingdb.stats(%s, %s, %s)",
            (
                venue_id,
                None if since is None else _aware("since", since),
                None if until is None else _aware("until", until),
            ),
            scalar_row,
            retry_safe=True,
        )
        return stats

    def health(
        self,
        *,
        max_unswept: timedelta | None = None,
        max_feed_lag: timedelta | None = None,
        max_lock_wait: timedelta | None = timedelta(seconds=30),
        check_invariants: bool = True,
    ) -> dict[str, Any]:
        """The database's health report; ``report["healthy"]`` is the verdict and
        ``report["problems"]`` says why not."""
        report: dict[str, Any] = self._one(
            "SELECT bookingdb.health(%s::interval, %s::interval, %s::interval, %s)",
            (max_unswept, max_feed_lag, max_lock_wait, check_invariants),
            scalar_row,
            retry_safe=True,
            venue_scoped=False,
        )
        return report

    # -- venue rules and settings ------------------------------------------------------

    def set_venue_rules(
        self, venue_id: int, rules: Mapping[str, str | int | bool | timedelta | None]
    ) -> None:
        """Set some rules (hold_ttl, min_notice, max_advance, buffer_before,
        buffer_after, slot_step as timedelta or interval text; min_party,
        max_party, min_age as int; notify as bool; None restores the default)."""
        payload = {key: _interval_text(value) for key, value in rules.items()}
        self._run(
            "SELECT bookingdb.set_venue_rules(%s, %s)",
            (venue_id, Jsonb(payload)),
            _VOID,
            retry_safe=True,
        )

    def get_venue_rules(self, venue_id: int) -> dict[str, Any]:
        rules: dict[str, Any] = self._one(
            "SELECT bookingdb.get_venue_rules(%s)", (venue_id,), scalar_row, retry_safe=True
        )
        return rules

    def set_opening_hours(self, venue_id: int, weekday: int, opens: time, closes: time) -> None:
        """Add an interval on ISO weekday 1-7; ``closes <= opens`` ends the next day."""
        self._run(
            "SELECT bookingdb.set_opening_hours(%s, %s, %s, %s)",
            (venue_id, _int32("weekday", weekday), opens, closes),
            _VOID,
            retry_safe=True,
        )

    def clear_opening_hours(self, venue_id: int, weekday: int | None = None) -> None:
        self._run(
            "SELECT bookingdb.clear_opening_hours(%s, %s)",
            (venue_id, _int32("weekday", weekday)),
            _VOID,
            retry_safe=True,
        )

    def set_date_override(
        self, venue_id: int, day: date, opens: time | None = None, closes: time | None = None
    ) -> None:
        """Closed all day (no times), or add an interval for that date."""
        self._run(
            "SELECT bookingdb.set_date_override(%s, %s, %s, %s)",
            (venue_id, day, opens, closes),
            _VOID,
            retry_safe=True,
        )

    def clear_date_overrides(self, venue_id: int, day: date | None = None) -> None:
        self._run(
            "SELECT bookingdb.clear_date_overrides(%s, %s)", (venue_id, day), _VOID, retry_safe=True
        )

    def opening_hours(self, venue_id: int) -> list[OpeningHours]:
        return self._run(
            "SELECT * FROM bookingdb.opening_hours(%s)",
            (venue_id,),
            class_row(OpeningHours),
            retry_safe=True,
        )

    def set_resource_buffers(
        self, venue_id: int, resource_id: int, before: timedelta, after: timedelta
    ) -> None:
        self._run(
            "SELECT bookingdb.set_resource_buffers(%s, %s, %s, %s)",
            (venue_id, resource_id, before, after),
            _VOID,
            retry_safe=True,
        )

    def set_resource_pricing(
        self,
        venue_id: int,
        resource_id: int,
        deposit_cents: int,
        min_spend_cents: int,
        zone: str | None = None,
    ) -> None:
        self._run(
            "SELECT bookingdb.set_resource_pricing(%s, %s, %s, %s, %s)",
            (
                venue_id,
                resource_id,
                _int32("deposit_cents", deposit_cents),
                _int32("min_spend_cents", min_spend_cents),
                zone,
            ),
            _VOID,
            retry_safe=True,
        )

    def link_resources(self, venue_id: int, a: int, b: int) -> None:
        """Declare two tables combinable (pushed together for one party)."""
        self._run(
            "SELECT bookingdb.link_resources(%s, %s, %s)", (venue_id, a, b), _VOID, retry_safe=True
        )

    def unlink_resources(self, venue_id: int, a: int, b: int) -> None:
        self._run(
            "SELECT bookingdb.unlink_resources(%s, %s, %s)",
            (venue_id, a, b),
            _VOID,
            retry_safe=True,
        )

    def verify_invariants(self) -> list[InvariantViolation]:
        return self._run(
            "SELECT * FROM bookingdb.verify_invariants()",
            (),
            class_row(InvariantViolation),
            retry_safe=True,
            venue_scoped=False,
        )

    def migrate(self) -> dict[str, list[str]]:
        """Bring the database to this package's schema (see :mod:`bookingdb.migrate`)."""
        from bookingdb.migrate import migrate

        return migrate(self.dsn)
