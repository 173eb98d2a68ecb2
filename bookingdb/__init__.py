"""bookingdb: a booking engine that lives in PostgreSQL.

The rules (no double booking, no overselling, expiring holds, idempotent
retries, optimistic versions, audit) are enforced by the database; this
package is a thin typed wrapper around its functions.
"""

from bookingdb.client import BookingDB
from bookingdb.errors import (
    BookingError,
    CapacityExceeded,
    HoldExpired,
    IdempotencyConflict,
    InPast,
    InvalidArgument,
    InvalidTimeRange,
    InvalidTransition,
    NotFound,
    PartySizeNotAllowed,
    QuantityNotAllowed,
    SlotUnavailable,
    ValidationError,
    VersionConflict,
)
from bookingdb.models import Booking, BookingSlot, Customer, InvariantViolation

__version__ = "0.1.0"

__all__ = [
    "Booking",
    "BookingDB",
    "BookingError",
    "BookingSlot",
    "CapacityExceeded",
    "Customer",
    "HoldExpired",
    "IdempotencyConflict",
    "InPast",
    "InvalidArgument",
    "InvalidTimeRange",
    "InvalidTransition",
    "InvariantViolation",
    "NotFound",
    "PartySizeNotAllowed",
    "QuantityNotAllowed",
    "SlotUnavailable",
    "ValidationError",
    "VersionConflict",
]
