"""The Python API: one method per public SQL function.

The class holds no business rules; every check happens in the database.
Each call is one round trip on an autocommit connection from a psycopg pool
(no session state, so it works behind PgBouncer transaction pooling).
"""

from __future__ import annotations

import random
import time as clock
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from types import TracebackType
from typing import Any, TypeVar

import psycopg
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
    CustomerLike,
    InvariantViolation,
    OpeningHours,
    Resource,
    Slot,
    SlotRequest,
    TableCombination,
    customer_json,
)

T = TypeVar("T")

# Failures after which running the same call again is harmless *if* the call
# is idempotent: the connection dropped (did it commit? the key answers),
# or PostgreSQL rolled the transaction back for us.
_TRANSIENT = (
    psycopg.OperationalError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)

_BOOKING = kwargs_row(Booking.from_row)
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


def _window(value: Window) -> Range[datetime]:
    starts_at, ends_at = value
    return Range(_aware("window start", starts_at), _aware("window end", ends_at), "[)")


def _interval_text(value: str | int | timedelta | None) -> str | int | None:
    # Rules travel as JSON: intervals as text PostgreSQL reads, whatever the
    # session's IntervalStyle.
    if isinstance(value, timedelta):
        return f"{value.total_seconds():f} seconds"
    return value


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
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.max_retries = max_retries
        self.alternatives_on_refusal = alternatives_on_refusal

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
    ) -> BookingDB:
        """Open a pool and wait until it has ``min_size`` connections.

        ``prepare_threshold=None`` disables server-side prepared statements (for
        PgBouncer before 1.21 in transaction pooling mode). If the server cannot
        be reached within ``timeout`` seconds, the connection error itself is
        raised (not a bare pool timeout). With ``alternatives_on_refusal``, a
        BK001 refusal of create_hold/create_booking_atomic carries the nearest
        free slots in ``SlotUnavailable.alternatives`` (one more round trip,
        only on that refusal)."""
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
            pool, dsn=dsn, max_retries=max_retries, alternatives_on_refusal=alternatives_on_refusal
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
        self, query: str, params: Sequence[Any], row_factory: BaseRowFactory[T], *, retry_safe: bool
    ) -> list[T]:
        attempt = 0
        while True:
            try:
                with self.pool.connection() as conn, conn.cursor(row_factory=row_factory) as cur:
                    cur.execute(query, params)
                    return cur.fetchall()
            except psycopg.Error as err:
                refusal = translate(err)
                if refusal is not None:
                    raise refusal from err
                attempt += 1
                if not (retry_safe and isinstance(err, _TRANSIENT) and attempt <= self.max_retries):
                    raise
                # Jittered backoff so retrying clients do not stampede together.
                clock.sleep(random.uniform(0, 0.05 * 2**attempt))

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
    ) -> T:
        return self._run(query, params, row_factory, retry_safe=retry_safe)[0]

    # -- venues and resources --------------------------------------------------------

    def create_venue(self, name: str, timezone: str = "UTC") -> int:
        return int(self._one("SELECT bookingdb.create_venue(%s, %s)", (name, timezone), scalar_row))

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

    # -- venue rules and settings ------------------------------------------------------

    def set_venue_rules(
        self, venue_id: int, rules: Mapping[str, str | int | timedelta | None]
    ) -> None:
        """Set some rules (hold_ttl, min_notice, max_advance, buffer_before,
        buffer_after, slot_step as timedelta or interval text; min_party,
        max_party, min_age as int; None restores the default)."""
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
        )

    def migrate(self) -> dict[str, list[str]]:
        """Bring the database to this package's schema (see :mod:`bookingdb.migrate`)."""
        from bookingdb.migrate import migrate

        return migrate(self.dsn)
