"""Refusals from the database, one exception class per SQLSTATE.

Every refusal a bookingdb function raises has a code of class ``BK``
(``bookingdb.error_codes()`` in SQL lists them). :func:`translate` is the one
place that turns a psycopg error into the matching class here; callers catch
:class:`BookingError` or one of its subclasses and read ``sqlstate``,
``detail`` and ``hint``.
"""

from __future__ import annotations

import psycopg

from bookingdb.models import Alternative


class BookingError(Exception):
    """Base of every refusal. ``sqlstate`` is the BK code, ``detail`` the facts."""

    sqlstate: str = ""
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if sqlstate is not None:
            self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.sqlstate}: {self.message}" if self.sqlstate else self.message
        if self.detail:
            text += f" ({self.detail})"
        return text


class SlotUnavailable(BookingError):
    """BK001: an exclusive resource is already taken for (part of) that time.
    Offer the customer another time or resource: ``alternatives`` holds the
    nearest free slots (``suggest_alternatives``) when the client fetched them."""

    sqlstate = "BK001"
    alternatives: tuple[Alternative, ...] = ()


class CapacityExceeded(BookingError):
    """BK002: a shared resource has fewer free units than requested at some
    instant of that time. Offer fewer places or another time."""

    sqlstate = "BK002"


class HoldExpired(BookingError):
    """BK003: the hold expired or was released. Create a new hold."""

    sqlstate = "BK003"


class VersionConflict(BookingError):
    """BK004: the booking changed since you read it (``detail`` has the current
    version). Re-read it and decide again."""

    sqlstate = "BK004"


class IdempotencyConflict(BookingError):
    """BK005: the idempotency key was already used for a different request.
    Use a fresh key for a new request."""

    sqlstate = "BK005"


class InvalidTransition(BookingError):
    """BK006: the booking's status does not allow this change (e.g. cancelling a
    hold: release it instead)."""

    sqlstate = "BK006"


class NotFound(BookingError):
    """BK007: no such venue, resource or booking in this venue."""

    sqlstate = "BK007"


class ValidationError(BookingError):
    """Base of the refusals caused by the request itself; fix the input."""


class InvalidArgument(ValidationError):
    """BK008: an argument is missing or malformed (empty resource list, unknown
    time zone, non-positive ttl, customer not a JSON object, ...)."""

    sqlstate = "BK008"


class NoticeTooShort(ValidationError):
    """BK009: the booking would start sooner than the venue's minimum notice."""

    sqlstate = "BK009"


class InvalidRule(ValidationError):
    """BK010: a venue rule, opening-hours interval or resource setting is unknown
    or has a bad value."""

    sqlstate = "BK010"


class InvalidTimeRange(ValidationError):
    """BK011: start or end missing or infinite, or the end is not after the start."""

    sqlstate = "BK011"


class InPast(ValidationError):
    """BK012: the booking would start in the past."""

    sqlstate = "BK012"


class BeyondMaxAdvance(ValidationError):
    """BK013: the booking would start later than the venue's maximum advance."""

    sqlstate = "BK013"


class PartySizeNotAllowed(ValidationError):
    """BK014: the party size is outside the venue's limits (min_party/max_party)."""

    sqlstate = "BK014"


class OutsideOpeningHours(ValidationError):
    """BK015: the booking does not lie within the venue's opening hours."""

    sqlstate = "BK015"


class UnderMinimumAge(ValidationError):
    """BK016: the customer's date_of_birth makes them younger than the venue's
    min_age on the day of the booking."""

    sqlstate = "BK016"


class QuantityNotAllowed(ValidationError):
    """BK017: quantity below 1 or above a resource's capacity."""

    sqlstate = "BK017"


class PartyDoesNotFit(ValidationError):
    """BK018: the resources do not fit the party (below the largest seats_min or
    above the total seats_max). ``table_combinations`` finds tables that do."""

    sqlstate = "BK018"


class Busy(BookingError):
    """BK020: a lock wait inside the function passed its own ``lock_timeout``
    (heavy contention, e.g. an on-sale rush); nothing was written. A
    read-only function's lock timeout (55P03) is raised as Busy too. Retry after
    a short, jittered pause with the same idempotency key. The client does so
    itself for ``hold_event_tickets`` when an idempotency key is given."""

    sqlstate = "BK020"
    retryable = True


class TooManyHolds(BookingError):
    """BK021: the customer (the ``holder`` key passed with the hold, else the
    customer's e-mail) already has the venue's ``max_active_holds_per_customer``
    live holds. Confirm or release one first; retrying will not help."""

    sqlstate = "BK021"


class CapacityInUse(BookingError):
    """BK022: ``set_sellable_capacity`` would go below what current and future
    bookings already use; the DETAIL lists them. Move or cancel them first, or
    choose a higher value."""

    sqlstate = "BK022"


class OverlapsUnresolved(BookingError):
    """BK023: the allocation indexes are not rebuilt while active bookings
    overlap on an exclusive resource (``hidden_overlaps``; the DETAIL names
    them). Cancel, move or release one booking of each pair (a lapsed hold:
    ``expire_holds``), then repair again."""

    sqlstate = "BK023"


ERRORS: dict[str, type[BookingError]] = {
    cls.sqlstate: cls
    for cls in (
        SlotUnavailable,
        CapacityExceeded,
        HoldExpired,
        VersionConflict,
        IdempotencyConflict,
        InvalidTransition,
        NotFound,
        InvalidArgument,
        NoticeTooShort,
        InvalidRule,
        InvalidTimeRange,
        InPast,
        BeyondMaxAdvance,
        PartySizeNotAllowed,
        OutsideOpeningHours,
        UnderMinimumAge,
        QuantityNotAllowed,
        PartyDoesNotFit,
        Busy,
        TooManyHolds,
        CapacityInUse,
        OverlapsUnresolved,
    )
}
# PostgreSQL's own codes that mean a BK condition: a read-only function's
# lock_timeout (it can only meet DDL's ACCESS EXCLUSIVE lock, e.g. during a
# migration) surfaces as lock_not_available, retryable like BK020.
POSTGRES_CODES: dict[str, type[BookingError]] = {"55P03": Busy}


def translate(error: psycopg.Error) -> BookingError | None:
    """The :class:`BookingError` for a database error of class BK, else None."""
    diag = error.diag
    code = diag.sqlstate or ""
    cls = ERRORS.get(code) or POSTGRES_CODES.get(code)
    if cls is None:
        if not code.startswith("BK"):
            return None
        cls = BookingError
    return cls(
        diag.message_primary or str(error),
        sqlstate=code,
        detail=diag.message_detail,
        hint=diag.message_hint,
    )
