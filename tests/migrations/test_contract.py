"""The public SQL contract, read from the catalog of a migrated database.

Outside callers (psql users, other languages) call these functions by name,
argument order and argument names, and rely on which arguments may be left
out. The expected text is the contract of issue 2 as PostgreSQL prints it
(pg_get_function_arguments / pg_get_function_result), extended only by new
DEFAULT arguments (create_booking_atomic's status, issue 4). The venue-rules
and availability contract is checked in tests/sql/test_sql_contract.py.
"""

from __future__ import annotations

import psycopg

BOOKING = "bookingdb.booking"

CONTRACT = {
    "create_venue": ("name text, timezone text DEFAULT 'UTC'::text", "bigint"),
    "add_resource": (
        "venue_id bigint, name text, capacity integer DEFAULT 1, seats_min integer DEFAULT 1, "
        "seats_max integer DEFAULT NULL::integer, kind text DEFAULT 'table'::text",
        "bigint",
    ),
    "create_hold": (
        "venue_id bigint, resource_ids bigint[], starts_at timestamp with time zone, "
        "ends_at timestamp with time zone, party_size integer DEFAULT 1, "
        "quantity integer DEFAULT 1, idempotency_key text DEFAULT NULL::text, "
        "ttl interval DEFAULT NULL::interval",
        BOOKING,
    ),
    "confirm_hold": (
        "venue_id bigint, booking_id bigint, customer jsonb DEFAULT NULL::jsonb, "
        "payment_ref text DEFAULT NULL::text",
        BOOKING,
    ),
    "create_booking_atomic": (
        "venue_id bigint, resource_ids bigint[], starts_at timestamp with time zone, "
        "ends_at timestamp with time zone, party_size integer DEFAULT 1, "
        "customer jsonb DEFAULT NULL::jsonb, quantity integer DEFAULT 1, "
        "idempotency_key text DEFAULT NULL::text, status text DEFAULT 'confirmed'::text",
        BOOKING,
    ),
    "extend_hold": ("venue_id bigint, booking_id bigint, extra interval", BOOKING),
    "release_hold": ("venue_id bigint, booking_id bigint", BOOKING),
    "cancel_booking": (
        "venue_id bigint, booking_id bigint, expected_version integer DEFAULT NULL::integer, "
        "reason text DEFAULT NULL::text",
        BOOKING,
    ),
    "reschedule_booking": (
        "venue_id bigint, booking_id bigint, expected_version integer, "
        "starts_at timestamp with time zone, ends_at timestamp with time zone, "
        "resource_ids bigint[] DEFAULT NULL::bigint[]",
        BOOKING,
    ),
    "check_availability": (
        "venue_id bigint, resource_ids bigint[], starts_at timestamp with time zone, "
        "ends_at timestamp with time zone, quantity integer DEFAULT 1, "
        "exclude_booking_id bigint DEFAULT NULL::bigint",
        "boolean",
    ),
    "get_booking": ("venue_id bigint, booking_id bigint", BOOKING),
    "list_bookings": (
        "venue_id bigint, starts_at timestamp with time zone, ends_at timestamp with time zone",
        "SETOF bookingdb.booking_slot",
    ),
    "expire_holds": ("max_rows integer DEFAULT 1000", "integer"),
    "verify_invariants": ("", "TABLE(invariant text, detail text)"),
}

# A booking row has at least these columns (issue 2), and list_bookings
# returns exactly these.
BOOKING_ROW = {
    "id", "venue_id", "reference", "status", "starts_at", "ends_at", "party_size",
    "expires_at", "version", "created_at",
}  # fmt: skip
BOOKING_SLOT = [
    "booking_id", "reference", "status", "resource_id", "starts_at", "ends_at", "quantity",
    "expires_at", "version",
]  # fmt: skip

PUBLIC = """
    SELECT p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
           obj_description(p.oid, 'pg_proc')
      FROM pg_proc p
     WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname !~ '^_'
     ORDER BY 1, 2
"""


def test_the_public_functions_match_the_contract_exactly(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    found: dict[str, list[tuple[object, object]]] = {}
    for name, arguments, result, _ in conn.execute(PUBLIC):
        found.setdefault(str(name), []).append((arguments, result))

    # Exactly one signature each, the documented one or the documented one
    # grown by trailing DEFAULT arguments (never renamed or reordered).
    listed = {
        name: [
            (args, result) for args, result in found.get(name, []) if _extends(str(args), arguments)
        ]
        for name, (arguments, _) in CONTRACT.items()
    }
    assert {name: len(sigs) for name, sigs in listed.items()} == dict.fromkeys(CONTRACT, 1)
    assert {name: sigs[0][1] for name, sigs in listed.items()} == {
        name: result for name, (_, result) in CONTRACT.items()
    }


def _extends(actual: str, documented: str) -> bool:
    if actual == documented:
        return True
    extra = actual.removeprefix(documented + ", ")
    return extra != actual and all(" DEFAULT " in arg for arg in extra.split(", "))


def test_every_public_function_has_one_signature_and_a_comment(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    rows = conn.execute(PUBLIC).fetchall()
    names = [str(r[0]) for r in rows]
    assert sorted(set(names)) == sorted(names), "a public function has several overloads"
    undocumented = [r[0] for r in rows if not r[3] or len(str(r[3])) < 20]
    assert undocumented == []


def test_a_booking_row_has_the_promised_columns(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    columns = {
        str(r[0])
        for r in conn.execute(
            "SELECT a.attname FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid"
            " WHERE t.oid = 'bookingdb.booking'::regtype AND a.attnum > 0"
        )
    }
    assert columns >= BOOKING_ROW


def test_list_bookings_returns_the_promised_columns_in_order(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    venue = conn.execute("SELECT bookingdb.create_venue('Contract', 'UTC')").fetchone()
    assert venue is not None
    cursor = conn.execute(
        "SELECT * FROM bookingdb.list_bookings(%s, now(), now() + interval '1 day')", venue
    )
    assert cursor.description is not None
    assert [c.name for c in cursor.description] == BOOKING_SLOT


def test_the_functions_answer_with_named_arguments_as_psql_users_call_them(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    # Calls that leave out every defaulted argument, by name.
    venue = conn.execute("SELECT bookingdb.create_venue(name => 'Named')").fetchone()
    assert venue is not None
    table = conn.execute(
        "SELECT bookingdb.add_resource(venue_id => %s, name => 'table 1')", venue
    ).fetchone()
    assert table is not None
    hold = conn.execute(
        "SELECT id, status FROM bookingdb.create_hold(venue_id => %s, resource_ids => ARRAY[%s],"
        " starts_at => now() + interval '1 day', ends_at => now() + interval '25 hours')",
        (venue[0], table[0]),
    ).fetchone()
    assert hold is not None and hold[1] == "held"
    confirmed = conn.execute(
        "SELECT status FROM bookingdb.confirm_hold(venue_id => %s, booking_id => %s)",
        (venue[0], hold[0]),
    ).fetchone()
    assert confirmed == ("confirmed",)
    assert conn.execute("SELECT bookingdb.expire_holds()").fetchone() == (0,)
