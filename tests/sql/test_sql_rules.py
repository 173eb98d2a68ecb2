"""Venue rules enforced on every booking path: notice and advance, party
limits, minimum age, buffers, deposits, and pending requests the venue
approves or rejects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from contract_kit import (
    Conn,
    add_resource,
    available,
    book,
    get,
    hold,
    one,
    refuse,
    rows,
    scalar,
    set_rules,
    violations,
)
from psycopg.types.json import Jsonb

At = Callable[[float], datetime]

BOOK = "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, %s, %s)"
HOLD = "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, %s)"


def _rules(conn: Conn, venue: int) -> dict[str, object]:
    return dict(scalar(conn, "SELECT bookingdb.get_venue_rules(%s)", (venue,)))


# -- set_venue_rules / get_venue_rules ---------------------------------------------------


def test_defaults_are_no_past_six_months_ahead_and_parties_of_1_to_50(
    conn: Conn, venue: int
) -> None:
    conn.execute("SET IntervalStyle = 'postgres'")
    rules = _rules(conn, venue)
    assert rules == {
        "timezone": "Europe/London",
        "hold_ttl": "00:10:00",
        "min_notice": "00:00:00",
        "max_advance": "6 mons",
        "min_party": 1,
        "max_party": 50,
        "min_age": None,
        "buffer_before": "00:00:00",
        "buffer_after": "00:00:00",
        "slot_step": "00:15:00",
        "notify": False,
        "max_active_holds_per_customer": None,
        "has_hours": False,
    }


def test_rules_set_some_keys_keep_the_rest_and_null_restores_a_default(
    conn: Conn, venue: int
) -> None:
    conn.execute("SET IntervalStyle = 'postgres'")
    set_rules(conn, venue, min_notice="2 hours", max_party=12, min_age=18, slot_step="30 minutes")
    rules = _rules(conn, venue)
    assert (rules["min_notice"], rules["max_party"], rules["min_age"]) == ("02:00:00", 12, 18)
    assert (rules["slot_step"], rules["hold_ttl"]) == ("00:30:00", "00:10:00")
    set_rules(conn, venue, min_age=None, max_party=None)
    rules = _rules(conn, venue)
    assert (rules["min_age"], rules["max_party"], rules["min_notice"]) == (None, 50, "02:00:00")


@pytest.mark.parametrize(
    "rules",
    [
        {"colour": "red"},
        {"hold_ttl": "0 minutes"},
        {"hold_ttl": "31 days"},
        {"hold_ttl": 10},
        {"min_notice": "soon"},
        {"min_notice": "-1 hour"},
        {"max_advance": "0"},
        {"max_advance": "11 years"},
        {"min_party": 0},
        {"min_party": 2.5},
        {"min_party": "2"},
        {"max_party": 100001},
        {"min_party": 10, "max_party": 5},
        {"min_age": -1},
        {"min_age": 151},
        {"buffer_before": "2 days"},
        {"buffer_after": "-5 minutes"},
        {"slot_step": "30 seconds"},
        {"slot_step": ["15 minutes"]},
        {"min_notice": "1 year", "max_advance": "6 months"},
    ],
    ids=repr,
)
def test_unknown_keys_and_bad_values_are_refused_with_bk010(
    conn: Conn, venue: int, rules: dict[str, object]
) -> None:
    refuse(conn, "BK010", "SELECT bookingdb.set_venue_rules(%s, %s)", (venue, Jsonb(rules)))


@pytest.mark.parametrize("rules", ["[]", "null", "3", '"x"'])
def test_rules_that_are_not_an_object_are_refused_with_bk010(
    conn: Conn, venue: int, rules: str
) -> None:
    refuse(conn, "BK010", "SELECT bookingdb.set_venue_rules(%s, %s::jsonb)", (venue, rules))
    refuse(conn, "BK010", "SELECT bookingdb.set_venue_rules(%s, NULL)", (venue,))


def test_rules_of_an_unknown_venue_are_refused_with_bk007(conn: Conn) -> None:
    refuse(conn, "BK007", "SELECT bookingdb.set_venue_rules(987654, '{}')")
    refuse(conn, "BK007", "SELECT bookingdb.get_venue_rules(987654)")


# -- notice, advance, party ---------------------------------------------------------------


def test_min_notice_refuses_bookings_too_soon_with_bk009(conn: Conn, venue: int) -> None:
    table = add_resource(conn, venue, "T1")
    set_rules(conn, venue, min_notice="3 days")
    soon = scalar(conn, "SELECT date_trunc('hour', now()) + interval '2 days'")
    later = scalar(conn, "SELECT date_trunc('hour', now()) + interval '4 days'")
    refuse(conn, "BK009", BOOK, (venue, [table], soon, soon + timedelta(hours=1), 1, None))
    refuse(conn, "BK009", HOLD, (venue, [table], soon, soon + timedelta(hours=1), 1))
    assert book(conn, venue, [table], later, later + timedelta(hours=1))
    assert available(conn, venue, [table], soon, soon + timedelta(hours=1)) is False


def test_the_past_is_still_bk012_with_a_notice_rule(conn: Conn, venue: int) -> None:
    table = add_resource(conn, venue, "T1")
    set_rules(conn, venue, min_notice="1 hour")
    past = scalar(conn, "SELECT now() - interval '1 hour'")
    refuse(conn, "BK012", BOOK, (venue, [table], past, past + timedelta(hours=2), 1, None))


def test_the_default_max_advance_is_six_months_bk013(conn: Conn, venue: int) -> None:
    table = add_resource(conn, venue, "T1")
    far = scalar(conn, "SELECT date_trunc('day', now()) + interval '7 months'")
    near = scalar(conn, "SELECT date_trunc('day', now()) + interval '5 months'")
    refuse(conn, "BK013", BOOK, (venue, [table], far, far + timedelta(hours=1), 1, None))
    refuse(conn, "BK013", HOLD, (venue, [table], far, far + timedelta(hours=1), 1))
    assert book(conn, venue, [table], near, near + timedelta(hours=1))
    set_rules(conn, venue, max_advance="1 year")
    assert book(conn, venue, [table], far, far + timedelta(hours=1))


def test_party_limits_are_the_venue_rules_bk014(conn: Conn, venue: int, at: At) -> None:
    hall = add_resource(conn, venue, "Hall", capacity=100)
    set_rules(conn, venue, min_party=2, max_party=8)
    refuse(conn, "BK014", BOOK, (venue, [hall], at(10), at(11), 1, None))
    refuse(conn, "BK014", BOOK, (venue, [hall], at(10), at(11), 9, None))
    assert book(conn, venue, [hall], at(10), at(11), party_size=8)


# -- minimum age ---------------------------------------------------------------------------


def _born(at: datetime, years: int, days: int = 0) -> str:
    day = at.date()
    return (day.replace(year=day.year - years) + timedelta(days=days)).isoformat()


def test_min_age_refuses_a_customer_too_young_on_the_day_bk016(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    set_rules(conn, venue, min_age=18)
    young = {"name": "Sam", "date_of_birth": _born(at(10), 18, days=1)}
    exactly = {"name": "Kim", "date_of_birth": _born(at(10), 18)}
    refuse(conn, "BK016", BOOK, (venue, [table], at(10), at(11), 1, Jsonb(young)))
    assert book(conn, venue, [table], at(10), at(11)) is not None
    booked = one(
        conn,
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, 1, %s)",
        (venue, [table], at(12), at(13), Jsonb(exactly)),
    )
    assert booked["customer"] == exactly
    # No date of birth: nothing to check.
    assert one(
        conn,
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, 1, %s)",
        (venue, [table], at(14), at(15), Jsonb({"name": "Anon"})),
    )


def test_min_age_is_checked_when_a_hold_is_confirmed(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    set_rules(conn, venue, min_age=21)
    mine = hold(conn, venue, [table], at(10), at(11))
    young = {"date_of_birth": _born(at(10), 20)}
    refuse(
        conn,
        "BK016",
        "SELECT * FROM bookingdb.confirm_hold(%s, %s, %s)",
        (venue, mine["id"], Jsonb(young)),
    )
    assert get(conn, venue, mine["id"])["status"] == "held"
    old = {"date_of_birth": _born(at(10), 40)}
    confirmed = one(
        conn, "SELECT * FROM bookingdb.confirm_hold(%s, %s, %s)", (venue, mine["id"], Jsonb(old))
    )
    assert confirmed["status"] == "confirmed"


@pytest.mark.parametrize(
    "born", ["1990-13-01", "1990-02-30", "01/02/1990", "yesterday", 19900101, ""]
)
def test_a_date_of_birth_that_is_not_an_iso_date_is_refused_bk008(
    conn: Conn, venue: int, at: At, born: object
) -> None:
    table = add_resource(conn, venue, "T1")
    customer = Jsonb({"date_of_birth": born})
    refuse(conn, "BK008", BOOK, (venue, [table], at(10), at(11), 1, customer))


# -- buffers -------------------------------------------------------------------------------


def test_venue_buffers_apply_to_resources_without_their_own(conn: Conn, venue: int, at: At) -> None:
    before = add_resource(conn, venue, "Existing")
    set_rules(conn, venue, buffer_after="30 minutes")
    after = add_resource(conn, venue, "New")
    own = add_resource(conn, venue, "Own")
    conn.execute("SELECT bookingdb.set_resource_buffers(%s, %s, '0', '5 minutes')", (venue, own))
    set_rules(conn, venue, buffer_after="20 minutes")
    found = {
        r["resource_id"]: r["buffer_after"]
        for r in rows(
            conn,
            "SELECT resource_id, buffer_after FROM bookingdb.resources WHERE venue_id = %s",
            (venue,),
        )
    }
    assert found == {
        before: timedelta(minutes=20),
        after: timedelta(minutes=20),
        own: timedelta(minutes=5),
    }


def test_buffers_are_guaranteed_by_the_same_constraint(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    conn.execute(
        "SELECT bookingdb.set_resource_buffers(%s, %s, '10 minutes', '15 minutes')",
        (venue, table),
    )
    first = book(conn, venue, [table], at(10), at(11))
    blocked = scalar(
        conn,
        "SELECT blocked FROM bookingdb.allocations WHERE venue_id = %s AND booking_id = %s",
        (venue, first["id"]),
    )
    assert (blocked.lower, blocked.upper) == (
        at(10) - timedelta(minutes=10),
        at(11) + timedelta(minutes=15),
    )
    # Starting 20 minutes after the end: our 10 minutes before would meet its 15 after.
    refuse(conn, "BK001", BOOK, (venue, [table], at(11.3333), at(12), 1, None))
    assert book(conn, venue, [table], at(11) + timedelta(minutes=25), at(12))
    assert violations(conn) == []


@pytest.mark.parametrize(
    ("before", "after"),
    [("-1 minute", "0"), ("0", "25 hours"), (None, "0")],
)
def test_bad_resource_buffers_are_refused_bk010(
    conn: Conn, venue: int, before: str | None, after: str
) -> None:
    table = add_resource(conn, venue, "T1")
    refuse(
        conn,
        "BK010",
        "SELECT bookingdb.set_resource_buffers(%s, %s, %s::interval, %s::interval)",
        (venue, table, before, after),
    )


def test_settings_of_a_resource_in_another_venue_are_refused_bk007(
    conn: Conn, venue: int, other_venue: int
) -> None:
    theirs = add_resource(conn, other_venue, "Theirs")
    mine = add_resource(conn, venue, "Mine")
    for call in (
        "set_resource_buffers(%s, %s, '0', '0')",
        "set_resource_pricing(%s, %s, 100, 0)",
    ):
        refuse(conn, "BK007", f"SELECT bookingdb.{call}", (venue, theirs))
    refuse(conn, "BK007", "SELECT bookingdb.link_resources(%s, %s, %s)", (venue, mine, theirs))


# -- pricing and deposits ------------------------------------------------------------------


def test_a_bookings_deposit_is_the_sum_of_its_resources_times_quantity(
    conn: Conn, venue: int, at: At
) -> None:
    a = add_resource(conn, venue, "A", seats_max=4)
    b = add_resource(conn, venue, "B", seats_max=4)
    room = add_resource(conn, venue, "Class", capacity=10)
    conn.execute(
        "SELECT bookingdb.set_resource_pricing(%s, %s, 1500, 5000, 'upstairs')", (venue, a)
    )
    conn.execute("SELECT bookingdb.set_resource_pricing(%s, %s, 2500, 0)", (venue, b))
    conn.execute("SELECT bookingdb.set_resource_pricing(%s, %s, 700, 0)", (venue, room))
    assert book(conn, venue, [a, b], at(10), at(12), party_size=6)["total_deposit_cents"] == 4000
    assert book(conn, venue, [room], at(10), at(11), quantity=3)["total_deposit_cents"] == 2100
    moved = book(conn, venue, [a], at(13), at(14))
    assert moved["total_deposit_cents"] == 1500
    moved = one(
        conn,
        "SELECT * FROM bookingdb.reschedule_booking(%s, %s, 1, %s, %s, %s)",
        (venue, moved["id"], at(15), at(16), [b]),
    )
    assert moved["total_deposit_cents"] == 2500
    zones = rows(
        conn,
        "SELECT resource_id, zone FROM bookingdb.resources WHERE venue_id = %s ORDER BY 1",
        (venue,),
    )
    assert [z["zone"] for z in zones] == ["upstairs", None, None]


def test_pricing_keeps_the_zone_when_none_is_given_and_an_empty_zone_removes_it(
    conn: Conn, venue: int
) -> None:
    table = add_resource(conn, venue, "T1")
    zone = "SELECT zone FROM bookingdb.resources WHERE venue_id = %s AND resource_id = %s"
    conn.execute("SELECT bookingdb.set_resource_pricing(%s, %s, 0, 0, 'terrace')", (venue, table))
    conn.execute("SELECT bookingdb.set_resource_pricing(%s, %s, 100, 0)", (venue, table))
    assert scalar(conn, zone, (venue, table)) == "terrace"
    conn.execute("SELECT bookingdb.set_resource_pricing(%s, %s, 100, 0, '')", (venue, table))
    assert scalar(conn, zone, (venue, table)) is None


@pytest.mark.parametrize(("deposit", "spend"), [(-1, 0), (0, -1), (None, 0)])
def test_negative_or_missing_amounts_are_refused_bk010(
    conn: Conn, venue: int, deposit: int | None, spend: int
) -> None:
    table = add_resource(conn, venue, "T1")
    refuse(
        conn,
        "BK010",
        "SELECT bookingdb.set_resource_pricing(%s, %s, %s, %s)",
        (venue, table, deposit, spend),
    )


def test_links_join_two_different_tables_once(conn: Conn, venue: int) -> None:
    a = add_resource(conn, venue, "A")
    b = add_resource(conn, venue, "B")
    room = add_resource(conn, venue, "Room", capacity=5)
    conn.execute("SELECT bookingdb.link_resources(%s, %s, %s)", (venue, b, a))
    conn.execute("SELECT bookingdb.link_resources(%s, %s, %s)", (venue, a, b))
    links = rows(conn, "SELECT a, b FROM bookingdb.resource_links WHERE venue_id = %s", (venue,))
    assert links == [{"a": a, "b": b}]
    refuse(conn, "BK010", "SELECT bookingdb.link_resources(%s, %s, %s)", (venue, a, a))
    refuse(conn, "BK010", "SELECT bookingdb.link_resources(%s, %s, %s)", (venue, a, room))
    conn.execute("SELECT bookingdb.unlink_resources(%s, %s, %s)", (venue, b, a))
    assert rows(conn, "SELECT * FROM bookingdb.resource_links WHERE venue_id = %s", (venue,)) == []


# -- pending requests ----------------------------------------------------------------------

PENDING = "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, status => 'pending')"


def test_a_pending_request_occupies_its_slot(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    request = one(conn, PENDING, (venue, [table], at(10), at(12)))
    assert (request["status"], request["version"]) == ("pending", 1)
    refuse(conn, "BK001", BOOK, (venue, [table], at(11), at(13), 1, None))
    assert available(conn, venue, [table], at(10), at(12)) is False
    assert violations(conn) == []


def test_approve_confirms_a_pending_request_with_a_version_check(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    request = one(conn, PENDING, (venue, [table], at(10), at(12)))
    approve = "SELECT * FROM bookingdb.approve_booking(%s, %s, %s)"
    refuse(conn, "BK004", approve, (venue, request["id"], 7))
    approved = one(conn, approve, (venue, request["id"], 1))
    assert (approved["status"], approved["version"]) == ("confirmed", 2)
    refuse(conn, "BK006", approve, (venue, request["id"], None))
    refuse(conn, "BK007", approve, (venue, 987654, None))
    assert available(conn, venue, [table], at(10), at(12)) is False
    actions = [
        r["action"]
        for r in rows(
            conn,
            "SELECT action FROM bookingdb.audit_log WHERE venue_id = %s AND booking_id = %s"
            " ORDER BY version",
            (venue, request["id"]),
        )
    ]
    assert actions == ["create", "confirmed"]


def test_reject_frees_the_slot_and_records_the_reason(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    request = one(conn, PENDING, (venue, [table], at(10), at(12)))
    reject = "SELECT * FROM bookingdb.reject_booking(%s, %s, %s, %s)"
    refuse(conn, "BK004", reject, (venue, request["id"], 2, "full"))
    rejected = one(conn, reject, (venue, request["id"], 1, "fully booked that night"))
    assert (rejected["status"], rejected["cancel_reason"]) == (
        "rejected",
        "fully booked that night",
    )
    refuse(conn, "BK006", reject, (venue, request["id"], None, None))
    assert book(conn, venue, [table], at(10), at(12))
    assert violations(conn) == []


def test_only_pending_bookings_are_approved_or_rejected(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    confirmed = book(conn, venue, [table], at(10), at(11))
    held = hold(conn, venue, [table], at(12), at(13))
    for booking in (confirmed, held):
        refuse(
            conn, "BK006", "SELECT * FROM bookingdb.approve_booking(%s, %s)", (venue, booking["id"])
        )
        refuse(
            conn, "BK006", "SELECT * FROM bookingdb.reject_booking(%s, %s)", (venue, booking["id"])
        )


def test_a_pending_request_can_be_cancelled_or_moved(conn: Conn, venue: int, at: At) -> None:
    table = add_resource(conn, venue, "T1")
    request = one(conn, PENDING, (venue, [table], at(10), at(12)))
    moved = one(
        conn,
        "SELECT * FROM bookingdb.reschedule_booking(%s, %s, 1, %s, %s)",
        (venue, request["id"], at(14), at(15)),
    )
    assert (moved["status"], moved["starts_at"]) == ("pending", at(14))
    cancelled = one(
        conn, "SELECT * FROM bookingdb.cancel_booking(%s, %s, 2)", (venue, request["id"])
    )
    assert cancelled["status"] == "cancelled"


@pytest.mark.parametrize("status", ["held", "cancelled", "bogus", None])
def test_create_booking_atomic_takes_confirmed_or_pending_only_bk008(
    conn: Conn, venue: int, at: At, status: str | None
) -> None:
    table = add_resource(conn, venue, "T1")
    refuse(
        conn,
        "BK008",
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, status => %s)",
        (venue, [table], at(10), at(12), status),
    )


def test_a_pending_request_replays_by_idempotency_key_and_differs_from_a_confirmed_one(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    query = (
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, idempotency_key => 'k',"
        " status => %s)"
    )
    first = one(conn, query, (venue, [table], at(10), at(12), "pending"))
    assert one(conn, query, (venue, [table], at(10), at(12), "pending"))["id"] == first["id"]
    refuse(conn, "BK005", query, (venue, [table], at(10), at(12), "confirmed"))


def test_list_resources_shows_settings_and_links(conn: Conn, venue: int) -> None:
    a = add_resource(conn, venue, "A", seats_min=2, seats_max=4)
    b = add_resource(conn, venue, "B")
    room = add_resource(conn, venue, "Class", capacity=12, kind="class")
    conn.execute("SELECT bookingdb.link_resources(%s, %s, %s)", (venue, b, a))
    conn.execute("SELECT bookingdb.set_resource_pricing(%s, %s, 500, 2000, 'patio')", (venue, a))
    conn.execute("SELECT bookingdb.set_resource_buffers(%s, %s, '5 minutes', '0')", (venue, room))
    listed = rows(conn, "SELECT * FROM bookingdb.list_resources(%s)", (venue,))
    assert [(r["resource_id"], r["name"], r["linked_to"]) for r in listed] == [
        (a, "A", [b]),
        (b, "B", [a]),
        (room, "Class", []),
    ]
    assert (listed[0]["seats_min"], listed[0]["seats_max"], listed[0]["zone"]) == (2, 4, "patio")
    assert (listed[0]["deposit_cents"], listed[0]["min_spend_cents"]) == (500, 2000)
    assert (listed[2]["capacity"], listed[2]["kind"]) == (12, "class")
    assert listed[2]["buffer_before"] == timedelta(minutes=5)
    refuse(conn, "BK007", "SELECT * FROM bookingdb.list_resources(987654)")


def test_a_replay_returns_the_booking_even_after_the_rules_changed(
    conn: Conn, venue: int, at: At
) -> None:
    table = add_resource(conn, venue, "T1")
    query = "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, idempotency_key => 'k1')"
    first = one(conn, query, (venue, [table], at(10), at(11)))
    # The start is now within the notice period and outside the hours; the
    # same request still gets its booking back (I5), nothing new is written.
    set_rules(conn, venue, min_notice="30 days")
    conn.execute("SELECT bookingdb.set_date_override(%s, %s)", (venue, at(10).date()))
    assert one(conn, query, (venue, [table], at(10), at(11)))["id"] == first["id"]
    assert one(conn, query, (venue, [table, table], at(10), at(11)))["id"] == first["id"]
    refuse(conn, "BK005", query, (venue, [table], at(10), at(12)))


@pytest.mark.parametrize("session_zone", ["UTC", "Europe/London", "Pacific/Chatham"])
def test_a_day_long_buffer_is_24_hours_whatever_the_session_zone(
    conn: Conn, venue: int, session_zone: str
) -> None:
    table = add_resource(conn, venue, "T1")
    conn.execute("SELECT bookingdb.set_resource_buffers(%s, %s, '0', '1 day')", (venue, table))
    conn.execute("SELECT set_config('TimeZone', %s, false)", (session_zone,))
    starts = scalar(conn, "SELECT date_trunc('hour', now()) + interval '3 days'")
    booked = book(conn, venue, [table], starts, starts + timedelta(hours=1))
    blocked = scalar(
        conn,
        "SELECT blocked FROM bookingdb.allocations WHERE venue_id = %s AND booking_id = %s",
        (venue, booked["id"]),
    )
    assert blocked.upper - blocked.lower == timedelta(hours=25)
