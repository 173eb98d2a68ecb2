"""Slots the load asks for, and the independent check of what clients were told.

A booking counts as acknowledged when the client saw it succeed: a pgbench
transaction the per-transaction log records as completed, a row the
``bench.book`` wrapper recorded in the transaction that committed the
booking, or a :class:`~bookingdb.Booking` returned to a Python thread. The
checks here use only those acknowledgements and the capacities the scenario
asked for, never the booking tables, so they catch what a database that
trusted its own constraints would miss.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

HOUR = 3600
HOURS_PER_YEAR = 8760
# Knuth's multiplicative hash constant, a prime: i -> i * M mod N is a
# bijection whenever N has no factor M, so distinct i give distinct slots
# spread pseudo-randomly over all resources and hours.
MULTIPLIER = 2_654_435_761


@dataclass(frozen=True)
class Ack:
    """One acknowledged booking: its resources, time (epoch seconds) and units."""

    resource_ids: tuple[int, ...]
    starts_at: float
    ends_at: float
    quantity: int = 1
    booking_id: int | None = None


@dataclass(frozen=True)
class SlotPlan:
    """Collision-free random one-hour slots on ``resources`` consecutive
    resource ids over ``hours`` hours from ``t0``: slot ``i`` is a pure
    function of ``i``, the same in Python and in a pgbench script, so the slot
    a logged pgbench transaction booked can be recomputed from its log line."""

    venue_id: int
    first_resource: int
    resources: int
    t0: int
    hours: int = HOURS_PER_YEAR

    def __post_init__(self) -> None:
        if math.gcd(MULTIPLIER, self.slots) != 1:
            raise ValueError(f"{self.slots} slots share a factor with the multiplier")

    @property
    def slots(self) -> int:
        return self.resources * self.hours

    def slot(self, i: int) -> tuple[int, int]:
        """(resource_id, start epoch) of slot number ``i``."""
        s = (i * MULTIPLIER) % self.slots
        return self.first_resource + s % self.resources, self.t0 + (s // self.resources) * HOUR

    def ack(self, i: int) -> Ack:
        resource_id, start = self.slot(i)
        return Ack((resource_id,), float(start), float(start + HOUR))

    def pgbench_variables(self) -> dict[str, int]:
        return {
            "venue": self.venue_id,
            "rbase": self.first_resource,
            "nres": self.resources,
            "slots": self.slots,
            "mul": MULTIPLIER,
            "t0": self.t0,
        }


# The pgbench lines that pick slot i = off + client_id + nc * n for the n-th
# transaction (from 0) of each client, matching SlotPlan.slot; the script must
# end with SLOT_NEXT. Variables: off, nc, n (defined with -D), plus
# SlotPlan.pgbench_variables(). Sets :r (resource id) and :st (start epoch).
SLOT_PICK = """\\set i :off + :client_id + :nc * :n
\\set s (:i * :mul) % :slots
\\set r :rbase + :s % :nres
\\set st :t0 + (:s / :nres) * 3600
"""
SLOT_NEXT = "\\set n :n + 1\n"


def slot_index(offset: int, clients: int, client: int, transaction_no: int) -> int:
    """The ``i`` SLOT_PICK used for a pgbench log line (transaction_no counts from 1)."""
    return offset + client + clients * (transaction_no - 1)


def double_bookings(acks: Iterable[Ack], capacity: Mapping[int, int] | None = None) -> int:
    """Acknowledged bookings that overlap an earlier-starting acknowledged
    booking on the same exclusive resource. Resources missing from
    ``capacity`` (or all, when it is None) count as exclusive."""
    ranges: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for ack in acks:
        for resource_id in ack.resource_ids:
            if capacity is None or capacity.get(resource_id, 1) == 1:
                ranges[resource_id].append((ack.starts_at, ack.ends_at))
    doubles = 0
    for spans in ranges.values():
        spans.sort()
        reach = -math.inf
        for start, end in spans:
            if start < reach:
                doubles += 1
            reach = max(reach, end)
    return doubles


def peak_units(acks: Iterable[Ack]) -> dict[int, int]:
    """Per resource, the most acknowledged units in use at any instant.
    Ranges are [start, end): at the same instant ends come before starts."""
    events: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for ack in acks:
        for resource_id in ack.resource_ids:
            events[resource_id].append((ack.starts_at, ack.quantity))
            events[resource_id].append((ack.ends_at, -ack.quantity))
    peaks: dict[int, int] = {}
    for resource_id, points in events.items():
        points.sort()
        running = peak = 0
        for _, delta in points:
            running += delta
            peak = max(peak, running)
        peaks[resource_id] = peak
    return peaks


def oversold(acks: Iterable[Ack], capacity: Mapping[int, int]) -> int:
    """Units acknowledged beyond capacity, summed over the resources in ``capacity``."""
    peaks = peak_units(acks)
    return sum(max(0, peaks.get(resource_id, 0) - cap) for resource_id, cap in capacity.items())


def tickets(ack: Ack) -> int:
    """Tickets in one acknowledged ticket hold: its seats, or its places on one area."""
    return len(ack.resource_ids) * ack.quantity


def unmatched(acks: Iterable[Ack], stored: Iterable[Ack]) -> tuple[int, int]:
    """(tickets acknowledged but not stored as acknowledged, tickets stored but
    never acknowledged), matching holds by booking id, resources and quantity."""

    def key(ack: Ack) -> tuple[int | None, tuple[int, ...], int]:
        return ack.booking_id, tuple(sorted(ack.resource_ids)), ack.quantity

    told = Counter(key(ack) for ack in acks)
    kept = Counter(key(ack) for ack in stored)
    return (
        sum(len(ids) * quantity * n for (_, ids, quantity), n in (told - kept).items()),
        sum(len(ids) * quantity * n for (_, ids, quantity), n in (kept - told).items()),
    )
