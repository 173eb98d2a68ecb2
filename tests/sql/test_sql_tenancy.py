"""Tenant isolation: a caller bound to one venue cannot read or change another.

A caller is bound by its login role (``bind_tenant_role``) or by the
``bookingdb.venue_id`` setting. Every public function is called here with a
foreign venue's real ids, bound to the home venue: each is refused with
BK007, the refusal names nothing of the foreign venue, and nothing is
written. The same call unbound gets past the tenant check, so the ids are
real and the refusal is the binding's doing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from contract_kit import Conn, error_of, scalar, snapshot
from psycopg.types.json import Jsonb

# Words only the foreign venue's data contains; none may appear in a refusal.
SECRETS = ("Foreign Secret Bar", "secret-table", "secret@foreign.example", "Secret Gala")


@dataclass
class Foreign:
    """The foreign venue's ids, and the home venue the caller is bound to."""

    home: int
    venue: int
    table: int
    table2: int
    room: int
    seat: int
    event: int
    booking: int
    pending: int
    hold: int
    series: int
    entry: int
    reference: str
    token: str
    starts: datetime


@pytest.fixture
def foreign(conn: Conn) -> Foreign:
    home = int(scalar(conn, "SELECT bookingdb.create_venue('Home bar', 'Europe/London')"))
    venue = int(scalar(conn, "SELECT bookingdb.create_venue(%s, 'Europe/Paris')", (SECRETS[0],)))
    base: datetime = scalar(conn, "SELECT date_trunc('day', now()) + interval '3 days 12 hours'")

    def add(name: str, capacity: int = 1) -> int:
        return int(
            scalar(conn, "SELECT bookingdb.add_resource(%s, %s, %s)", (venue, name, capacity))
        )

    table, table2, room = add(SECRETS[1]), add("secret-table-2"), add("secret-room", 20)
    seat = int(scalar(conn, "SELECT (bookingdb.add_seat_block(%s, 'S', 'A', 1, 4))[1]", (venue,)))
    event = int(
        scalar(
            conn,
            "SELECT bookingdb.create_event(%s, %s, %s, %s)",
            (venue, SECRETS[3], base + timedelta(days=1), base + timedelta(days=1, hours=3)),
        )
    )
    conn.execute(
        "SELECT bookingdb.add_event_inventory(%s, %s, ARRAY[%s]::bigint[], 'stalls', 1000)",
        (venue, event, seat),
    )
    customer = Jsonb({"name": "Secret Guest", "email": SECRETS[2]})
    booked = conn.execute(
        "SELECT id, reference, cancel_token FROM bookingdb.create_booking_atomic("
        "%s, ARRAY[%s]::bigint[], %s, %s, 2, %s)",
        (venue, table, base, base + timedelta(hours=2), customer),
    ).fetchone()
    assert booked is not None
    pending = scalar(
        conn,
        "SELECT id FROM bookingdb.create_booking_atomic(%s, ARRAY[%s]::bigint[], %s, %s, "
        "status => 'pending')",
        (venue, table2, base, base + timedelta(hours=2)),
    )
    hold = scalar(
        conn,
        "SELECT id FROM bookingdb.create_hold(%s, ARRAY[%s]::bigint[], %s, %s, 2)",
        (venue, room, base, base + timedelta(hours=1)),
    )
    series = scalar(
        conn,
        "SELECT series_id FROM bookingdb.create_series(%s, ARRAY[%s]::bigint[], %s, "
        "interval '1 hour', interval '7 days', 2) LIMIT 1",
        (venue, table2, base + timedelta(hours=4)),
    )
    entry = scalar(
        conn,
        "SELECT bookingdb.join_waitlist(%s, ARRAY[%s]::bigint[], %s, %s, 2, %s)",
        (venue, table, base, base + timedelta(hours=2), customer),
    )
    return Foreign(
        home=home,
        venue=venue,
        table=table,
        table2=table2,
        room=room,
        seat=seat,
        event=event,
        booking=int(booked[0]),
        pending=int(pending),
        hold=int(hold),
        series=int(series),
        entry=int(entry),
        reference=str(booked[1]),
        token=str(booked[2]),
        starts=base,
    )


Call = tuple[str, tuple[Any, ...]]


def calls(f: Foreign) -> dict[str, Call]:
    """One call per public function that takes a venue, with the foreign ids."""
    v, t, s = f.venue, f.starts, f.starts + timedelta(hours=1)
    later, later_end = f.starts + timedelta(hours=6), f.starts + timedelta(hours=7)
    window = f"[{t.isoformat()},{(t + timedelta(hours=4)).isoformat()})"
    c = Jsonb({"name": "x", "email": "x@home.example"})
    return {
        "acquire_booking_lock": (
            "SELECT bookingdb.acquire_booking_lock(%s, %s, %s, %s)",
            (v, f.table, t, s),
        ),
        "add_event_inventory": (
            "SELECT bookingdb.add_event_inventory(%s, %s, ARRAY[%s]::bigint[], 'standing', 500)",
            (v, f.event, f.room),
        ),
        "add_resource": ("SELECT bookingdb.add_resource(%s, 'new table')", (v,)),
        "add_seat_block": ("SELECT bookingdb.add_seat_block(%s, 'S', 'B', 1, 2)", (v,)),
        "approve_booking": ("SELECT * FROM bookingdb.approve_booking(%s, %s)", (v, f.pending)),
        "availability": (
            "SELECT * FROM bookingdb.availability(%s, %s::tstzrange, interval '1 hour')",
            (v, window),
        ),
        "bind_tenant_role": ("SELECT bookingdb.bind_tenant_role(%s, current_user)", (v,)),
        "cancel_booking": ("SELECT * FROM bookingdb.cancel_booking(%s, %s)", (v, f.booking)),
        "cancel_by_token": (
            "SELECT * FROM bookingdb.cancel_by_token(%s, %s, %s)",
            (v, f.reference, f.token),
        ),
        "cancel_series": ("SELECT * FROM bookingdb.cancel_series(%s, %s)", (v, f.series)),
        "changes_since": ("SELECT * FROM bookingdb.changes_since(%s, 0)", (v,)),
        "check_availability": (
            "SELECT bookingdb.check_availability(%s, ARRAY[%s]::bigint[], %s, %s)",
            (v, f.table2, later, later_end),
        ),
        "check_availability_many": (
            "SELECT * FROM bookingdb.check_availability_many(%s, %s)",
            (
                v,
                Jsonb(
                    [
                        {
                            "resource_ids": [f.table2],
                            "starts_at": later.isoformat(),
                            "ends_at": later_end.isoformat(),
                        }
                    ]
                ),
            ),
        ),
        "clear_date_overrides": ("SELECT bookingdb.clear_date_overrides(%s)", (v,)),
        "clear_opening_hours": ("SELECT bookingdb.clear_opening_hours(%s)", (v,)),
        "confirm_hold": ("SELECT * FROM bookingdb.confirm_hold(%s, %s, %s)", (v, f.hold, c)),
        "create_booking_atomic": (
            "SELECT * FROM bookingdb.create_booking_atomic(%s, ARRAY[%s]::bigint[], %s, %s)",
            (v, f.table2, later, later_end),
        ),
        "create_event": ("SELECT bookingdb.create_event(%s, 'e', %s, %s)", (v, later, later_end)),
        "create_hold": (
            "SELECT * FROM bookingdb.create_hold(%s, ARRAY[%s]::bigint[], %s, %s)",
            (v, f.table2, later, later_end),
        ),
        "create_series": (
            "SELECT * FROM bookingdb.create_series(%s, ARRAY[%s]::bigint[], %s, "
            "interval '1 hour', interval '7 days', 2)",
            (v, f.table, later),
        ),
        "customer_bookings": (
            "SELECT * FROM bookingdb.customer_bookings(%s, %s, %s)",
            (v, SECRETS[2], t - timedelta(days=1)),
        ),
        "event_availability": ("SELECT * FROM bookingdb.event_availability(%s, %s)", (v, f.event)),
        "extend_hold": (
            "SELECT * FROM bookingdb.extend_hold(%s, %s, interval '1 minute')",
            (v, f.hold),
        ),
        "find_booking": ("SELECT * FROM bookingdb.find_booking(%s, %s)", (v, f.reference)),
        "free_time": (
            "SELECT * FROM bookingdb.free_time(%s, %s, %s::tstzrange)",
            (v, f.table, window),
        ),
        "get_booking": ("SELECT * FROM bookingdb.get_booking(%s, %s)", (v, f.booking)),
        "get_venue_rules": ("SELECT * FROM bookingdb.get_venue_rules(%s)", (v,)),
        "hold_event_tickets": (
            "SELECT * FROM bookingdb.hold_event_tickets(%s, %s, 1)",
            (v, f.event),
        ),
        "join_waitlist": (
            "SELECT * FROM bookingdb.join_waitlist(%s, ARRAY[%s]::bigint[], %s, %s, 2)",
            (v, f.table, t, s),
        ),
        "leave_waitlist": ("SELECT * FROM bookingdb.leave_waitlist(%s, %s)", (v, f.entry)),
        "link_resources": ("SELECT bookingdb.link_resources(%s, %s, %s)", (v, f.table, f.table2)),
        "list_bookings": (
            "SELECT * FROM bookingdb.list_bookings(%s, %s, %s)",
            (v, t - timedelta(days=1), t + timedelta(days=30)),
        ),
        "list_events": ("SELECT * FROM bookingdb.list_events(%s)", (v,)),
        "list_resources": ("SELECT * FROM bookingdb.list_resources(%s)", (v,)),
        "local_range": (
            "SELECT * FROM bookingdb.local_range(%s, %s, '19:00', '21:00')",
            (v, t.date()),
        ),
        "opening_hours": ("SELECT * FROM bookingdb.opening_hours(%s)", (v,)),
        "process_waitlist": ("SELECT * FROM bookingdb.process_waitlist(%s)", (v,)),
        "prune_changes": ("SELECT bookingdb.prune_changes(%s, interval '0')", (v,)),
        "record_refusal": ("SELECT bookingdb.record_refusal(%s, 'BK001')", (v,)),
        "reject_booking": ("SELECT * FROM bookingdb.reject_booking(%s, %s)", (v, f.pending)),
        "release_hold": ("SELECT * FROM bookingdb.release_hold(%s, %s)", (v, f.hold)),
        "reschedule_booking": (
            "SELECT * FROM bookingdb.reschedule_booking(%s, %s, NULL, %s, %s)",
            (v, f.booking, later, later_end),
        ),
        "set_date_override": (
            "SELECT bookingdb.set_date_override(%s, %s, '10:00', '22:00')",
            (v, t.date()),
        ),
        "set_opening_hours": ("SELECT bookingdb.set_opening_hours(%s, 1, '10:00', '22:00')", (v,)),
        "set_resource_buffers": (
            "SELECT bookingdb.set_resource_buffers(%s, %s, interval '5 min', interval '5 min')",
            (v, f.table),
        ),
        "set_resource_pricing": (
            "SELECT bookingdb.set_resource_pricing(%s, %s, 100, 0)",
            (v, f.table),
        ),
        "set_sellable_capacity": (
            "SELECT bookingdb.set_sellable_capacity(%s, %s, 25)",
            (v, f.room),
        ),
        "set_venue_rules": (
            "SELECT * FROM bookingdb.set_venue_rules(%s, %s)",
            (v, Jsonb({"max_party": 12})),
        ),
        "stats": ("SELECT * FROM bookingdb.stats(%s)", (v,)),
        "suggest_alternatives": (
            "SELECT * FROM bookingdb.suggest_alternatives(%s, ARRAY[%s]::bigint[], %s, %s)",
            (v, f.table, t, s),
        ),
        "table_combinations": (
            "SELECT * FROM bookingdb.table_combinations(%s, %s, %s, 2)",
            (v, later, later_end),
        ),
        "try_booking_lock": (
            "SELECT bookingdb.try_booking_lock(%s, %s, %s, %s)",
            (v, f.table, t, s),
        ),
        "unbind_tenant_role": ("SELECT bookingdb.unbind_tenant_role(%s, current_user)", (v,)),
        "unlink_resources": (
            "SELECT bookingdb.unlink_resources(%s, %s, %s)",
            (v, f.table, f.table2),
        ),
        "waitlist": ("SELECT * FROM bookingdb.waitlist(%s)", (v,)),
    }


# Functions that act across venues: only an unbound caller may run them.
PLATFORM_CALLS: dict[str, Call] = {
    "create_venue": ("SELECT bookingdb.create_venue('Another bar')", ()),
    "expire_holds": ("SELECT bookingdb.expire_holds()", ()),
    "health": ("SELECT * FROM bookingdb.health()", ()),
    "verify_invariants": ("SELECT * FROM bookingdb.verify_invariants()", ()),
    "check_allocation_indexes": ("SELECT * FROM bookingdb.check_allocation_indexes()", ()),
    "hidden_overlaps": ("SELECT * FROM bookingdb.hidden_overlaps()", ()),
    "allocation_index_repairs": ("SELECT * FROM bookingdb.allocation_index_repairs()", ()),
}
# Binding roles is the platform's business: a bound caller is refused.
OWNER_ONLY = {"bind_tenant_role", "unbind_tenant_role"}
# Must never fail a client's error handling: an unknown or foreign venue is
# ignored (and nothing is written: the snapshot below).
IGNORES_UNKNOWN_VENUES = {"record_refusal"}
# Takes no venue and reads no data.
UNBOUND_ANYWHERE = {"error_codes"}
# Lists what the caller may reach: a bound caller sees its own venues only.
FILTERS_BY_TENANT = {"list_venues"}


def public_functions(conn: Conn) -> set[str]:
    rows = conn.execute(
        "SELECT DISTINCT p.proname FROM pg_proc p WHERE p.pronamespace = 'bookingdb'::regnamespace"
        " AND p.proname !~ '^_' AND p.prorettype <> 'trigger'::regtype"
    ).fetchall()
    return {str(r[0]) for r in rows}


def refusal(conn: Conn, bound_to: str | None, call: Call) -> psycopg.Error | None:
    """``call``'s error, bound by the setting if given; always rolled back."""
    return error_of(conn, *call, bound_to=bound_to)


def assert_refused_without_leak(err: psycopg.Error | None, name: str) -> None:
    assert err is not None, f"{name}: a bound caller reached the foreign venue"
    assert err.sqlstate == "BK007", f"{name}: {err.sqlstate} {err}"
    said = " ".join(
        str(part or "")
        for part in (err.diag.message_primary, err.diag.message_detail, err.diag.message_hint)
    )
    leaked = [word for word in SECRETS if word.lower() in said.lower()]
    assert leaked == [], f"{name}: refusal names {leaked}: {said}"


def test_every_public_function_is_covered_here(conn: Conn, foreign: Foreign) -> None:
    covered = set(calls(foreign)) | set(PLATFORM_CALLS) | UNBOUND_ANYWHERE | FILTERS_BY_TENANT
    assert public_functions(conn) == covered


def test_list_venues_shows_a_bound_caller_its_own_venue_only(conn: Conn, foreign: Foreign) -> None:
    def listed(bound_to: str | None) -> list[int]:
        with conn.transaction():
            if bound_to is not None:
                conn.execute("SELECT set_config('bookingdb.venue_id', %s, true)", (bound_to,))
            found = conn.execute("SELECT venue_id FROM bookingdb.list_venues()").fetchall()
        return [int(row[0]) for row in found]

    everything = listed(None)
    assert {foreign.venue, foreign.home} <= set(everything) and everything == sorted(everything)
    assert listed(str(foreign.home)) == [foreign.home]
    assert listed("not a venue") == []


def test_every_function_refuses_a_foreign_venue_with_bk007_and_writes_nothing(
    conn: Conn, foreign: Foreign
) -> None:
    before = snapshot(conn)
    failures = {}
    for name, call in calls(foreign).items():
        if name in IGNORES_UNKNOWN_VENUES:
            with conn.transaction():  # committed: it must have written nothing
                bind = "SELECT set_config('bookingdb.venue_id', %s, true)"
                conn.execute(bind, (str(foreign.home),))
                conn.execute(*call)
            continue
        try:
            assert_refused_without_leak(refusal(conn, str(foreign.home), call), name)
        except AssertionError as failure:
            failures[name] = str(failure).splitlines()[0]
    assert failures == {}
    assert snapshot(conn) == before


def test_the_same_calls_unbound_get_past_the_tenant_check(conn: Conn, foreign: Foreign) -> None:
    # The ids are real: unbound (the platform), no call is "not found".
    not_found = {}
    for name, call in calls(foreign).items():
        err = refusal(conn, None, call)
        if err is not None and err.sqlstate == "BK007":
            not_found[name] = str(err)
    assert not_found == {}


def test_calls_bound_to_their_own_venue_are_not_refused_by_the_binding(
    conn: Conn, foreign: Foreign
) -> None:
    not_found = {}
    for name, call in calls(foreign).items():
        if name in OWNER_ONLY:
            continue  # refused to every bound caller (test below)
        err = refusal(conn, str(foreign.venue), call)
        if err is not None and err.sqlstate == "BK007":
            not_found[name] = str(err)
    assert not_found == {}


def test_platform_functions_refuse_a_bound_caller(conn: Conn, foreign: Foreign) -> None:
    own_venue = calls(foreign)
    for name in OWNER_ONLY:
        assert_refused_without_leak(refusal(conn, str(foreign.venue), own_venue[name]), name)
    for name, call in PLATFORM_CALLS.items():
        assert_refused_without_leak(refusal(conn, str(foreign.home), call), name)
        assert refusal(conn, None, call) is None, name


@pytest.mark.parametrize("setting", ["", "abc", "-1", "1 OR 1=1", "99999999999999999999"])
def test_a_setting_that_is_no_venue_id_binds_to_nothing(
    conn: Conn, foreign: Foreign, setting: str
) -> None:
    name, call = "get_booking", calls(foreign)["get_booking"]
    err = refusal(conn, setting, call)
    if setting == "":
        assert err is None  # an empty setting is no binding (RESET leaves '')
    else:
        assert_refused_without_leak(err, name)


# --- Roles ------------------------------------------------------------------


def role_of(role_dsn: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(role_dsn)["user"])


def test_a_role_bound_to_a_venue_reaches_only_it_whatever_it_sets(
    conn: Conn, foreign: Foreign, login_role: Callable[[str], str]
) -> None:
    app = login_role("bookingdb_app")
    conn.execute("SELECT bookingdb.bind_tenant_role(%s, %s)", (foreign.home, role_of(app)))
    name, call = "get_booking", calls(foreign)["get_booking"]
    with psycopg.connect(app, autocommit=True) as bound:
        assert_refused_without_leak(refusal(bound, None, call), name)
        # Naming the foreign venue in the setting does not help.
        assert_refused_without_leak(refusal(bound, str(foreign.venue), call), name)
        home_resource = bound.execute(
            "SELECT bookingdb.add_resource(%s, 'home table')", (foreign.home,)
        ).fetchone()
        assert home_resource is not None
        assert_refused_without_leak(refusal(bound, None, PLATFORM_CALLS["create_venue"]), name)


def test_readonly_reports_show_a_bound_reader_its_own_venue_only(
    conn: Conn, foreign: Foreign, login_role: Callable[[str], str]
) -> None:
    reader = login_role("bookingdb_readonly")
    conn.execute(
        "SELECT bookingdb.create_booking_atomic(%s, ARRAY[bookingdb.add_resource(%s, 'home')],"
        " %s, %s)",
        (foreign.home, foreign.home, foreign.starts, foreign.starts + timedelta(hours=1)),
    )
    views = ["report_venues", "report_resources", "report_bookings", "report_daily"]
    with psycopg.connect(reader, autocommit=True) as unbound:
        for view in views:
            seen = {r[0] for r in unbound.execute(f"SELECT venue_id FROM bookingdb.{view}")}
            assert seen == {foreign.home, foreign.venue}, view
    conn.execute("SELECT bookingdb.bind_tenant_role(%s, %s)", (foreign.home, role_of(reader)))
    with psycopg.connect(reader, autocommit=True) as bound:
        for view in views:
            seen = {r[0] for r in bound.execute(f"SELECT venue_id FROM bookingdb.{view}")}
            assert seen == {foreign.home}, view


def test_the_setting_binds_a_reader_of_the_reports(conn: Conn, foreign: Foreign) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute("SELECT set_config('bookingdb.venue_id', %s, true)", (str(foreign.venue),))
        seen = {r[0] for r in conn.execute("SELECT venue_id FROM bookingdb.report_bookings")}
    assert seen == {foreign.venue}
