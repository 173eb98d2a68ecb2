"""The Python API: one method per public SQL function.

The class holds no business rules; every check happens in the database.
Each call is one round trip on an autocommit connection from a psycopg pool
(no session state, so it works behind PgBouncer transaction pooling).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg.rows import BaseRowFactory, class_row, kwargs_row, scalar_row
from psycopg_pool import ConnectionPool, PoolTimeout

from bookingdb.config import resolve_dsn
from bookingdb.errors import translate
from bookingdb.models import Booking, BookingSlot, CustomerLike, InvariantViolation, customer_json

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


class BookingDB:
    """A pool of connections to a bookingdb database.

    >>> db = BookingDB.connect()          # BOOKINGDB_DSN / DATABASE_URL, else embedded
    >>> hold = db.create_hold(venue, [table], start, end, party_size=4, idempotency_key="k1")
    >>> booking = db.confirm_hold(venue, hold.id, customer=Customer(name="Ada"))
    """

    def __init__(self, pool: ConnectionPool, *, dsn: str, max_retries: int = 3) -> None:
        self.pool = pool
        self.dsn = dsn
        self.max_retries = max_retries

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
    ) -> BookingDB:
        """Open a pool and wait until it has ``min_size`` connections.

        ``prepare_threshold=None`` disables server-side prepared statements (for
        PgBouncer before 1.21 in transaction pooling mode). If the server cannot
        be reached within ``timeout`` seconds, the connection error itself is
        raised (not a bare pool timeout)."""
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
        return cls(pool, dsn=dsn, max_retries=max_retries)

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
                time.sleep(random.uniform(0, 0.05 * 2**attempt))

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
        return self._one(
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
            _BOOKING,
            retry_safe=idempotency_key is not None,
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
    ) -> Booking:
        return self._one(
            "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
            (
                venue_id,
                list(resource_ids),
                _aware("starts_at", starts_at),
                _aware("ends_at", ends_at),
                _int32("party_size", party_size),
                customer_json(customer),
                _int32("quantity", quantity),
                idempotency_key,
            ),
            _BOOKING,
            retry_safe=idempotency_key is not None,
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
