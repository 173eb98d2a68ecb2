"""Holds and bookings: ``hold``, ``confirm``, ``release``, ``extend``, ``show``,
``book``, ``approve``, ``reject``,
``cancel`` (by id, or by reference and the customer's token), ``reschedule``,
``check`` and ``bookings`` (the list). Each calls one public SQL function."""

from collections.abc import Callable
from typing import Annotated

import typer

from bookingdb import Booking, BookingDB
from bookingdb.cli.connect import open_db
from bookingdb.cli.output import ExitCode, command, console, print_json, show_booking, show_slots
from bookingdb.cli.params import (
    BookingId,
    Dsn,
    Email,
    End,
    Holder,
    InputError,
    Json,
    Key,
    Length,
    Name,
    Party,
    Phone,
    Quantity,
    Resources,
    Start,
    Tz,
    Venue,
    customer_from,
    parse_duration,
    parse_time,
    time_range,
    zone,
)

Ttl = Annotated[
    str | None,
    typer.Option(
        "--ttl", help="How long the hold lasts: 10m, 1h (default: the venue's).", show_default=False
    ),
]
ExpectedVersion = Annotated[
    int | None,
    typer.Option(
        "--expected-version",
        help="Refuse (BK004) if the booking's version differs.",
        show_default=False,
    ),
]
Reason = Annotated[
    str | None, typer.Option("--reason", help="Why, kept with the booking.", show_default=False)
]


def hold(
    venue: Venue,
    resource: Resources,
    start: Start,
    end: End = None,
    duration: Length = None,
    party: Party = 1,
    quantity: Quantity = 1,
    key: Key = None,
    ttl: Ttl = None,
    holder: Holder = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Hold resources while the customer checks out (create_hold)."""
    where = zone(tz)
    starts_at, ends_at = time_range(start, end, duration, where)
    lasts = parse_duration(ttl, "--ttl") if ttl is not None else None
    with open_db(dsn) as db:
        booking = db.create_hold(
            venue,
            resource,
            starts_at,
            ends_at,
            party_size=party,
            quantity=quantity,
            idempotency_key=key,
            ttl=lasts,
            holder=holder,
        )
    show_booking(booking, as_json, where)


def confirm(
    venue: Venue,
    booking: BookingId,
    name: Name = None,
    email: Email = None,
    phone: Phone = None,
    payment_ref: Annotated[
        str | None, typer.Option("--payment-ref", help="Payment reference.", show_default=False)
    ] = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Confirm a live hold, recording the customer (confirm_hold).

    Prints the customer's cancel token (for 'cancel --token'): it is shown this once.
    """
    with open_db(dsn) as db:
        confirmed = db.confirm_hold(
            venue, booking, customer=customer_from(name, email, phone), payment_ref=payment_ref
        )
    show_booking(confirmed, as_json, zone(tz))


def _one_booking(call: Callable[[BookingDB, int, int], Booking], doc: str) -> Callable[..., None]:
    """A command that takes a venue and a booking id, makes one call and
    shows the booking it returns."""

    def run(
        venue: Venue,
        booking: BookingId,
        tz: Tz = None,
        dsn: Dsn = None,
        as_json: Json = False,
    ) -> None:
        with open_db(dsn) as db:
            found = call(db, venue, booking)
        show_booking(found, as_json, zone(tz))

    run.__doc__ = doc
    return run


release = _one_booking(
    BookingDB.release_hold,
    "Let go of a live hold before it lapses, freeing its slot (release_hold).",
)
show = _one_booking(
    BookingDB.get_booking, "Show one booking or hold by id, in any status (get_booking)."
)


def extend(
    venue: Venue,
    booking: BookingId,
    by: Annotated[
        str,
        typer.Option("--by", help="How much longer the hold lasts: 5m, 1h.", show_default=False),
    ],
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Give a live hold more time (extend_hold); a hold lasts at most 30 days in all."""
    extra = parse_duration(by, "--by")
    with open_db(dsn) as db:
        extended = db.extend_hold(venue, booking, extra)
    show_booking(extended, as_json, zone(tz))


def book(
    venue: Venue,
    resource: Resources,
    start: Start,
    end: End = None,
    duration: Length = None,
    party: Party = 1,
    quantity: Quantity = 1,
    key: Key = None,
    name: Name = None,
    email: Email = None,
    phone: Phone = None,
    pending: Annotated[
        bool,
        typer.Option(
            "--pending",
            help="Record a request the venue approves or rejects later (status pending).",
        ),
    ] = False,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Book resources in one step: confirmed, or pending with --pending (create_booking_atomic).

    A pending booking holds its slot until the venue approves or rejects it.
    Prints the customer's cancel token (for 'cancel --token'): it is shown this once.
    """
    where = zone(tz)
    starts_at, ends_at = time_range(start, end, duration, where)
    with open_db(dsn) as db:
        booking = db.create_booking_atomic(
            venue,
            resource,
            starts_at,
            ends_at,
            party_size=party,
            customer=customer_from(name, email, phone),
            quantity=quantity,
            idempotency_key=key,
            status="pending" if pending else "confirmed",
        )
    show_booking(booking, as_json, where)


def approve(
    venue: Venue,
    booking: BookingId,
    expected_version: ExpectedVersion = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Approve a pending booking: it becomes confirmed (approve_booking)."""
    with open_db(dsn) as db:
        approved = db.approve_booking(venue, booking, expected_version=expected_version)
    show_booking(approved, as_json, zone(tz))


def reject(
    venue: Venue,
    booking: BookingId,
    expected_version: ExpectedVersion = None,
    reason: Reason = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Reject a pending booking, freeing its slot (reject_booking)."""
    with open_db(dsn) as db:
        rejected = db.reject_booking(
            venue, booking, expected_version=expected_version, reason=reason
        )
    show_booking(rejected, as_json, zone(tz))


def cancel(
    venue: Venue,
    booking: Annotated[
        int | None,
        typer.Argument(help="Booking id (or give --reference and --token).", show_default=False),
    ] = None,
    expected_version: ExpectedVersion = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference", help="The booking's reference, with --token.", show_default=False
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="The customer's cancel token, handed out when the booking was confirmed.",
            show_default=False,
        ),
    ] = None,
    reason: Reason = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Cancel a confirmed or pending booking, freeing its slot: by id (cancel_booking),
    or as the customer does, by --reference and --token (cancel_by_token).

    A wrong token and an unknown reference are refused alike (BK007).
    """
    by_token = reference is not None or token is not None
    if by_token and (booking is not None or expected_version is not None):
        raise InputError("give a booking id or --reference with --token, not both")
    if by_token and (reference is None or token is None):
        raise InputError("--reference and --token go together")
    if not by_token and booking is None:
        raise InputError("give a booking id, or --reference and --token")
    with open_db(dsn) as db:
        if reference is not None and token is not None:
            cancelled = db.cancel_by_token(venue, reference, token, reason)
        else:
            assert booking is not None
            cancelled = db.cancel_booking(
                venue, booking, expected_version=expected_version, reason=reason
            )
    show_booking(cancelled, as_json, zone(tz))


def reschedule(
    venue: Venue,
    booking: BookingId,
    expected_version: Annotated[
        int,
        typer.Option(
            "--expected-version", help="The version you read (BK004 if stale).", show_default=False
        ),
    ],
    start: Start,
    end: End = None,
    duration: Length = None,
    resource: Annotated[
        list[int] | None,
        typer.Option(
            "--resource",
            "-r",
            help="Move to these resources (default: the same).",
            show_default=False,
        ),
    ] = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Move a booking to a new time or resources (reschedule_booking).

    Atomic: if the new slot is refused, the old one stays booked.
    """
    where = zone(tz)
    starts_at, ends_at = time_range(start, end, duration, where)
    with open_db(dsn) as db:
        moved = db.reschedule_booking(
            venue, booking, expected_version, starts_at, ends_at, resource or None
        )
    show_booking(moved, as_json, where)


def check(
    venue: Venue,
    resource: Resources,
    start: Start,
    end: End = None,
    duration: Length = None,
    quantity: Quantity = 1,
    exclude: Annotated[
        int | None,
        typer.Option(
            "--exclude", help="Ignore this booking (to test moving it).", show_default=False
        ),
    ] = None,
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """Say whether a slot is free, without booking it (check_availability).

    Exit 0 when available, 1 when not.
    """
    where = zone(tz)
    starts_at, ends_at = time_range(start, end, duration, where)
    with open_db(dsn) as db:
        available = db.check_availability(
            venue, resource, starts_at, ends_at, quantity=quantity, exclude_booking_id=exclude
        )
    if as_json:
        print_json(
            {
                "available": available,
                "venue_id": venue,
                "resource_ids": resource,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "quantity": quantity,
            },
            where,
        )
    else:
        console().print("available" if available else "not available")
    raise typer.Exit(int(ExitCode.OK if available else ExitCode.NO))


def bookings(
    venue: Venue,
    from_: Annotated[
        str, typer.Option("--from", help="Window start, ISO 8601 with offset.", show_default=False)
    ],
    to: Annotated[
        str, typer.Option("--to", help="Window end, ISO 8601 with offset.", show_default=False)
    ],
    tz: Tz = None,
    dsn: Dsn = None,
    as_json: Json = False,
) -> None:
    """List what occupies a time window, one row per resource (list_bookings).

    Live holds, pending and confirmed bookings.
    """
    where = zone(tz)
    starts_at, ends_at = parse_time(from_, "--from", where), parse_time(to, "--to", where)
    with open_db(dsn) as db:
        slots = db.list_bookings(venue, starts_at, ends_at)
    show_slots(slots, as_json, where)


def register(app: typer.Typer) -> None:
    for name, func in (
        ("hold", hold),
        ("confirm", confirm),
        ("release", release),
        ("extend", extend),
        ("show", show),
        ("book", book),
        ("approve", approve),
        ("reject", reject),
        ("cancel", cancel),
        ("reschedule", reschedule),
        ("check", check),
        ("bookings", bookings),
    ):
        command(app, name)(func)
