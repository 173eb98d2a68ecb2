"""The demo: a bar and a two-chair salon, then a storm of concurrent clients.

:func:`create_venues` makes a fresh bar (tables of different sizes) and a
salon (one service with capacity 2: two chairs). :func:`run_storm` then lines
up N threads, each with its own connection, on a barrier and lets them race
for the same few slots through the public functions: atomic bookings of
tables, of pushed-together tables and of the salon service, holds then
confirmations, idempotent replays of one request, and a party too large for
its table. Afterwards it checks the result twice: with the database's own
``verify_invariants()`` and independently, from what the clients were told.

Nothing here knows a booking rule; every decision is the database's. This
module only counts, and would notice if the database got one wrong.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from psycopg_pool import PoolTimeout

from bookingdb.client import BookingDB
from bookingdb.errors import BookingError
from bookingdb.models import Booking, Customer, InvariantViolation

BAR_ZONE = "Europe/London"
SALON_ZONE = "Europe/Paris"

#: Bar tables: name, seats_min, seats_max.
BAR_TABLES = (
    ("T1 window", 1, 2),
    ("T2 window", 1, 2),
    ("T3", 2, 4),
    ("T4", 2, 4),
    ("T5 booth", 3, 6),
    ("T6 long table", 4, 8),
)
SERVICE_CAPACITY = 2

#: Local start and end times (hour, minute) raced for each round; they overlap
#: on purpose, so refusals come from partial overlaps too, not only equal slots.
BAR_SLOTS = (((19, 0), (21, 0)), ((20, 0), (22, 0)), ((21, 0), (23, 0)))
SALON_SLOTS = (((10, 0), (11, 0)), ((10, 30), (11, 30)), ((11, 0), (12, 0)))

#: What the racers of one round do, for 32 threads; other counts keep the proportions.
ROLES = (
    ("table",) * 10
    + ("combo",) * 3
    + ("table hold",) * 6
    + ("salon",) * 6
    + ("salon hold",) * 2
    + ("replay",) * 4
    + ("oversized party",)
)

#: How the summary names each role.
ROLE_LABELS = {
    "table": "bar table, create_booking_atomic",
    "combo": "two tables pushed together for 10, create_booking_atomic",
    "table hold": "bar table, create_hold + confirm_hold",
    "salon": "salon service, create_booking_atomic",
    "salon hold": "salon service, create_hold + confirm_hold",
    "replay": "racers replaying one idempotency key (one booking each round)",
    "oversized party": "12 people at a two-seat table",
}

#: The replay racers race each other (same key, same request) for a slot
#: nobody else asks for, so each round shows one booking handed to all four.
REPLAY_SLOT = ((17, 0), (19, 0))

BARRIER_TIMEOUT = 60.0
CONNECT_TIMEOUT = 20.0


@dataclass(frozen=True)
class DemoVenues:
    """The venues and resources one demo run created."""

    bar_id: int
    salon_id: int
    tables: tuple[int, ...]
    seats: Mapping[int, tuple[int, int]]
    service_id: int
    capacities: Mapping[int, int]


@dataclass(frozen=True)
class Request:
    """One racer's attempt in one round."""

    role: str
    venue_id: int
    resource_ids: tuple[int, ...]
    starts_at: datetime
    ends_at: datetime
    party_size: int
    quantity: int = 1
    hold_first: bool = False
    idempotency_key: str | None = None
    customer: Customer | None = None


@dataclass(frozen=True)
class Outcome:
    """What the database told one racer: the booking it acknowledged (if any),
    else the refusal code, else an unexpected error."""

    request: Request
    booking: Booking | None = None
    refusal: str | None = None
    refusal_message: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class StormReport:
    """Counts from one storm and the two independent checks."""

    venues: DemoVenues
    threads: int
    rounds: int
    attempts: int
    bookings_won: int
    won_by_role: Mapping[str, int]
    replays: int
    refusals: Mapping[str, int]
    refusal_messages: Mapping[str, str]
    other_errors: int
    error_samples: tuple[str, ...]
    invariant_violations: tuple[InvariantViolation, ...]
    exclusive_overlaps: int
    shared_peak: int
    shared_capacity: int
    split_replays: int
    unacknowledged_in_db: int
    acknowledged_missing: int
    elapsed_seconds: float
    outcomes: tuple[Outcome, ...] = field(repr=False, default=())

    @property
    def ok(self) -> bool:
        """True when nothing was double booked and nothing unexpected happened."""
        return (
            self.other_errors == 0
            and not self.invariant_violations
            and self.exclusive_overlaps == 0
            and self.shared_peak <= self.shared_capacity
            and self.split_replays == 0
            and self.unacknowledged_in_db == 0
            and self.acknowledged_missing == 0
        )


# -- set-up ----------------------------------------------------------------------------------


def create_venues(db: BookingDB, label: str | None = None) -> DemoVenues:
    """A fresh bar and salon (a new pair each run, so the demo can be re-run)."""
    label = label or f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S')} {uuid.uuid4().hex[:6]}"
    bar = db.create_venue(f"Demo bar {label}", BAR_ZONE)
    tables: list[int] = []
    seats: dict[int, tuple[int, int]] = {}
    for name, seats_min, seats_max in BAR_TABLES:
        table = db.add_resource(bar, name, capacity=1, seats_min=seats_min, seats_max=seats_max)
        tables.append(table)
        seats[table] = (seats_min, seats_max)
    salon = db.create_venue(f"Demo salon {label}", SALON_ZONE)
    service = db.add_resource(
        salon,
        "Cut and colour (two chairs)",
        capacity=SERVICE_CAPACITY,
        seats_min=1,
        seats_max=1,
        kind="service",
    )
    capacities = {table: 1 for table in tables} | {service: SERVICE_CAPACITY}
    return DemoVenues(bar, salon, tuple(tables), seats, service, capacities)


def _at(day: date, hour_minute: tuple[int, int], zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, *hour_minute, tzinfo=zone)


def plan_round(
    venues: DemoVenues, threads: int, round_no: int, rng: random.Random, run_id: str
) -> list[Request]:
    """The requests of one round, one per thread. Round r races for the
    evening (bar) and morning (salon) of the day r + 1 days from now."""
    bar_zone, salon_zone = ZoneInfo(BAR_ZONE), ZoneInfo(SALON_ZONE)
    bar_day = datetime.now(bar_zone).date() + timedelta(days=1 + round_no)
    salon_day = datetime.now(salon_zone).date() + timedelta(days=1 + round_no)
    bar_slots = [(_at(bar_day, s, bar_zone), _at(bar_day, e, bar_zone)) for s, e in BAR_SLOTS]
    salon_slots = [
        (_at(salon_day, s, salon_zone), _at(salon_day, e, salon_zone)) for s, e in SALON_SLOTS
    ]
    t1, t3, t5, t6 = (venues.tables[i] for i in (0, 2, 4, 5))

    # Every replay racer sends this very request: one booking, or one refusal, for all.
    replay_start, replay_end = (_at(bar_day, hm, bar_zone) for hm in REPLAY_SLOT)
    replay = Request(
        "replay",
        venues.bar_id,
        (t3,),
        replay_start,
        replay_end,
        party_size=3,
        idempotency_key=f"demo-{run_id}-round-{round_no}",
        customer=Customer(name="Replaying guest"),
    )

    # The same proportions for any number of threads (the ROLES mix at 32).
    roles = [ROLES[i * len(ROLES) // threads] for i in range(threads)]
    rng.shuffle(roles)
    requests = []
    for racer, role in enumerate(roles):
        guest = Customer(name=f"Guest {round_no}.{racer}")
        bar_start, bar_end = rng.choice(bar_slots)
        salon_start, salon_end = rng.choice(salon_slots)
        if role in ("table", "table hold"):
            table = rng.choice(venues.tables)
            low, high = venues.seats[table]
            requests.append(
                Request(
                    role,
                    venues.bar_id,
                    (table,),
                    bar_start,
                    bar_end,
                    party_size=rng.randint(low, high),
                    hold_first=role == "table hold",
                    customer=guest,
                )
            )
        elif role == "combo":
            # Two tables pushed together for a party of 10: both or neither.
            requests.append(
                Request(
                    role, venues.bar_id, (t5, t6), bar_start, bar_end, party_size=10, customer=guest
                )
            )
        elif role in ("salon", "salon hold"):
            requests.append(
                Request(
                    role,
                    venues.salon_id,
                    (venues.service_id,),
                    salon_start,
                    salon_end,
                    party_size=1,
                    hold_first=role == "salon hold",
                    customer=guest,
                )
            )
        elif role == "replay":
            requests.append(replay)
        else:
            # Twelve people at a two-seat table: refused by validation (BK018).
            requests.append(
                Request(
                    role, venues.bar_id, (t1,), bar_start, bar_end, party_size=12, customer=guest
                )
            )
    return requests


# -- the storm -------------------------------------------------------------------------------


def attempt(db: BookingDB, request: Request) -> Outcome:
    """Send one request; never raises."""
    booking: Booking | None = None
    try:
        if request.hold_first:
            booking = db.create_hold(
                request.venue_id,
                request.resource_ids,
                request.starts_at,
                request.ends_at,
                party_size=request.party_size,
                quantity=request.quantity,
                idempotency_key=request.idempotency_key,
                ttl=timedelta(minutes=10),
            )
            booking = db.confirm_hold(request.venue_id, booking.id, customer=request.customer)
        else:
            booking = db.create_booking_atomic(
                request.venue_id,
                request.resource_ids,
                request.starts_at,
                request.ends_at,
                party_size=request.party_size,
                customer=request.customer,
                quantity=request.quantity,
                idempotency_key=request.idempotency_key,
            )
        return Outcome(request, booking)
    except BookingError as err:
        # A hold that could not be confirmed still occupies: keep it acknowledged.
        return Outcome(request, booking, refusal=err.sqlstate, refusal_message=err.message)
    except Exception as err:  # counted and shown; the demo fails if there is any
        text = " ".join(f"{type(err).__name__}: {err}".split())
        return Outcome(request, booking, error=text)


def _open_racers(dsn: str, threads: int) -> list[BookingDB]:
    """One client per racer, each over a single dedicated connection (a pool of
    exactly one), opened before the race. No retries: every failure must show."""
    racers = [BookingDB.connect(dsn, min_size=1, max_size=1, max_retries=0) for _ in range(threads)]
    try:
        for racer in racers:
            racer.pool.wait(timeout=CONNECT_TIMEOUT)
    except PoolTimeout:
        for racer in racers:
            racer.close()
        raise PoolTimeout(
            f"could not open {threads} connections within {CONNECT_TIMEOUT:.0f} s "
            "(is the server up, and is max_connections large enough?)"
        ) from None
    return racers


def _storm(
    racers: list[BookingDB], plans: list[list[Request]], on_attempt: Callable[[], None] | None
) -> list[Outcome]:
    barrier = threading.Barrier(len(racers))
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def race(index: int, db: BookingDB) -> None:
        for plan in plans:
            request = plan[index]
            try:
                # Everybody leaves the barrier together: the requests of a round
                # reach the database at the same moment.
                barrier.wait(timeout=BARRIER_TIMEOUT)
            except threading.BrokenBarrierError:
                with lock:
                    outcomes.append(Outcome(request, error="barrier broken: a racer timed out"))
                return
            outcome = attempt(db, request)
            with lock:
                outcomes.append(outcome)
            if on_attempt is not None:
                on_attempt()

    workers = [
        threading.Thread(target=race, args=(i, db), name=f"racer-{i}")
        for i, db in enumerate(racers)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


# -- the independent checks ------------------------------------------------------------------


def _occupying(outcomes: Iterable[Outcome]) -> dict[int, Booking]:
    """The bookings clients were told they have, once each (replays share one)."""
    acknowledged: dict[int, Booking] = {}
    for outcome in outcomes:
        if outcome.booking is not None and outcome.booking.occupying:
            acknowledged[outcome.booking.id] = outcome.booking
    return acknowledged


def exclusive_overlaps(bookings: Iterable[Booking], capacities: Mapping[int, int]) -> int:
    """Pairs of acknowledged bookings that overlap on a resource of capacity 1."""
    by_resource: dict[int, list[Booking]] = defaultdict(list)
    for booking in bookings:
        for resource in booking.resource_ids:
            if capacities.get(resource) == 1:
                by_resource[resource].append(booking)
    pairs = 0
    for claims in by_resource.values():
        claims.sort(key=lambda b: b.starts_at)
        for i, first in enumerate(claims):
            for later in claims[i + 1 :]:
                if later.starts_at >= first.ends_at:
                    break
                pairs += 1
    return pairs


def peak_occupancy(bookings: Iterable[Booking], resource_id: int) -> int:
    """Most units of one resource that acknowledged bookings use at any instant."""
    events = []
    for booking in bookings:
        if resource_id in booking.resource_ids:
            events.append((booking.starts_at, booking.quantity))
            events.append((booking.ends_at, -booking.quantity))
    # Ends sort before starts at the same instant: ranges are half-open.
    events.sort(key=lambda event: (event[0], event[1]))
    peak = running = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def split_replays(outcomes: Iterable[Outcome]) -> int:
    """Idempotency keys for which clients were told of more than one booking."""
    seen: dict[str, set[int]] = defaultdict(set)
    for outcome in outcomes:
        key = outcome.request.idempotency_key
        if key is not None and outcome.booking is not None:
            seen[key].add(outcome.booking.id)
    return sum(1 for ids in seen.values() if len(ids) > 1)


def run_storm(
    db: BookingDB,
    dsn: str,
    *,
    threads: int = 32,
    rounds: int = 10,
    seed: int | None = None,
    venues: DemoVenues | None = None,
    on_attempt: Callable[[], None] | None = None,
) -> StormReport:
    """Create the venues (unless given), race ``threads`` clients for ``rounds``
    rounds, then check the result. ``db`` is used for set-up and checks; each
    racer opens its own connection to ``dsn``."""
    if threads < 2 or rounds < 1:
        raise ValueError("a storm needs at least 2 threads and 1 round")
    venues = venues or create_venues(db)
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex[:8]
    plans = [plan_round(venues, threads, r, rng, run_id) for r in range(rounds)]

    racers = _open_racers(dsn, threads)
    try:
        started = time.perf_counter()
        outcomes = _storm(racers, plans, on_attempt)
        elapsed = time.perf_counter() - started
    finally:
        for racer in racers:
            racer.close()

    acknowledged = _occupying(outcomes)
    refusals = Counter(o.refusal for o in outcomes if o.refusal is not None)
    messages = {o.refusal: o.refusal_message or "" for o in outcomes if o.refusal is not None}
    errors = [o.error for o in outcomes if o.error is not None]
    role_of: dict[int, str] = {}
    for o in outcomes:
        if o.booking is not None and o.booking.id in acknowledged:
            role_of.setdefault(o.booking.id, o.request.role)
    won_by_role = Counter(role_of.values())
    acknowledgements = sum(1 for o in outcomes if o.booking is not None and o.booking.occupying)

    # What the database says occupies those days, to compare with what the
    # clients were told: nothing missing, nothing nobody was told about.
    first = min(r.starts_at for plan in plans for r in plan) - timedelta(days=1)
    last = max(r.ends_at for plan in plans for r in plan) + timedelta(days=1)
    in_db = {
        slot.booking_id
        for venue in (venues.bar_id, venues.salon_id)
        for slot in db.list_bookings(venue, first, last)
    }

    return StormReport(
        venues=venues,
        threads=threads,
        rounds=rounds,
        attempts=len(outcomes),
        bookings_won=len(acknowledged),
        won_by_role=dict(won_by_role),
        replays=acknowledgements - len(acknowledged),
        refusals=dict(sorted(refusals.items())),
        refusal_messages=messages,
        other_errors=len(errors),
        error_samples=tuple(errors[:5]),
        invariant_violations=tuple(db.verify_invariants()),
        exclusive_overlaps=exclusive_overlaps(acknowledged.values(), venues.capacities),
        shared_peak=peak_occupancy(acknowledged.values(), venues.service_id),
        shared_capacity=SERVICE_CAPACITY,
        split_replays=split_replays(outcomes),
        unacknowledged_in_db=len(in_db - acknowledged.keys()),
        acknowledged_missing=len(acknowledged.keys() - in_db),
        elapsed_seconds=elapsed,
        outcomes=tuple(outcomes),
    )
