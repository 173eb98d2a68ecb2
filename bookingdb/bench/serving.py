"""S10's check of the waitlist's promise, from the database after the run.

The promise (``join_waitlist``): when a cancellation, a release or an expiry
frees a slot, the first matching waiting entry in serving order (higher
priority first, then first come) is offered a hold in the same transaction.

Every step of the load ran through ``bench.waitlist_step``, which recorded
its transaction id, its start (``now()``, so the ``created_at`` of the offers
it made and the ``at`` of its audit rows) and two snapshots: one just before
the call and one just after. With them the check knows, for each freed slot,
which entries were *certainly* waiting while the call ran: joined by a
transaction committed before the call's first snapshot, and not offered
anything by a transaction that committed before the call's offer was made.
An entry that joined while the call ran may or may not have been seen, so it
is never required to be served, but it may be.

Everything here is pure (no database), so the tests can build the histories
that must fail.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

# The steps that free a slot and must offer it (bench.waitlist_step kinds;
# "sweep" is expire_holds). A join also serves the line, but only its first
# entries by design, so what it frees on its way is not checked here.
FREEING_KINDS = frozenset({"cancel", "release", "sweep"})


@dataclass(frozen=True)
class Snapshot:
    """A ``pg_snapshot``: transactions below ``xmin`` have finished, those from
    ``xmax`` on had not started, and ``xip`` were in progress."""

    xmin: int
    xmax: int
    xip: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """``xmin:xmax:xip,...`` as ``pg_snapshot`` prints it."""
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def sees(self, xid: int) -> bool:
        """Whether a *committed* transaction ``xid`` is visible in this snapshot."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.xip)


@dataclass(frozen=True)
class Call:
    """One recorded step: its transaction and what it could see."""

    kind: str
    xid: int
    started: datetime
    before: Snapshot
    after: Snapshot


def alongside(a: Call, b: Call) -> bool:
    """Whether two steps may have overlapped: neither had committed when the
    other took its first snapshot."""
    return a.xid != b.xid and not a.before.sees(b.xid) and not b.before.sees(a.xid)


@dataclass(frozen=True)
class Entry:
    """A waitlist entry for one resource, and the steps that joined it (None:
    before the load) and offered it a hold (None: never)."""

    entry_id: int
    resource_id: int
    priority: int
    created_at: datetime
    joined: Call | None = None
    offered: Call | None = None
    offered_resource: int | None = None

    @property
    def order(self) -> tuple[int, datetime, int]:
        """Serving order: higher priority first, then first come (the entry id
        breaks ties of one transaction's start), as join_waitlist promises."""
        return (-self.priority, self.created_at, self.entry_id)

    def waiting_throughout(self, call: Call) -> bool:
        """Certainly waiting while ``call`` ran: joined by a transaction that had
        committed before the call began, and not offered by ``call`` or by a
        transaction that the call could have seen or that ran alongside it
        (which held the entry while offering)."""
        joined = self.joined is None or call.before.sees(self.joined.xid)
        offered = self.offered
        not_yet = offered is None or (offered.xid != call.xid and offered.before.sees(call.xid))
        return joined and not_yet

    def visible_to(self, call: Call) -> bool:
        """Possibly seen by ``call``: joined by a transaction that had committed
        by the call's second snapshot."""
        return self.joined is None or call.after.sees(self.joined.xid)


@dataclass(frozen=True)
class Freed:
    """``call`` freed ``resource_id`` (a cancellation, a release or an expiry)."""

    call: Call
    resource_id: int


@dataclass
class ServingReport:
    """What the freed slots got. Each list holds one line per failure."""

    freed: int = 0
    with_waiting: int = 0
    offered: int = 0
    missed: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    twice: list[str] = field(default_factory=list)
    # Missed or out-of-order slots whose step overlapped a join_waitlist: a
    # join serves the line itself, locking each of the venue's first entries
    # while it tries to book for it.
    beside_join: int = 0


def check_serving(
    freed: Iterable[Freed], entries: Sequence[Entry], calls: Sequence[Call] = ()
) -> ServingReport:
    """For every slot a cancellation, release or expiry freed: when an entry for
    it was certainly waiting, exactly one offer on it in the same transaction,
    to an entry the call could see and that no certainly-waiting entry comes
    before in serving order. ``calls`` (every recorded step) only serve to
    count the failures that overlapped a join."""
    joins = [c for c in calls if c.kind == "join"]
    by_resource: dict[int, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_resource[entry.resource_id].append(entry)
    report = ServingReport()
    for slot in freed:
        if slot.call.kind not in FREEING_KINDS:
            continue
        report.freed += 1
        call, line = slot.call, by_resource[slot.resource_id]
        waiting = sorted((e for e in line if e.waiting_throughout(call)), key=lambda e: e.order)
        offers = [
            e
            for e in line
            if e.offered is not None
            and e.offered.xid == call.xid
            and e.offered_resource == slot.resource_id
        ]
        where = f"{call.kind} (xid {call.xid}) freed resource {slot.resource_id}"
        if waiting:
            report.with_waiting += 1
        if offers:
            report.offered += 1
        if len(offers) > 1:
            report.twice.append(f"{where}: offered to entries {[e.entry_id for e in offers]}")
        failures = len(report.missed) + len(report.out_of_order)
        if waiting and not offers:
            report.missed.append(
                f"{where}: no offer; entry {waiting[0].entry_id} (priority "
                f"{waiting[0].priority}) was waiting"
            )
        for offer in offers:
            if not offer.visible_to(call):
                report.out_of_order.append(
                    f"{where}: offered to entry {offer.entry_id}, which had not joined yet"
                )
            elif waiting and waiting[0].order < offer.order:
                first = waiting[0]
                report.out_of_order.append(
                    f"{where}: offered to entry {offer.entry_id} (priority {offer.priority})"
                    f" while entry {first.entry_id} (priority {first.priority}) came first"
                )
        if len(report.missed) + len(report.out_of_order) > failures and any(
            alongside(call, join) for join in joins
        ):
            report.beside_join += 1
    return report
