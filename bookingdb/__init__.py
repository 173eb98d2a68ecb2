"""bookingdb: a booking engine that lives in PostgreSQL.

The rules (no double booking, no overselling, expiring holds, idempotent
retries, optimistic versions, audit, venue rules and opening hours) are
enforced by the database; this package is a thin typed wrapper around its
functions.
"""

from bookingdb.aio import AsyncBookingDB, AsyncBookingTransaction
from bookingdb.client import BookingDB, BookingTransaction
from bookingdb.errors import (
    BeyondMaxAdvance,
    BookingError,
    Busy,
    CapacityExceeded,
    CapacityInUse,
    HoldExpired,
    IdempotencyConflict,
    InPast,
    InvalidArgument,
    InvalidRule,
    InvalidTimeRange,
    InvalidTransition,
    NotFound,
    NoticeTooShort,
    OutsideOpeningHours,
    PartyDoesNotFit,
    PartySizeNotAllowed,
    QuantityNotAllowed,
    SlotUnavailable,
    TooManyHolds,
    UnderMinimumAge,
    ValidationError,
    VersionConflict,
)
from bookingdb.models import (
    Alternative,
    Booking,
    BookingSlot,
    Change,
    Customer,
    ErrorCode,
    Event,
    EventInventoryItem,
    InvariantViolation,
    OpeningHours,
    Resource,
    Slot,
    SlotRequest,
    TableCombination,
    WaitlistEntry,
)

__version__ = "0.1.0"

__all__ = [
    "Alternative",
    "AsyncBookingDB",
    "AsyncBookingTransaction",
    "BeyondMaxAdvance",
    "Booking",
    "BookingDB",
    "BookingError",
    "BookingSlot",
    "BookingTransaction",
    "Busy",
    "CapacityExceeded",
    "CapacityInUse",
    "Change",
    "Customer",
    "ErrorCode",
    "Event",
    "EventInventoryItem",
    "HoldExpired",
    "IdempotencyConflict",
    "InPast",
    "InvalidArgument",
    "InvalidRule",
    "InvalidTimeRange",
    "InvalidTransition",
    "InvariantViolation",
    "NotFound",
    "NoticeTooShort",
    "OpeningHours",
    "OutsideOpeningHours",
    "PartyDoesNotFit",
    "PartySizeNotAllowed",
    "QuantityNotAllowed",
    "Resource",
    "Slot",
    "SlotRequest",
    "SlotUnavailable",
    "TableCombination",
    "TooManyHolds",
    "UnderMinimumAge",
    "ValidationError",
    "VersionConflict",
    "WaitlistEntry",
]
