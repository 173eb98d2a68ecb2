"""Typed, frozen results of the bookingdb functions (one class per result shape)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any


@dataclass(frozen=True)
class Customer:
    """Who a booking is for. Stored as a JSON object with these keys."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    date_of_birth: date | None = None
    notes: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {key: value for key, value in asdict(self).items() if value is not None}
        if self.date_of_birth is not None:
            data["date_of_birth"] = self.date_of_birth.isoformat()
        return data


CustomerLike = Customer | Mapping[str, Any]


def customer_json(customer: CustomerLike | None) -> str | None:
    """The JSON text sent to the database for a customer argument."""
    if customer is None:
        return None
    data = customer.to_json() if isinstance(customer, Customer) else dict(customer)
    return json.dumps(data)


@dataclass(frozen=True)
class Booking:
    """A booking as the database reports it. ``status`` is effective: a hold
    whose ``expires_at`` has passed reads ``expired``. A ticket hold names its
    ``event_id`` and carries ``total_cents`` (the sum of its prices); a hold
    offered to a waitlist entry names ``waitlist_entry_id``. ``cancel_token``
    is set only in the result of the call that confirmed the booking
    (``create_booking_atomic``, ``confirm_hold``): the customer's secret for
    ``cancel_by_token``, handed out once (the database keeps only its hash).
    It is not part of the booking's state: it is left out of ``repr`` (a
    secret in logs) and of ``==`` (a booking read back equals the one the
    confirming call returned)."""

    id: int
    venue_id: int
    reference: str
    status: str
    starts_at: datetime
    ends_at: datetime
    party_size: int
    quantity: int
    resource_ids: tuple[int, ...]
    customer: dict[str, Any] | None
    payment_ref: str | None
    expires_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    cancel_reason: str | None
    total_deposit_cents: int = 0
    series_id: int | None = None
    event_id: int | None = None
    total_cents: int | None = None
    waitlist_entry_id: int | None = None
    cancel_token: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_row(cls, **row: Any) -> Booking:
        row["resource_ids"] = tuple(row["resource_ids"] or ())
        return cls(**row)

    @property
    def occupying(self) -> bool:
        """True while the booking holds its slot (live hold, pending, confirmed)."""
        return self.status in ("held", "pending", "confirmed")


@dataclass(frozen=True)
class BookingSlot:
    """One row of ``list_bookings``: a booking's claim on one resource."""

    booking_id: int
    reference: str
    status: str
    resource_id: int
    starts_at: datetime
    ends_at: datetime
    quantity: int
    expires_at: datetime | None
    version: int


@dataclass(frozen=True)
class Slot:
    """One row of ``availability``: a bookable slot and how many units remain."""

    resource_id: int
    starts_at: datetime
    ends_at: datetime
    remaining: int


@dataclass(frozen=True)
class Alternative:
    """One row of ``suggest_alternatives``; ``score`` is in (0, 1], higher is better."""

    resource_id: int
    starts_at: datetime
    ends_at: datetime
    score: float


@dataclass(frozen=True)
class TableCombination:
    """One row of ``table_combinations``: linked tables that seat a party together."""

    rank: int
    resource_ids: tuple[int, ...]
    total_seats: int
    wasted_seats: int
    total_min_spend_cents: int
    total_deposit_cents: int
    zone: str | None

    @classmethod
    def from_row(cls, **row: Any) -> TableCombination:
        row["resource_ids"] = tuple(row["resource_ids"])
        return cls(**row)


@dataclass(frozen=True)
class Venue:
    """One row of ``list_venues``: a venue the caller may reach."""

    venue_id: int
    name: str
    timezone: str
    resources: int
    created_at: datetime


@dataclass(frozen=True)
class Resource:
    """One row of ``list_resources``: a bookable resource and its settings."""

    resource_id: int
    name: str
    kind: str
    capacity: int
    seats_min: int
    seats_max: int | None
    buffer_before: timedelta
    buffer_after: timedelta
    deposit_cents: int
    min_spend_cents: int
    zone: str | None
    linked_to: tuple[int, ...]
    sellable_capacity: int | None = None

    @classmethod
    def from_row(cls, **row: Any) -> Resource:
        row["linked_to"] = tuple(row["linked_to"])
        return cls(**row)


@dataclass(frozen=True)
class OpeningHours:
    """One row of ``opening_hours``: a weekly interval (``weekday`` 1-7 set) or a
    date override (``day`` set; ``opens``/``closes`` None = closed all day)."""

    weekday: int | None
    day: date | None
    opens: time | None
    closes: time | None


@dataclass(frozen=True)
class Event:
    """One row of ``list_events``: a named time range whose inventory is on sale."""

    event_id: int
    name: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class EventInventoryItem:
    """One row of ``event_availability``: a resource on sale for an event and how
    many places it has left (1 or 0 for a seat)."""

    category: str
    resource_id: int
    remaining: int


@dataclass(frozen=True)
class WaitlistEntry:
    """One row of ``waitlist`` (and the result of ``leave_waitlist``). ``status``
    is effective (waiting, offered, booked, lapsed, left); ``booking_id`` is the
    hold offered to the entry, if any."""

    entry_id: int
    status: str
    resource_ids: tuple[int, ...]
    starts_at: datetime
    ends_at: datetime
    party_size: int
    customer: dict[str, Any] | None
    priority: int
    event_id: int | None
    booking_id: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, **row: Any) -> WaitlistEntry:
        row["resource_ids"] = tuple(row["resource_ids"])
        return cls(**row)


@dataclass(frozen=True)
class Change:
    """One row of the change feed (``changes_since``): a booking change on one
    resource. ``seq`` is per venue, gap-free and in commit order."""

    seq: int
    at: datetime
    booking_id: int
    resource_id: int
    starts_at: datetime
    ends_at: datetime
    old_status: str | None
    new_status: str
    action: str
    reference: str


@dataclass(frozen=True)
class SlotRequest:
    """One question for ``check_availability_many``."""

    resource_ids: Sequence[int]
    starts_at: datetime
    ends_at: datetime
    quantity: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_ids": list(self.resource_ids),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "quantity": self.quantity,
        }


@dataclass(frozen=True)
class ErrorCode:
    """One row of ``error_codes``: a refusal's SQLSTATE, its name, what it
    means, and whether retrying the same call can succeed."""

    code: str
    name: str
    meaning: str
    retryable: bool


@dataclass(frozen=True)
class InvariantViolation:
    """One row of ``verify_invariants``: which invariant (I1-I7) and the facts."""

    invariant: str
    detail: str


@dataclass(frozen=True)
class IndexCheck:
    """One row of ``check_allocation_indexes``: how many allocations an index
    should hold (``table_rows``, read from the table) and how many a scan of
    it finds (``index_rows``). ``missing`` above 0: the index has lost live
    entries (the PostgreSQL 16-18 GiST bug); the counts are None for an index
    the check has no probe for."""

    index_name: str
    method: str
    table_rows: int | None
    index_rows: int | None
    missing: int | None

    @property
    def damaged(self) -> bool:
        return bool(self.missing)


@dataclass(frozen=True)
class HiddenOverlap:
    """One row of ``hidden_overlaps``: two active bookings whose allocations
    on one exclusive resource overlap, which the exclusion constraint should
    have refused. ``booking_id`` is the earlier-made booking (lower id),
    ``other_booking_id`` the later one; ``overlap`` is the time they share
    (buffers included). Resolve it by cancelling, moving or releasing one."""

    venue_id: int
    resource_id: int
    resource_name: str
    booking_id: int
    reference: str
    status: str
    starts_at: datetime
    ends_at: datetime
    other_booking_id: int
    other_reference: str
    other_status: str
    other_starts_at: datetime
    other_ends_at: datetime
    overlap: tuple[datetime, datetime]

    @classmethod
    def from_row(cls, **row: Any) -> HiddenOverlap:
        overlap = row["overlap"]
        row["overlap"] = (overlap.lower, overlap.upper)
        return cls(**row)


@dataclass(frozen=True)
class IndexRepair:
    """One row of ``allocation_index_repairs``: the statement that rebuilds
    an index. ``concurrently`` is False for the exclusion constraint's index,
    which PostgreSQL can only rebuild with writes to the allocations blocked."""

    index_name: str
    statement: str
    concurrently: bool
    missing: int | None


@dataclass(frozen=True)
class DoctorReport:
    """What ``doctor()`` found: every allocation index checked, and the
    overlapping bookings a damaged index let in."""

    indexes: tuple[IndexCheck, ...]
    overlaps: tuple[HiddenOverlap, ...]

    @property
    def damaged(self) -> tuple[IndexCheck, ...]:
        """The indexes that lost entries."""
        return tuple(check for check in self.indexes if check.damaged)

    @property
    def healthy(self) -> bool:
        """No index lost entries and no overlap hides behind one."""
        return not self.damaged and not self.overlaps
