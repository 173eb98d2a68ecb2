"""The availability engine: availability, free_time, check_availability_many,
suggest_alternatives and table_combinations answer from the same rules and
occupancy as the writers, in one call each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from contract_kit import (
    Conn,
    add_resource,
    available,
    book,
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
H = timedelta(hours=1)

AVAILABILITY = (
    "SELECT * FROM bookingdb.availability(%s, tstzrange(%s, %s), %s::interval, %s::interval, %s,"
    " %s, %s)"
)


def slots(
    conn: Conn,
    venue: int,
    window: tuple[datetime, datetime],
    duration: str = "1 hour",
    step: str | None = "1 hour",
    resource_ids: list[int] | None = None,
    party_size: int = 1,
    quantity: int = 1,
) -> list[tuple[int, datetime, int]]:
    return [
        (r["resource_id"], r["starts_at"], r["remaining"])
        for r in rows(
            conn,
            AVAILABILITY,
            (venue, *window, duration, step, resource_ids, party_size, quantity),
        )
    ]


# -- availability ----------------------------------------------------------------------------


def test_availability_lists_every_free_slot_on_the_grid(conn: Conn, venue: int, at: At) -> None:
    a = add_resource(conn, venue, "A")
    b = add_resource(conn, venue, "B")
    book(conn, venue, [a], at(11), at(13))
    found = slots(conn, venue, (at(10), at(15)))
    assert found == [
        (a, at(10), 1),
        (a, at(13), 1),
        (a, at(14), 1),
        *[(b, at(h), 1) for h in range(10, 15)],
    ]
    # Every slot ends inside the window and has the asked duration.
    for r in rows(conn, AVAILABILITY, (venue, at(10), at(15), "1 hour", "1 hour", None, 1, 1)):
        assert r["ends_at"] - r["starts_at"] == H and r["ends_at"] <= at(15)


def test_the_step_defaults_to_the_venues_slot_step(conn: Conn, venue: int, at: At) -> None:
    a = add_resource(conn, venue, "A")
    found = slots(conn, venue, (at(10), at(11)), duration="30 minutes", step=None)
    assert [s for _, s, _ in found] == [at(10), at(10.25), at(10.5)]
    set_rules(conn, venue, slot_step="20 minutes")
    found = slots(conn, venue, (at(10), at(11)), duration="20 minutes", step=None, resource_ids=[a])
    assert [s for _, s, _ in found] == [
        at(10),
        at(10) + timedelta(minutes=20),
        at(10) + timedelta(minutes=40),
    ]


def test_lapsed_holds_count_as_free_and_live_holds_as_taken(conn: Conn, venue: int, at: At) -> None:
    a = add_resource(conn, venue, "A")
    hold(conn, venue, [a], at(10), at(11), ttl="1 microsecond")
    hold(conn, venue, [a], at(12), at(13))
    found = slots(conn, venue, (at(10), at(14)), resource_ids=[a])
    assert [s for _, s, _ in found] == [at(10), at(11), at(13)]


def test_buffers_keep_slots_next_to_a_booking_out(conn: Conn, venue: int, at: At) -> None:
    a = add_resource(conn, venue, "A")
    conn.execute("SELECT bookingdb.set_resource_buffers(%s, %s, '0', '30 minutes')", (venue, a))
    book(conn, venue, [a], at(10), at(11))
    found = slots(conn, venue, (at(9), at(13)), step="30 minutes", resource_ids=[a])
    # 09:00-10:00 ends where ours begins, but its own 30 minutes after would meet it.
    assert [s for _, s, _ in found] == [at(11.5), at(12)]


def test_shared_resources_report_remaining_units(conn: Conn, venue: int, at: At) -> None:
    room = add_resource(conn, venue, "Class", capacity=5)
    book(conn, venue, [room], at(10), at(11), quantity=3)
    book(conn, venue, [room], at(11), at(12), quantity=5)
    found = slots(conn, venue, (at(9), at(13)), resource_ids=[room])
    assert found == [(room, at(9), 5), (room, at(10), 2), (room, at(12), 5)]
    found = slots(conn, venue, (at(9), at(13)), resource_ids=[room], quantity=3)
    assert found == [(room, at(9), 5), (room, at(12), 5)]
    two_hours = slots(conn, venue, (at(9), at(13)), duration="2 hours", resource_ids=[room])
    # 09:00-11:00 counts its busiest instant (3 in use); the later two meet the full hour.
    assert two_hours == [(room, at(9), 2)]


def test_only_resources_that_fit_the_party_and_quantity_are_offered(
    conn: Conn, venue: int, at: At
) -> None:
    two = add_resource(conn, venue, "Two-top", seats_max=2)
    six = add_resource(conn, venue, "Six-top", seats_min=3, seats_max=6)
    room = add_resource(conn, venue, "Class", capacity=3)
    ids = {r for r, _, _ in slots(conn, venue, (at(10), at(11)), party_size=4)}
    assert ids == {six, room}
    ids = {r for r, _, _ in slots(conn, venue, (at(10), at(11)), party_size=1)}
    assert ids == {two, room}
    ids = {r for r, _, _ in slots(conn, venue, (at(10), at(11)), quantity=2)}
    assert ids == {room}


def test_notice_advance_and_hours_bound_the_slots(conn: Conn, venue: int, at: At) -> None:
    a = add_resource(conn, venue, "A")
    now = scalar(conn, "SELECT now()")
    found = slots(conn, venue, (now - 5 * H, now + 5 * H), step="30 minutes", resource_ids=[a])
    assert found and all(s >= now for _, s, _ in found)
    set_rules(conn, venue, min_notice="3 hours", max_advance="4 hours")
    found = slots(conn, venue, (now - 5 * H, now + 9 * H), step="30 minutes", resource_ids=[a])
    assert found
    assert all(now + 3 * H <= s <= now + 4 * H for _, s, _ in found)


def test_a_window_in_the_past_or_past_max_advance_has_no_slots(conn: Conn, venue: int) -> None:
    add_resource(conn, venue, "A")
    now = scalar(conn, "SELECT now()")
    assert slots(conn, venue, (now - 10 * H, now - 2 * H)) == []
    far = now + timedelta(days=250)
    assert slots(conn, venue, (far, far + 5 * H)) == []


@pytest.mark.parametrize(
    ("window", "duration", "step", "code"),
    [
        ("empty", "1 hour", None, "BK011"),
        ("(,)", "1 hour", None, "BK011"),
        ("[2030-01-01,infinity)", "1 hour", None, "BK011"),
        ("[2030-01-01,2031-06-01)", "1 hour", None, "BK008"),
        ("[2030-01-01,2030-01-02)", "0", None, "BK008"),
        ("[2030-01-01,2030-01-02)", "-1 hour", None, "BK008"),
        ("[2030-01-01,2030-01-02)", "40 days", None, "BK008"),
        ("[2030-01-01,2030-01-02)", "1 hour", "0", "BK008"),
        ("[2030-01-01,2030-01-02)", "1 hour", "10 seconds", "BK008"),
        ("[2030-01-01,2030-01-02)", None, None, "BK008"),
    ],
)
def test_bad_availability_questions_are_refused(
    conn: Conn, venue: int, window: str, duration: str | None, step: str | None, code: str
) -> None:
    add_resource(conn, venue, "A")
    refuse(
        conn,
        code,
        "SELECT * FROM bookingdb.availability(%s, %s::tstzrange, %s::interval, %s::interval)",
        (venue, window, duration, step),
    )


def test_availability_refuses_unknown_venues_resources_parties_and_quantities(
    conn: Conn, venue: int, other_venue: int, at: At
) -> None:
    theirs = add_resource(conn, other_venue, "Theirs")
    refuse(conn, "BK007", AVAILABILITY, (987654, at(10), at(12), "1 hour", None, None, 1, 1))
    refuse(conn, "BK007", AVAILABILITY, (venue, at(10), at(12), "1 hour", None, [theirs], 1, 1))
    refuse(conn, "BK008", AVAILABILITY, (venue, at(10), at(12), "1 hour", None, [], 1, 1))
    refuse(conn, "BK014", AVAILABILITY, (venue, at(10), at(12), "1 hour", None, None, 51, 1))
    refuse(conn, "BK017", AVAILABILITY, (venue, at(10), at(12), "1 hour", None, None, 1, 0))


def test_every_offered_slot_is_accepted_by_create_booking_atomic(
    conn: Conn, venue: int, at: At
) -> None:
    tables = [add_resource(conn, venue, f"T{i}", seats_max=4) for i in range(3)]
    book(conn, venue, [tables[0]], at(10), at(11.5))
    book(conn, venue, [tables[1]], at(12), at(13))
    offered = slots(conn, venue, (at(9), at(14)), duration="90 minutes", step="30 minutes")
    assert offered
    for resource, starts, _ in offered:
        assert available(conn, venue, [resource], starts, starts + timedelta(minutes=90))
    # Book them greedily in order: each offered slot is either bookable or
    # overlaps one we just booked on the same resource.
    taken: dict[int, list[datetime]] = {}
    for resource, starts, _ in offered:
        if any(abs(starts - t) < timedelta(minutes=90) for t in taken.get(resource, [])):
            continue
        book(conn, venue, [resource], starts, starts + timedelta(minutes=90))
        taken.setdefault(resource, []).append(starts)
    assert violations(conn) == []


# -- free_time ----------------------------------------------------------------------------------


def test_free_time_is_the_window_minus_what_is_taken(conn: Conn, venue: int, at: At) -> None:
    a = add_resource(conn, venue, "A")
    conn.execute("SELECT bookingdb.set_resource_buffers(%s, %s, '0', '15 minutes')", (venue, a))
    book(conn, venue, [a], at(10), at(11))
    free = scalar(
        conn, "SELECT bookingdb.free_time(%s, %s, tstzrange(%s, %s))", (venue, a, at(8), at(14))
    )
    assert [(p.lower, p.upper) for p in free] == [(at(8), at(10)), (at(11.25), at(14))]


def test_free_time_of_a_shared_resource_is_where_a_unit_is_left(
    conn: Conn, venue: int, at: At
) -> None:
    room = add_resource(conn, venue, "Class", capacity=2)
    book(conn, venue, [room], at(10), at(12))
    book(conn, venue, [room], at(11), at(13))
    free = scalar(
        conn, "SELECT bookingdb.free_time(%s, %s, tstzrange(%s, %s))", (venue, room, at(9), at(14))
    )
    assert [(p.lower, p.upper) for p in free] == [(at(9), at(11)), (at(12), at(14))]


def test_free_time_refuses_unknown_resources_and_bad_windows(
    conn: Conn, venue: int, other_venue: int, at: At
) -> None:
    theirs = add_resource(conn, other_venue, "Theirs")
    mine = add_resource(conn, venue, "Mine")
    query = "SELECT bookingdb.free_time(%s, %s, %s::tstzrange)"
    refuse(conn, "BK007", query, (venue, theirs, "[2030-01-01,2030-01-02)"))
    refuse(conn, "BK011", query, (venue, mine, "empty"))
    refuse(conn, "BK011", query, (venue, mine, None))


# -- check_availability_many -------------------------------------------------------------------


def test_many_answers_one_row_per_request_in_order(conn: Conn, venue: int, at: At) -> None:
    a = add_resource(conn, venue, "A")
    room = add_resource(conn, venue, "Class", capacity=4)
    book(conn, venue, [a], at(10), at(11))
    book(conn, venue, [room], at(10), at(11), quantity=3)
    requests = [
        {"resource_ids": [a], "starts_at": at(10).isoformat(), "ends_at": at(11).isoformat()},
        {"resource_ids": [a], "starts_at": at(11).isoformat(), "ends_at": at(12).isoformat()},
        {"resource_ids": [room], "starts_at": at(10).isoformat(), "ends_at": at(11).isoformat()},
        {
            "resource_ids": [room],
            "starts_at": at(10).isoformat(),
            "ends_at": at(11).isoformat(),
            "quantity": 2,
        },
        {"resource_ids": [a, room], "starts_at": at(12).isoformat(), "ends_at": at(13).isoformat()},
    ]
    answers = rows(
        conn, "SELECT * FROM bookingdb.check_availability_many(%s, %s)", (venue, Jsonb(requests))
    )
    assert answers == [
        {"idx": 0, "available": False},
        {"idx": 1, "available": True},
        {"idx": 2, "available": True},
        {"idx": 3, "available": False},
        {"idx": 4, "available": True},
    ]
    # The same answers as asking one by one.
    for answer, request in zip(answers, requests, strict=True):
        one_by_one = available(
            conn,
            venue,
            request["resource_ids"],
            datetime.fromisoformat(request["starts_at"]),
            datetime.fromisoformat(request["ends_at"]),
            quantity=int(request.get("quantity", 1)),
        )
        assert answer["available"] is one_by_one


def test_many_reads_times_without_an_offset_as_the_venues_local_time(
    conn: Conn, venue: int, at: At
) -> None:
    conn.execute("SET TimeZone = 'Asia/Tokyo'")
    a = add_resource(conn, venue, "A")
    booked = book(conn, venue, [a], at(10), at(11))
    local_start = scalar(
        conn,
        "SELECT to_char(%s AT TIME ZONE 'Europe/London', 'YYYY-MM-DD\"T\"HH24:MI')",
        (booked["starts_at"],),
    )
    local_end = scalar(
        conn,
        "SELECT to_char(%s AT TIME ZONE 'Europe/London', 'YYYY-MM-DD\"T\"HH24:MI')",
        (booked["ends_at"],),
    )
    answers = rows(
        conn,
        "SELECT available FROM bookingdb.check_availability_many(%s, %s)",
        (venue, Jsonb([{"resource_ids": [a], "starts_at": local_start, "ends_at": local_end}])),
    )
    assert answers == [{"available": False}]


def test_many_answers_an_empty_list_with_no_rows(conn: Conn, venue: int) -> None:
    assert rows(conn, "SELECT * FROM bookingdb.check_availability_many(%s, '[]')", (venue,)) == []


SPAN = '"starts_at": "2030-01-01T10:00Z", "ends_at": "2030-01-01T11:00Z"'
MALFORMED = [
    ('{{"resource_ids": [{t}]}}', "BK008"),
    ("[1, 2]", "BK008"),
    ("[{{" + SPAN + "}}]", "BK008"),
    ('[{{"resource_ids": ["x"], ' + SPAN + "}}]", "BK008"),
    ('[{{"resource_ids": [], ' + SPAN + "}}]", "BK008"),
    ('[{{"resource_ids": [{t}], "quantity": "2", ' + SPAN + "}}]", "BK008"),
    ('[{{"resource_ids": [{t}], "starts_at": "tomorrow", "ends_at": "2030-01-01T11:00Z"}}]',
     "BK008"),
    ('[{{"resource_ids": [{t}], "starts_at": "2030-01-01T10:00Z"}}]', "BK008"),
    ('[{{"resource_ids": [{t}], "starts_at": "2030-01-01T12:00Z",'
     ' "ends_at": "2030-01-01T11:00Z"}}]', "BK011"),
    ('[{{"resource_ids": [{t}], "quantity": 0, ' + SPAN + "}}]", "BK017"),
    ('[{{"resource_ids": [987654], ' + SPAN + "}}]", "BK007"),
    ('[{{"resource_ids": [{t}], "starts_at": "2030-02-30T10:00Z",'
     ' "ends_at": "2030-03-01T11:00Z"}}]', "BK008"),
    ('[{{"resource_ids": [{t}], "starts_at": "2030-02-01T10:00",'
     ' "ends_at": "2030-02-01T11:00+99"}}]', "BK008"),
]  # fmt: skip


@pytest.mark.parametrize(("requests", "code"), MALFORMED)
def test_malformed_requests_are_refused(conn: Conn, venue: int, requests: str, code: str) -> None:
    table = add_resource(conn, venue, "T1")
    error = refuse(
        conn,
        code,
        "SELECT * FROM bookingdb.check_availability_many(%s, %s::jsonb)",
        (venue, requests.format(t=table)),
    )
    if code == "BK008" and requests.startswith("[{"):
        assert "request 0" in (error.diag.message_detail or "")


def test_many_refuses_more_than_a_thousand_requests(conn: Conn, venue: int) -> None:
    request = {
        "resource_ids": [1],
        "starts_at": "2030-01-01T10:00Z",
        "ends_at": "2030-01-01T11:00Z",
    }
    refuse(
        conn,
        "BK008",
        "SELECT * FROM bookingdb.check_availability_many(%s, %s)",
        (venue, Jsonb([request] * 1001)),
    )


# -- suggest_alternatives -----------------------------------------------------------------------


def test_alternatives_to_a_taken_slot_are_free_near_and_ranked(
    conn: Conn, venue: int, at: At
) -> None:
    mine = add_resource(conn, venue, "Four-top", seats_max=4)
    other = add_resource(conn, venue, "Six-top", seats_max=6)
    add_resource(conn, venue, "Two-top", seats_max=2)
    book(conn, venue, [mine], at(19), at(21))
    refuse(
        conn,
        "BK001",
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s, 3)",
        (venue, [mine], at(19), at(21)),
    )
    found = rows(
        conn,
        "SELECT * FROM bookingdb.suggest_alternatives(%s, %s, %s, %s, 3, 6)",
        (venue, [mine], at(19), at(21)),
    )
    assert len(found) == 6
    scores = [r["score"] for r in found]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    # Best: the same time on the other table that seats 3 (the two-top does not).
    assert (found[0]["resource_id"], found[0]["starts_at"]) == (other, at(19))
    assert all(r["resource_id"] in (mine, other) for r in found)
    for r in found:
        assert r["ends_at"] - r["starts_at"] == 2 * H
        assert abs(r["starts_at"] - at(19)) <= timedelta(days=1)
        assert available(conn, venue, [r["resource_id"]], r["starts_at"], r["ends_at"])


@pytest.mark.parametrize("max_results", [0, 101, None])
def test_alternatives_refuse_a_bad_max_results(
    conn: Conn, venue: int, at: At, max_results: int | None
) -> None:
    table = add_resource(conn, venue, "T1")
    refuse(
        conn,
        "BK008",
        "SELECT * FROM bookingdb.suggest_alternatives(%s, %s, %s, %s, 1, %s)",
        (venue, [table], at(10), at(11), max_results),
    )


def test_alternatives_refuse_unknown_resources_and_bad_ranges(
    conn: Conn, venue: int, other_venue: int, at: At
) -> None:
    theirs = add_resource(conn, other_venue, "Theirs")
    mine = add_resource(conn, venue, "Mine")
    query = "SELECT * FROM bookingdb.suggest_alternatives(%s, %s, %s, %s)"
    refuse(conn, "BK007", query, (venue, [theirs], at(10), at(11)))
    refuse(conn, "BK011", query, (venue, [mine], at(11), at(10)))
    refuse(conn, "BK008", query, (venue, [], at(10), at(11)))


# -- table_combinations --------------------------------------------------------------------------

COMBOS = "SELECT * FROM bookingdb.table_combinations(%s, %s, %s, %s, %s)"


def _floor(conn: Conn, venue: int) -> dict[str, int]:
    """Four-tops A-B-C in a row (linked), a six-top D linked to C, a two-top E
    upstairs linked to nothing, F (upstairs four-top) linked to C across zones."""
    tables = {
        "A": add_resource(conn, venue, "A", seats_min=2, seats_max=4),
        "B": add_resource(conn, venue, "B", seats_min=2, seats_max=4),
        "C": add_resource(conn, venue, "C", seats_min=2, seats_max=4),
        "D": add_resource(conn, venue, "D", seats_min=3, seats_max=6),
        "E": add_resource(conn, venue, "E", seats_max=2),
        "F": add_resource(conn, venue, "F", seats_min=2, seats_max=4),
    }
    for name, spend, deposit in (("A", 0, 500), ("B", 3000, 500), ("C", 1000, 500), ("D", 2000, 0)):
        conn.execute(
            "SELECT bookingdb.set_resource_pricing(%s, %s, %s, %s, 'downstairs')",
            (venue, tables[name], deposit, spend),
        )
    for name in ("E", "F"):
        conn.execute(
            "SELECT bookingdb.set_resource_pricing(%s, %s, 0, 0, 'upstairs')", (venue, tables[name])
        )
    for a, b in (("A", "B"), ("B", "C"), ("C", "D"), ("C", "F")):
        conn.execute("SELECT bookingdb.link_resources(%s, %s, %s)", (venue, tables[a], tables[b]))
    return tables


def test_combinations_are_ranked_by_waste_then_spend_then_size(
    conn: Conn, venue: int, at: At
) -> None:
    t = _floor(conn, venue)
    found = rows(conn, COMBOS, (venue, at(19), at(21), 8, 3))
    sets = [tuple(r["resource_ids"]) for r in found]
    assert [r["rank"] for r in found] == [1, 2, 3]
    # 8 people: A+B and B+C seat exactly 8; A+B's minimum spend (3000) is
    # lower than B+C's (4000). C+D seats 10 (2 wasted). No single table seats
    # 8, and C+F is across zones.
    assert sets == [
        tuple(sorted((t["A"], t["B"]))),
        tuple(sorted((t["B"], t["C"]))),
        tuple(sorted((t["C"], t["D"]))),
    ]
    assert found[0]["wasted_seats"] == 0 and found[0]["total_min_spend_cents"] == 3000
    assert found[0]["total_deposit_cents"] == 1000 and found[0]["zone"] == "downstairs"
    assert (found[2]["wasted_seats"], found[2]["total_seats"]) == (2, 10)
    # Never across zones (C-F), never unlinked tables, never a set that
    # already fitted before its last table was added.
    for r in found:
        assert t["F"] not in r["resource_ids"] and t["E"] not in r["resource_ids"]
        assert r["total_seats"] >= 8 and r["wasted_seats"] == r["total_seats"] - 8
    assert all(len(r["resource_ids"]) <= 3 for r in found)


def test_a_single_table_that_fits_is_a_combination_of_one(conn: Conn, venue: int, at: At) -> None:
    t = _floor(conn, venue)
    found = rows(conn, COMBOS, (venue, at(19), at(21), 2, 3))
    assert found[0]["resource_ids"] == [t["E"]] and found[0]["wasted_seats"] == 0
    assert all(len(r["resource_ids"]) == 1 for r in found)


def test_taken_tables_are_left_out_and_the_best_set_books(conn: Conn, venue: int, at: At) -> None:
    t = _floor(conn, venue)
    book(conn, venue, [t["A"]], at(18), at(20), party_size=2)
    found = rows(conn, COMBOS, (venue, at(19), at(21), 8, 3))
    assert all(t["A"] not in r["resource_ids"] for r in found)
    best = found[0]
    booked = book(conn, venue, best["resource_ids"], at(19), at(21), party_size=8)
    assert booked["total_deposit_cents"] == best["total_deposit_cents"]
    again = rows(conn, COMBOS, (venue, at(19), at(21), 8, 3))
    assert all(not set(r["resource_ids"]) & set(best["resource_ids"]) for r in again)
    assert violations(conn) == []


def test_max_tables_limits_the_sets(conn: Conn, venue: int, at: At) -> None:
    t = _floor(conn, venue)
    assert rows(conn, COMBOS, (venue, at(19), at(21), 13, 2)) == []
    found = rows(conn, COMBOS, (venue, at(19), at(21), 13, 3))
    assert [r["resource_ids"] for r in found] == [sorted((t["B"], t["C"], t["D"]))]


def test_combinations_are_empty_when_the_venue_rules_refuse_the_time(
    conn: Conn, venue: int, at: At
) -> None:
    _floor(conn, venue)
    conn.execute("SELECT bookingdb.set_date_override(%s, %s)", (venue, at(19).date()))
    assert rows(conn, COMBOS, (venue, at(19), at(21), 4, 3)) == []


@pytest.mark.parametrize(
    ("party", "max_tables", "code"),
    [(51, 3, "BK014"), (0, 3, "BK014"), (4, 0, "BK008"), (4, 7, "BK008")],
)
def test_combinations_refuse_bad_arguments(
    conn: Conn, venue: int, at: At, party: int, max_tables: int, code: str
) -> None:
    refuse(conn, code, COMBOS, (venue, at(19), at(21), party, max_tables))
    refuse(conn, "BK011", COMBOS, (venue, at(21), at(19), 4, 3))
    refuse(conn, "BK007", COMBOS, (987654, at(19), at(21), 4, 3))


def test_one_call_each_is_enough_for_a_page(conn: Conn, venue: int, at: At) -> None:
    """The functions are usable from psql with positional SQL literals."""
    add_resource(conn, venue, "A", seats_max=4)
    count = scalar(
        conn,
        "SELECT count(*) FROM bookingdb.availability(%s, tstzrange(now() + interval '1 day',"
        " now() + interval '2 days'), '90 minutes')",
        (venue,),
    )
    assert count > 0
    one(conn, "SELECT bookingdb.local_range(%s, current_date + 3, '19:00', '01:00') AS r", (venue,))


def test_an_exclusive_window_start_excludes_a_slot_starting_there(
    conn: Conn, venue: int, at: At
) -> None:
    a = add_resource(conn, venue, "A")
    found = rows(
        conn,
        "SELECT starts_at FROM bookingdb.availability(%s, tstzrange(%s, %s, '()'), '1 hour',"
        " '1 hour', %s)",
        (venue, at(9), at(12), [a]),
    )
    assert [r["starts_at"] for r in found] == [at(10), at(11)]
