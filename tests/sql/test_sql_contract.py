"""The public SQL contract as the issue states it: names, argument names,
order and defaults, result columns, comments. Outside code calls these from
psql or any driver; a change here breaks them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from contract_kit import BOOKING_COLUMNS, Conn, add_resource, one, rows, scalar
from psycopg import sql

# function name -> (arguments as pg_get_function_arguments prints them, result)
CONTRACT: dict[str, tuple[str, str]] = {
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
        "booking",
    ),
    "confirm_hold": (
        "venue_id bigint, booking_id bigint, customer jsonb DEFAULT NULL::jsonb, "
        "payment_ref text DEFAULT NULL::text",
        "booking",
    ),
    "create_booking_atomic": (
        "venue_id bigint, resource_ids bigint[], starts_at timestamp with time zone, "
        "ends_at timestamp with time zone, party_size integer DEFAULT 1, "
        "customer jsonb DEFAULT NULL::jsonb, quantity integer DEFAULT 1, "
        "idempotency_key text DEFAULT NULL::text, status text DEFAULT 'confirmed'::text",
        "booking",
    ),
    "extend_hold": ("venue_id bigint, booking_id bigint, extra interval", "booking"),
    "release_hold": ("venue_id bigint, booking_id bigint", "booking"),
    "cancel_booking": (
        "venue_id bigint, booking_id bigint, expected_version integer DEFAULT NULL::integer, "
        "reason text DEFAULT NULL::text",
        "booking",
    ),
    "reschedule_booking": (
        "venue_id bigint, booking_id bigint, expected_version integer, "
        "starts_at timestamp with time zone, ends_at timestamp with time zone, "
        "resource_ids bigint[] DEFAULT NULL::bigint[]",
        "booking",
    ),
    "check_availability": (
        "venue_id bigint, resource_ids bigint[], starts_at timestamp with time zone, "
        "ends_at timestamp with time zone, quantity integer DEFAULT 1, "
        "exclude_booking_id bigint DEFAULT NULL::bigint",
        "boolean",
    ),
    "get_booking": ("venue_id bigint, booking_id bigint", "booking"),
    "list_bookings": (
        "venue_id bigint, starts_at timestamp with time zone, ends_at timestamp with time zone",
        "setof",
    ),
    "expire_holds": ("max_rows integer DEFAULT 1000", "integer"),
    "verify_invariants": ("", "TABLE(invariant text, detail text)"),
    # Venue rules and the availability engine (issue 4).
    "set_venue_rules": ("venue_id bigint, rules jsonb", "void"),
    "set_opening_hours": (
        "venue_id bigint, weekday integer, opens time without time zone, "
        "closes time without time zone",
        "void",
    ),
    "clear_opening_hours": ("venue_id bigint, weekday integer DEFAULT NULL::integer", "void"),
    "set_date_override": (
        "venue_id bigint, day date, "
        "opens time without time zone DEFAULT NULL::time without time zone, "
        "closes time without time zone DEFAULT NULL::time without time zone",
        "void",
    ),
    "set_resource_buffers": (
        "venue_id bigint, resource_id bigint, before interval, after interval",
        "void",
    ),
    "set_resource_pricing": (
        "venue_id bigint, resource_id bigint, deposit_cents integer, min_spend_cents integer, "
        "zone text DEFAULT NULL::text",
        "void",
    ),
    "link_resources": ("venue_id bigint, a bigint, b bigint", "void"),
    "approve_booking": (
        "venue_id bigint, booking_id bigint, expected_version integer DEFAULT NULL::integer",
        "booking",
    ),
    "reject_booking": (
        "venue_id bigint, booking_id bigint, expected_version integer DEFAULT NULL::integer, "
        "reason text DEFAULT NULL::text",
        "booking",
    ),
    "availability": (
        'venue_id bigint, "window" tstzrange, duration interval, '
        "step interval DEFAULT NULL::interval, "
        "resource_ids bigint[] DEFAULT NULL::bigint[], party_size integer DEFAULT 1, "
        "quantity integer DEFAULT 1",
        "TABLE(resource_id bigint, starts_at timestamp with time zone, "
        "ends_at timestamp with time zone, remaining integer)",
    ),
    "free_time": ('venue_id bigint, resource_id bigint, "window" tstzrange', "tstzmultirange"),
    "check_availability_many": (
        "venue_id bigint, requests jsonb",
        "TABLE(idx integer, available boolean)",
    ),
    "suggest_alternatives": (
        "venue_id bigint, resource_ids bigint[], starts_at timestamp with time zone, "
        "ends_at timestamp with time zone, party_size integer DEFAULT 1, "
        "max_results integer DEFAULT 5",
        "setof",
    ),
    "table_combinations": (
        "venue_id bigint, starts_at timestamp with time zone, ends_at timestamp with time zone, "
        "party_size integer, max_tables integer DEFAULT 3",
        "TABLE(rank integer, resource_ids bigint[], total_seats integer, wasted_seats integer, "
        "total_min_spend_cents integer, total_deposit_cents integer, zone text)",
    ),
    "list_resources": (
        "venue_id bigint",
        "TABLE(resource_id bigint, name text, kind text, capacity integer, seats_min integer, "
        "seats_max integer, buffer_before interval, buffer_after interval, deposit_cents integer, "
        "min_spend_cents integer, zone text, linked_to bigint[], sellable_capacity integer)",
    ),
    "create_series": (
        "venue_id bigint, resource_ids bigint[], first_starts_at timestamp with time zone, "
        "duration interval, every interval, occurrences integer, party_size integer DEFAULT 1, "
        "customer jsonb DEFAULT NULL::jsonb, idempotency_key text DEFAULT NULL::text",
        "setof",
    ),
    "cancel_series": (
        "venue_id bigint, series_id bigint, from_starts_at timestamp with time zone "
        "DEFAULT NULL::timestamp with time zone, reason text DEFAULT NULL::text",
        "setof",
    ),
    "local_range": (
        "venue_id bigint, day date, starts time without time zone, ends time without time zone",
        "tstzrange",
    ),
}

LIST_COLUMNS = (
    "booking_id",
    "reference",
    "status",
    "resource_id",
    "starts_at",
    "ends_at",
    "quantity",
    "expires_at",
    "version",
)


def _functions(conn: Conn, name: str) -> list[dict[str, object]]:
    return rows(
        conn,
        """SELECT p.oid::regprocedure::text AS signature,
                  pg_get_function_arguments(p.oid) AS arguments,
                  pg_get_function_result(p.oid) AS result,
                  p.proretset AS returns_set,
                  p.prorettype AS rettype
             FROM pg_proc p
            WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname = %s""",
        (name,),
    )


def extends(actual: str, documented: str) -> bool:
    """The documented arguments, in order, followed only by arguments with a
    DEFAULT: the one way a published signature may grow."""
    if actual == documented:
        return True
    extra = actual.removeprefix(documented + ", ")
    return extra != actual and all(" DEFAULT " in arg for arg in extra.split(", "))


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_public_function_has_the_documented_signature(conn: Conn, name: str) -> None:
    arguments, result = CONTRACT[name]
    found = _functions(conn, name)
    assert len(found) == 1, f"bookingdb.{name} should exist exactly once (no overloads): {found}"
    function = found[0]
    assert extends(function["arguments"], arguments), (function["arguments"], arguments)
    if result == "booking":
        # A single composite row with at least the promised columns.
        assert function["returns_set"] is False
        columns = [
            r["attname"]
            for r in rows(
                conn,
                """SELECT a.attname FROM pg_type t
                     JOIN pg_attribute a ON a.attrelid = t.typrelid
                    WHERE t.oid = %s AND a.attnum > 0 AND NOT a.attisdropped
                    ORDER BY a.attnum""",
                (function["rettype"],),
            )
        ]
        assert set(BOOKING_COLUMNS) <= set(columns), columns
    elif result == "setof":
        assert function["returns_set"] is True
    else:
        assert function["result"] == result


def test_every_public_function_is_documented_with_a_comment(conn: Conn) -> None:
    undocumented = rows(
        conn,
        r"""SELECT p.oid::regprocedure::text AS signature
              FROM pg_proc p
             WHERE p.pronamespace = 'bookingdb'::regnamespace
               AND p.proname NOT LIKE '\_%'
               AND coalesce(btrim(obj_description(p.oid, 'pg_proc')), '') = ''""",
    )
    assert undocumented == []
    # And the check is not vacuous.
    public = scalar(
        conn,
        r"""SELECT count(*) FROM pg_proc p
             WHERE p.pronamespace = 'bookingdb'::regnamespace AND p.proname NOT LIKE '\_%'""",
    )
    assert public >= len(CONTRACT)


def test_every_public_function_fixes_its_own_search_path(conn: Conn) -> None:
    loose = rows(
        conn,
        r"""SELECT p.oid::regprocedure::text AS signature
              FROM pg_proc p
             WHERE p.pronamespace = 'bookingdb'::regnamespace
               AND p.proname NOT LIKE '\_%'
               AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')""",
    )
    assert loose == []


def test_error_catalogue_lists_each_bk_code_once(conn: Conn) -> None:
    catalogue = rows(conn, "SELECT * FROM bookingdb.error_codes()")
    codes = [r["code"] for r in catalogue]
    assert len(codes) == len(set(codes))
    assert all(len(c) == 5 and c.startswith("BK") for c in codes)
    expected = {
        "BK001",
        "BK002",
        "BK003",
        "BK004",
        "BK005",
        "BK006",
        "BK007",
        "BK008",
        "BK009",
        "BK010",
        "BK011",
        "BK012",
        "BK013",
        "BK014",
        "BK015",
        "BK016",
        "BK017",
        "BK018",
    }
    assert expected <= set(codes)
    assert all(r["name"] and r["meaning"] for r in catalogue)


def test_create_hold_returns_a_booking_row_with_the_documented_columns(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s, %s)",
            (venue, [table], at(10), at(12), 2),
        )
        names = [c.name for c in cur.description or ()]
        assert len(cur.fetchall()) == 1
    assert set(BOOKING_COLUMNS) <= set(names)


def test_positional_call_with_sql_literals_works_as_typed_in_psql(conn: Conn, venue: int) -> None:
    table = add_resource(conn, venue, "T1", seats_max=4)
    # Exactly what a psql user types: int literals, ARRAY[...] of int, text
    # timestamps with an offset, interval literals.
    query = sql.SQL(
        "SELECT * FROM bookingdb.create_hold({venue}, ARRAY[{table}], "
        "date_trunc('hour', now()) + interval '3 days', "
        "date_trunc('hour', now()) + interval '3 days 2 hours', 4, 1, 'psql-1', '15 minutes')"
    ).format(venue=sql.Literal(venue), table=sql.Literal(table))
    booking = one(conn, query)
    assert booking["status"] == "held"
    assert booking["party_size"] == 4
    assert booking["venue_id"] == venue
    assert list(booking["resource_ids"]) == [table]
    assert booking["version"] == 1
    assert booking["expires_at"] - booking["created_at"] == timedelta(minutes=15)


def test_named_argument_notation_works_in_any_order(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    table = add_resource(conn, venue, "T1", seats_max=6)
    held = one(
        conn,
        """SELECT * FROM bookingdb.create_hold(
               ttl => interval '20 minutes', party_size => 3, ends_at => %s,
               starts_at => %s, resource_ids => %s, venue_id => %s)""",
        (at(12), at(10), [table], venue),
    )
    assert held["status"] == "held"
    assert held["party_size"] == 3
    confirmed = one(
        conn,
        """SELECT * FROM bookingdb.confirm_hold(
               payment_ref => 'pay-1', booking_id => %s, venue_id => %s,
               customer => '{"name": "Ada"}')""",
        (held["id"], venue),
    )
    assert confirmed["status"] == "confirmed"
    assert confirmed["payment_ref"] == "pay-1"
    assert confirmed["customer"] == {"name": "Ada"}
    moved = one(
        conn,
        """SELECT * FROM bookingdb.reschedule_booking(
               venue_id => %s, booking_id => %s, expected_version => 2,
               starts_at => %s, ends_at => %s)""",
        (venue, held["id"], at(13), at(15)),
    )
    assert (moved["starts_at"], moved["ends_at"], moved["version"]) == (at(13), at(15), 3)
    assert (
        scalar(
            conn,
            """SELECT bookingdb.check_availability(
                   exclude_booking_id => %s, quantity => 1, ends_at => %s, starts_at => %s,
                   resource_ids => %s, venue_id => %s)""",
            (held["id"], at(15), at(13), [table], venue),
        )
        is True
    )
    cancelled = one(
        conn,
        """SELECT * FROM bookingdb.cancel_booking(
               reason => 'changed plans', expected_version => 3, booking_id => %s,
               venue_id => %s)""",
        (held["id"], venue),
    )
    assert (cancelled["status"], cancelled["version"]) == ("cancelled", 4)


def test_defaults_apply_when_optional_arguments_are_left_out(
    conn: Conn, venue: int, at: Callable[[float], datetime]
) -> None:
    resource = int(scalar(conn, "SELECT bookingdb.add_resource(%s, 'Bar stool')", (venue,)))
    stored = one(
        conn,
        "SELECT capacity, seats_min, seats_max, kind FROM bookingdb.resources "
        "WHERE resource_id = %s",
        (resource,),
    )
    assert stored == {"capacity": 1, "seats_min": 1, "seats_max": None, "kind": "table"}
    utc_venue = int(scalar(conn, "SELECT bookingdb.create_venue('Plain')"))
    zone = scalar(conn, "SELECT timezone FROM bookingdb.venues WHERE venue_id = %s", (utc_venue,))
    assert zone == "UTC"
    # Default hold ttl is the venue's hold_ttl; default party size and quantity 1.
    held = one(
        conn,
        "SELECT * FROM bookingdb.create_hold(%s, %s, %s, %s)",
        (venue, [resource], at(10), at(11)),
    )
    assert (held["party_size"], held["quantity"]) == (1, 1)
    ttl = scalar(conn, "SELECT hold_ttl FROM bookingdb.venues WHERE venue_id = %s", (venue,))
    assert held["expires_at"] - held["created_at"] == ttl
    booked = one(
        conn,
        "SELECT * FROM bookingdb.create_booking_atomic(%s, %s, %s, %s)",
        (venue, [resource], at(12), at(13)),
    )
    assert (booked["status"], booked["party_size"], booked["expires_at"]) == (
        "confirmed",
        1,
        None,
    )
