"""Fuzzing every public SQL function, as any driver or psql can call it.

The contract under test (the README's "Error codes" and "SQL contract"):

- every call either succeeds or fails with a documented SQLSTATE: a code of
  class BK listed by ``bookingdb.error_codes()``, or a 22xxx raised by
  PostgreSQL's own input conversion of an argument before the function runs
  (``'294277-01-01'::timestamptz``, ``2^31::int``), or 55P03 (documented
  for read-only functions behind DDL), or a 23xxx whose constraint the
  README names. Never XX000, never a 22xxx from inside a function body,
  never a raw constraint name, never 42xxx/54xxx/57014;
- a refused call writes nothing: every table of the schema is unchanged
  (row counts and a digest of every row);
- a call that succeeds and writes adds no row to ``verify_invariants()``;
- text is stored verbatim: what a getter returns is byte for byte what was
  given (or the call is refused with a documented code).

The functions come from the catalog, so a function added to ``sql/`` is
fuzzed without touching this file. The module's tests share one database
(cloned from the migrated template); each test builds a world of two
venues of its own in it (``fuzz_kit.build_world``), so no test sees
another's venues, rules or bookings, and the order of the tests does not
matter. Every call is autocommit and is checked on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fuzz_kit import (
    FUZZ,
    HOSTILE_TEXTS,
    LONG_TEXTS,
    SQL_INJECTION,
    WRONG_JSON,
    Conn,
    Fingerprint,
    PublicFunction,
    SqlValues,
    World,
    arguments,
    build_world,
    changed_tables,
    database_from,
    declared_function_names,
    describe,
    documented_codes,
    fuzz_connection,
    jsonb,
    plain_sql,
    public_functions,
    texts_no_nul,
    why_undocumented,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st
from property_kit import examples


@pytest.fixture(scope="module")
def fuzz_db(server_dsn: str, template_db: str) -> Iterator[Conn]:
    """One database for this module's tests, cloned from the migrated
    template, and an autocommit connection to it (with a statement timeout).
    Each test works in venues of its own (``fuzzed``); a database per test
    would cost more than all of a test's calls."""
    with (
        database_from(server_dsn, template_db, "bookingdb_fuzz") as dsn,
        fuzz_connection(dsn) as conn,
    ):
        yield conn


@pytest.fixture
def fuzzed(fuzz_db: Conn) -> tuple[Conn, World]:
    """A world of two fresh venues of this test's own."""
    return fuzz_db, build_world(fuzz_db)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 90 else f"{text[:60]}...<{len(text)} chars>"


def _call_text(function: PublicFunction, args: list[Any]) -> str:
    shown = ", ".join(
        f"{p.name} => {_short(a)}" for p, a in zip(function.params, args, strict=False)
    )
    return f"bookingdb.{function.name}({shown})"


def _invariants(conn: Conn) -> set[tuple[Any, ...]]:
    return set(conn.execute("SELECT * FROM bookingdb.verify_invariants()").fetchall())


def test_every_public_function_of_the_catalog_is_fuzzed(conn: Conn) -> None:
    """The functions fuzzed one by one below (read from sql/ when the tests
    are collected) are exactly the public functions of the migrated
    catalog: none is left out, whichever file or migration created it."""
    catalog = {function.name for function in public_functions(conn)}
    assert catalog == set(declared_function_names())
    assert len(catalog) >= 50


@pytest.mark.parametrize("name", declared_function_names())
def test_any_arguments_succeed_or_refuse_with_a_documented_code_and_write_nothing(
    fuzzed: tuple[Conn, World], name: str
) -> None:
    """Arguments of every SQL type for every parameter, mostly plausible,
    one or several hostile (NULL, 'infinity', year 9999, 2^63 - 1, ids of
    the other venue, duplicated ids, 10,000 characters, wrong JSON...):
    each call succeeds or fails with a documented code; a refusal changes
    no row; a success that writes breaks no invariant."""
    conn, world = fuzzed
    overloads = [function for function in public_functions(conn) if function.name == name]
    assert overloads, f"bookingdb.{name} is created in sql/ but is not in the catalog"
    values = SqlValues(world)
    codes = documented_codes(conn)
    fingerprint = Fingerprint(conn, [world.venue, world.other_venue])
    # The fingerprint after one call is the one before the next.
    last = [fingerprint()]
    # Only violations this test's calls cause count (the database is shared).
    known = _invariants(conn)

    @FUZZ
    @given(data=st.data())
    def one_call(data: st.DataObject) -> None:
        function = data.draw(st.sampled_from(overloads), label="overload")
        count, args = data.draw(arguments(values, function), label="arguments")
        call = _call_text(function, args)
        before = last[0]
        try:
            conn.execute(function.statement(count), args).fetchall()
        except psycopg.Error as error:
            last[0] = after = fingerprint()
            event(f"{name}: {error.diag.sqlstate}")
            problem = why_undocumented(error, codes)
            assert problem is None, f"{call}\n  {problem}\n  {describe(error)}"
            assert after == before, (
                f"{call}\n  refused with {error.diag.sqlstate} but wrote to "
                f"{changed_tables(before, after)}"
            )
        else:
            last[0] = after = fingerprint()
            event(f"{name}: ok")
            if after != before:  # it wrote: did it leave anything half done?
                broken = _invariants(conn) - known
                assert not broken, f"{call}\n  succeeded and broke an invariant: {broken}"

    one_call()


# -- text comes back as it was given --------------------------------------------------------

Context = dict[str, Any]


def _one(conn: Conn, query: str, params: Context) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _customer(text: str) -> dict[str, str]:
    # The text as every value the project uses, and as a key of its own.
    return {"name": text, "email": text, "phone": text, "notes": text, text: text}


@dataclass(frozen=True)
class Sink:
    """One place text is stored. ``prepare`` makes what the storing call
    needs (no hostile text yet); ``store`` is that one call, with
    ``%(text)s`` and ``%(customer)s`` (a customer object made of the text),
    returning a key; ``read`` returns what the matching getter gives back
    for ``%(key)s``; ``expect`` what it should be."""

    name: str
    store: str
    read: str | Callable[[Conn, Context], Any]
    prepare: Callable[[Conn, World, int], Context] = lambda conn, world, n: {}
    expect: Callable[[str, Context], Any] = lambda text, context: text


def _slot(world: World, n: int) -> Context:
    # A slot of its own per attempt (200 hours on are free in the world).
    starts = world.base + timedelta(hours=200 + 2 * n)
    return {"starts": starts, "ends": starts + timedelta(hours=1)}


def _table(conn: Conn, world: World, n: int) -> Context:
    table = _one(
        conn,
        "SELECT bookingdb.add_resource(%(venue)s, %(name)s, seats_max => 8)",
        {"venue": world.venue, "name": f"Sink table {n}"},
    )
    return {"venue": world.venue, "table": table, "tables": [table], **_slot(world, n)}


def _booked(status: str = "confirmed") -> Callable[[Conn, World, int], Context]:
    def prepare(conn: Conn, world: World, n: int) -> Context:
        context = _table(conn, world, n)
        row = conn.execute(
            "SELECT id, reference, cancel_token FROM bookingdb.create_booking_atomic("
            " venue_id => %(venue)s, resource_ids => %(tables)s, starts_at => %(starts)s,"
            " ends_at => %(ends)s, status => %(status)s)",
            {**context, "status": status},
        ).fetchone()
        assert row is not None
        return {**context, "booking": row[0], "reference": row[1], "token": row[2]}

    return prepare


def _held(conn: Conn, world: World, n: int) -> Context:
    context = _table(conn, world, n)
    hold = _one(
        conn,
        "SELECT id FROM bookingdb.create_hold(%(venue)s, %(tables)s, %(starts)s, %(ends)s)",
        context,
    )
    return {**context, "hold": hold}


def _on_sale(conn: Conn, world: World, n: int) -> Context:
    context: Context = {"venue": world.venue, **_slot(world, n)}
    context["event"] = _one(
        conn, "SELECT bookingdb.create_event(%(venue)s, 'Sink gig', %(starts)s, %(ends)s)", context
    )
    context["area"] = _one(
        conn, "SELECT bookingdb.add_resource(%(venue)s, 'Sink area', 10, kind => 'ga')", context
    )
    _one(
        conn,
        "SELECT bookingdb.add_event_inventory(%(venue)s, %(event)s, ARRAY[%(area)s]::bigint[],"
        " 'Sink', 100)",
        context,
    )
    return context


def _series(conn: Conn, world: World, n: int) -> Context:
    context = _table(conn, world, n)
    context["series"] = _one(
        conn,
        "SELECT series_id FROM bookingdb.create_series(%(venue)s, %(tables)s, %(starts)s,"
        " '1 hour', '1 day', 2) LIMIT 1",
        context,
    )
    return context


def _taken(conn: Conn, world: World, n: int) -> Context:
    context = _booked()(conn, world, n)
    return context


def _same_key_replays_and_no_variant_does(conn: Conn, context: Context) -> Any:
    """The key is matched exactly: the same key replays the booking; a key
    that differs in case or surrounding spaces is another request (here a
    refusal, since the slot is taken by then)."""
    query = (
        "SELECT id FROM bookingdb.create_booking_atomic(venue_id => %(venue)s,"
        " resource_ids => %(tables)s, starts_at => %(starts)s, ends_at => %(ends)s,"
        " idempotency_key => %(k)s)"
    )
    text = context["text"]
    outcomes: dict[str, Any] = {"same key": _one(conn, query, {**context, "k": text})}
    for variant in sorted({f" {text}", f"{text} ", text.upper(), text.lower()} - {text}):
        try:
            replayed = _one(conn, query, {**context, "k": variant}) == context["key"]
        except psycopg.Error:
            replayed = False  # BK001: the slot is taken; BK005: an earlier text used that key
        outcomes[repr(variant)] = "replayed" if replayed else "another request"
    return outcomes


def _key_outcomes(text: str, context: Context) -> Any:
    variants = sorted({f" {text}", f"{text} ", text.upper(), text.lower()} - {text})
    return {"same key": context["key"], **{repr(v): "another request" for v in variants}}


_GET = "SELECT {} FROM bookingdb.get_booking(%(venue)s, %(key)s)"
_RESOURCE = "SELECT {} FROM bookingdb.list_resources(%(venue)s) WHERE resource_id = %(key)s"
_EACH = (
    "SELECT array_agg(b.{} ORDER BY b.starts_at) FROM unnest(%(key)s::bigint[]) AS k(id),"
    " bookingdb.get_booking(%(venue)s, k.id) AS b"
)

SINKS = (
    Sink(
        "venue name",
        "SELECT bookingdb.create_venue(%(text)s, 'UTC')",
        # No public function reads a venue's name back: the table is the getter.
        "SELECT name FROM bookingdb.venues WHERE venue_id = %(key)s",
    ),
    Sink(
        "resource name",
        "SELECT bookingdb.add_resource(%(venue)s, %(text)s)",
        _RESOURCE.format("name"),
    ),
    Sink(
        "resource kind",
        "SELECT bookingdb.add_resource(%(venue)s, 'Kind', kind => %(text)s)",
        _RESOURCE.format("kind"),
    ),
    Sink(
        "resource zone",
        "SELECT %(table)s FROM bookingdb.set_resource_pricing(%(venue)s, %(table)s, 0, 0,"
        " %(text)s)",
        _RESOURCE.format("zone"),
        _table,
        # The README: "NULL zone keeps it, '' removes it".
        lambda text, context: None if text == "" else text,
    ),
    Sink(
        "event name",
        "SELECT bookingdb.create_event(%(venue)s, %(text)s, %(starts)s, %(ends)s)",
        "SELECT name FROM bookingdb.list_events(%(venue)s) WHERE event_id = %(key)s",
        lambda conn, world, n: _slot(world, n),
    ),
    Sink(
        "event category",
        "SELECT %(area)s FROM bookingdb.add_event_inventory(%(venue)s, %(event)s,"
        " ARRAY[%(area)s]::bigint[], %(text)s, 100)",
        "SELECT category FROM bookingdb.event_availability(%(venue)s, %(event)s)"
        " WHERE resource_id = %(key)s",
        _on_sale,
    ),
    Sink(
        "seat section",
        "SELECT (bookingdb.add_seat_block(%(venue)s, %(text)s, 'R', %(number)s, 1))[1]",
        _RESOURCE.format("name"),
        lambda conn, world, n: {"number": 1000 + n},
        # A seat is named "<section> <row><number>".
        lambda text, context: f"{text} R{context['number']}",
    ),
    Sink(
        "customer of create_booking_atomic",
        "SELECT id FROM bookingdb.create_booking_atomic(%(venue)s, %(tables)s, %(starts)s,"
        " %(ends)s, customer => %(customer)s::jsonb)",
        _GET.format("customer"),
        _table,
        lambda text, context: _customer(text),
    ),
    Sink(
        "customer of confirm_hold",
        "SELECT id FROM bookingdb.confirm_hold(%(venue)s, %(hold)s, %(customer)s::jsonb)",
        _GET.format("customer"),
        _held,
        lambda text, context: _customer(text),
    ),
    Sink(
        "payment_ref of confirm_hold",
        "SELECT id FROM bookingdb.confirm_hold(%(venue)s, %(hold)s, NULL, %(text)s)",
        _GET.format("payment_ref"),
        _held,
    ),
    Sink(
        "customer of hold_event_tickets",
        "SELECT id FROM bookingdb.hold_event_tickets(venue_id => %(venue)s, event_id => %(event)s,"
        " quantity => 1, customer => %(customer)s::jsonb)",
        _GET.format("customer"),
        _on_sale,
        lambda text, context: _customer(text),
    ),
    Sink(
        "customer of create_series",
        "SELECT array_agg(id) FROM bookingdb.create_series(%(venue)s, %(tables)s, %(starts)s,"
        " '1 hour', '1 day', 2, customer => %(customer)s::jsonb)",
        _EACH.format("customer"),
        _table,
        lambda text, context: [_customer(text)] * 2,
    ),
    Sink(
        "customer of join_waitlist",
        "SELECT bookingdb.join_waitlist(venue_id => %(venue)s, resource_ids => %(tables)s,"
        " starts_at => %(starts)s, ends_at => %(ends)s, customer => %(customer)s::jsonb)",
        "SELECT customer FROM bookingdb.waitlist(%(venue)s, true) WHERE entry_id = %(key)s",
        _taken,
        lambda text, context: _customer(text),
    ),
    Sink(
        "reason of cancel_booking",
        "SELECT id FROM bookingdb.cancel_booking(%(venue)s, %(booking)s, reason => %(text)s)",
        _GET.format("cancel_reason"),
        _booked(),
    ),
    Sink(
        "reason of reject_booking",
        "SELECT id FROM bookingdb.reject_booking(%(venue)s, %(booking)s, reason => %(text)s)",
        _GET.format("cancel_reason"),
        _booked("pending"),
    ),
    Sink(
        "reason of cancel_by_token",
        "SELECT id FROM bookingdb.cancel_by_token(%(venue)s, %(reference)s, %(token)s, %(text)s)",
        _GET.format("cancel_reason"),
        _booked(),
    ),
    Sink(
        "reason of cancel_series",
        "SELECT array_agg(id) FROM bookingdb.cancel_series(%(venue)s, %(series)s,"
        " reason => %(text)s)",
        _EACH.format("cancel_reason"),
        _series,
        lambda text, context: [text] * 2,
    ),
    Sink(
        "idempotency_key of create_booking_atomic",
        "SELECT id FROM bookingdb.create_booking_atomic(venue_id => %(venue)s,"
        " resource_ids => %(tables)s, starts_at => %(starts)s, ends_at => %(ends)s,"
        " idempotency_key => %(text)s)",
        _same_key_replays_and_no_variant_does,
        _table,
        _key_outcomes,
    ),
    Sink(
        "holder of create_hold",
        "SELECT id FROM bookingdb.create_hold(%(venue)s, %(tables)s, %(starts)s, %(ends)s,"
        " holder => %(text)s)",
        # No public function reads the holder key back: the table is the getter.
        "SELECT holder FROM bookingdb.bookings WHERE venue_id = %(venue)s AND booking_id = %(key)s",
        _table,
    ),
)


@pytest.mark.parametrize("sink", SINKS, ids=[sink.name for sink in SINKS])
def test_text_is_stored_verbatim_or_refused_with_a_documented_code(
    fuzzed: tuple[Conn, World], sink: Sink
) -> None:
    """Every hostile text (SQL injection, 10,000 characters, mojibake,
    control and bidirectional characters, emoji, decomposed accents, ...)
    comes back from the getter exactly as given, or the storing call is
    refused with a documented code. Every fixed text is
    tried, then random ones; every mismatch is listed."""
    conn, world = fuzzed
    codes = documented_codes(conn)
    findings: list[str] = []
    attempts = iter(range(10**6))

    def attempt(text: str) -> None:
        n = next(attempts)
        context: Context = {"venue": world.venue, **sink.prepare(conn, world, n)}
        context.update(text=text, customer=json.dumps(_customer(text)))
        try:
            context["key"] = _one(conn, sink.store, context)
        except psycopg.Error as error:
            # (That a refusal writes nothing is the fuzz test's to check.)
            problem = why_undocumented(error, codes)
            if problem is not None:
                findings.append(f"{_short(text)}: {problem} | {describe(error)}")
            return
        read = sink.read
        stored = read(conn, context) if callable(read) else _one(conn, read, context)
        expected = sink.expect(text, context)
        if stored != expected:
            findings.append(f"{_short(text)}: came back as {_short(stored)}")

    for text in HOSTILE_TEXTS:
        attempt(text)

    @settings(FUZZ, max_examples=examples(5))
    @given(text=texts_no_nul)
    def random_text(text: str) -> None:
        attempt(text)

    random_text()
    assert findings == [], f"{sink.name}:\n  " + "\n  ".join(findings)


# -- sweeps: every parameter of a type, every value of a list ---------------------------------


def _sweep(conn: Conn, world: World, sql_type: str, hostile: Sequence[Any]) -> list[str]:
    """Calls every public function once per (parameter of ``sql_type``,
    value of ``hostile``), the other arguments plain; returns the calls
    whose failure the contract does not allow."""
    codes = documented_codes(conn)
    findings = []
    for function in public_functions(conn):
        for i, swept in enumerate(function.params):
            if swept.sql_type != sql_type:
                continue
            for value in hostile:
                args = [plain_sql(p, world) for p in function.params]
                args[i] = value
                try:
                    conn.execute(function.statement(len(args)), args).fetchall()
                except psycopg.Error as error:
                    problem = why_undocumented(error, codes)
                    if problem is not None:
                        findings.append(
                            f"{function.name}({swept.name} => {_short(value)}): {problem}"
                            f" | {describe(error)}"
                        )
    return findings


def test_injection_and_long_text_in_every_text_parameter_are_handled(
    fuzzed: tuple[Conn, World],
) -> None:
    """SQL injection and the two incompressible long texts (3,000 and 10,000
    characters: more than a btree index entry holds) in every text
    parameter of every function: a result or a documented code, and the
    schema is still there afterwards."""
    conn, world = fuzzed
    findings = _sweep(conn, world, "text", [SQL_INJECTION, *LONG_TEXTS])
    assert conn.execute("SELECT to_regclass('bookingdb.bookings')").fetchone() != (None,)
    assert findings == [], "\n  ".join(["hostile text:", *findings])


def test_json_of_any_shape_in_every_jsonb_parameter_is_handled(
    fuzzed: tuple[Conn, World],
) -> None:
    """Every wrong shape (arrays, scalars, null, nested, wrong value types,
    bad dates, huge numbers, unknown keys) in every jsonb parameter of
    every function: a result or a documented code."""
    conn, world = fuzzed
    findings = _sweep(conn, world, "jsonb", [jsonb(value) for value in WRONG_JSON])
    assert findings == [], "\n  ".join(["JSON of the wrong shape:", *findings])
