"""Shared pieces of the fuzz layer (test_fuzz_sql.py, test_fuzz_api.py).

- **The public functions**, read from the catalog (schema ``bookingdb``, name
  not starting with ``_``, not a trigger function) and from the ``CREATE
  FUNCTION`` statements in ``sql/`` (known when tests are collected), so a new
  function is fuzzed without anyone adding it here.
- **The verdict**: which failures the contract allows. A refusal of class
  ``BK`` from ``bookingdb.error_codes()``; a ``22xxx`` raised by PostgreSQL's
  own type checks while it converts the arguments (before the function body
  runs: the error has no PL/pgSQL or SQL-function context); 55P03, which the
  README documents for read-only functions waiting behind DDL; a ``23xxx``
  only if the README names its constraint. Anything else (XX000, 42xxx,
  54xxx, 57014, a 22xxx from inside a function, a BK code not in the
  catalogue) is a finding.
- **The fingerprint** of every table of the schema (row counts and a digest
  of every row), so "a refusal writes nothing" covers tables added later.
- **A world** of two venues holding something of every kind a function can
  be pointed at (tables, a shared room, seats, an event on sale, bookings in
  every reachable status, a series, a waitlist entry, a reference and its
  cancel token), and the same kinds in the *other* venue, whose ids must
  never reach anything from the first.
- **Hostile values** per SQL type (NULL, empty and inverted ranges,
  'infinity', year 9999, huge and negative numbers, duplicated and foreign
  ids, over-long text, text that looks like broken encodings, SQL injection,
  JSON of the wrong shape) and plausible values per argument name, so that
  calls also get past validation and reach the code behind it.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from property_kit import examples
from psycopg import sql
from psycopg.conninfo import make_conninfo

Conn = psycopg.Connection[Any]
Strategy = st.SearchStrategy[Any]
Drawn = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")

# Modest on purpose: the whole fuzz layer (both files) runs in well under a
# minute on two cores. Each test has a database of its own; examples of one
# test share it, each call is checked on its own (its own fingerprint).
FUZZ = settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# A single-threaded fuzz call that runs this long is a finding (57014), not
# a hang of the suite: every function answers small inputs in milliseconds.
STATEMENT_TIMEOUT = "10s"

INT4_MAX = 2**31 - 1
INT4_MIN = -(2**31)
INT8_MAX = 2**63 - 1
INT8_MIN = -(2**63)
NOWHERE = 10**12  # an id that names nothing (no sequence gets there in a test)


# -- the public functions ----------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    sql_type: str  # format_type(): 'bigint', 'bigint[]', 'timestamp with time zone', ...
    has_default: bool


@dataclass(frozen=True)
class PublicFunction:
    name: str
    identity: str  # pg_get_function_identity_arguments()
    params: tuple[Param, ...]

    @property
    def required(self) -> int:
        return sum(not p.has_default for p in self.params)

    def statement(self, count: int) -> sql.Composed:
        """``SELECT r::text FROM bookingdb.name(%s::type, ...) r`` for the
        first ``count`` parameters (the rest take their defaults). Every
        argument carries its type, so a value is converted by PostgreSQL's
        input function for that type before the function runs. Rows come
        back as text, as psql shows them: what the call answered is judged,
        not whether Python can represent it (a year after 9999)."""
        casts = [
            sql.SQL("%s::{}").format(sql.SQL(p.sql_type))  # type names come from the catalog
            for p in self.params[:count]
        ]
        return sql.SQL("SELECT r::text FROM {}.{}({}) AS r").format(
            sql.Identifier("bookingdb"), sql.Identifier(self.name), sql.SQL(", ").join(casts)
        )

    def __str__(self) -> str:
        return f"bookingdb.{self.name}({self.identity})"


PUBLIC_FUNCTIONS_SQL = """
SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.pronargdefaults,
       coalesce(p.proargnames, '{}'), coalesce(p.proargmodes::text[], '{}'),
       ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, n)
              ORDER BY n)
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'bookingdb' AND p.proname !~ '^_' AND p.prokind = 'f'
   AND p.prorettype <> 'trigger'::regtype
 ORDER BY p.proname, 2
"""


def public_functions(conn: Conn) -> list[PublicFunction]:
    """Every public function (every overload) with its input parameters."""
    found = []
    for name, identity, defaults, names, modes, types in conn.execute(PUBLIC_FUNCTIONS_SQL):
        # proargnames covers OUT/TABLE columns too; keep the input ones, in order.
        input_names = [n for i, n in enumerate(names) if not modes or modes[i] in ("i", "b", "v")]
        count = len(types)
        params = tuple(
            Param(
                input_names[i] if i < len(input_names) else f"${i + 1}",
                types[i],
                i >= count - defaults,
            )
            for i in range(count)
        )
        found.append(PublicFunction(name, identity, params))
    return found


_CREATE = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+bookingdb\.\"?([a-z][a-z0-9_]*)\"?\s*\(", re.I
)


@cache
def declared_function_names() -> tuple[str, ...]:
    """Names of the public functions created by ``sql/*.sql`` (read when the
    tests are collected, so each gets a test of its own)."""
    names = set()
    for path in sorted((REPO / "sql").glob("*.sql")):
        names.update(_CREATE.findall(path.read_text(encoding="utf-8")))
    return tuple(sorted(names))


# -- the verdict ---------------------------------------------------------------------------


# PostgreSQL's own codes the README documents as answers: a read-only
# function's lock wait behind DDL passing its lock_timeout ("Error codes").
POSTGRES_ANSWERS = frozenset({"55P03"})


def documented_codes(conn: Conn) -> frozenset[str]:
    return frozenset(code for (code,) in conn.execute("SELECT code FROM bookingdb.error_codes()"))


def _inside_a_function(error: psycopg.Error) -> str | None:
    """The function whose body raised ``error``, from its CONTEXT, if any."""
    context = error.diag.context or ""
    found = re.search(r"(?:PL/pgSQL|SQL) function ([^\s(]+)", context)
    return found.group(1) if found else None


def why_undocumented(error: psycopg.Error, codes: frozenset[str]) -> str | None:
    """None when ``error`` is an answer the contract allows, else what is wrong."""
    code = error.diag.sqlstate
    if code is None:
        return f"a client-side {type(error).__name__} with no SQLSTATE"
    if code in codes or code in POSTGRES_ANSWERS:
        return None
    if code.startswith("BK"):
        return f"{code} is not in bookingdb.error_codes()"
    if code.startswith("22"):
        inside = _inside_a_function(error)
        if inside is None:
            return None  # PostgreSQL's input conversion of an argument answered first
        return f"{code} raised inside {inside} (not by the argument's type check)"
    if code.startswith("23"):
        name = error.diag.constraint_name
        if name and re.search(rf"\b{re.escape(name)}\b", README):
            return None
        return f"{code} leaks constraint {name!r}, which the README does not document"
    return f"undocumented SQLSTATE {code}"


def describe(error: psycopg.Error) -> str:
    diag = error.diag
    if diag.sqlstate is None:
        return f"{type(error).__name__}: {error}"
    parts = [f"{diag.sqlstate}: {diag.message_primary}"]
    if diag.message_detail:
        parts.append(f"DETAIL: {diag.message_detail}")
    if diag.constraint_name:
        parts.append(f"constraint: {diag.constraint_name}")
    if diag.context:
        parts.append(f"CONTEXT: {diag.context.splitlines()[0]}")
    return " | ".join(parts)


# -- the fingerprint -------------------------------------------------------------------------


_TABLES = """
SELECT c.relname,
       EXISTS (SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'venue_id' AND NOT a.attisdropped)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'bookingdb' AND c.relkind IN ('r', 'p')
 ORDER BY 1
"""


def _fingerprint_sql(conn: Conn, venues: Iterable[int], skip: Iterable[str]) -> sql.Composed:
    """Per table: its name, row count and a digest of its rows. Where a table
    has a venue_id and ``venues`` are given, only the rows of those venues
    (other tests' venues share the database; the primary keys lead with
    venue_id, so this reads few rows); the venues table itself whole."""
    scope = sorted(venues)
    parts = []
    for table, scoped in conn.execute(_TABLES):
        if table in set(skip):
            continue
        where = (
            sql.SQL("t.venue_id = ANY({})").format(sql.Literal(scope))
            if scoped and scope and table != "venues"
            else sql.SQL("true")
        )
        parts.append(
            sql.SQL(
                "(SELECT {} || ':' || count(*) || ':'"
                " || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '')"
                " FROM bookingdb.{} t WHERE {})"
            ).format(sql.Literal(table), sql.Identifier(table), where)
        )
    return sql.SQL("SELECT ARRAY[{}]").format(sql.SQL(", ").join(parts))


class Fingerprint:
    """Row counts and a digest of every row of every table of the schema
    (except ``skip``; only the rows of ``venues`` where they are given):
    equal before and after means nothing was written."""

    def __init__(self, conn: Conn, venues: Iterable[int] = (), skip: Iterable[str] = ()) -> None:
        self._conn = conn
        self._query = _fingerprint_sql(conn, venues, skip)

    def __call__(self) -> tuple[str, ...]:
        row = self._conn.execute(self._query).fetchone()
        assert row is not None
        return tuple(row[0])


def changed_tables(before: tuple[str, ...], after: tuple[str, ...]) -> list[str]:
    return [b.split(":")[0] for b, a in zip(before, after, strict=True) if a != b]


# -- databases -------------------------------------------------------------------------------


@contextmanager
def database_from(server_dsn: str, template: str, prefix: str) -> Iterator[str]:
    """The DSN of a new database cloned from ``template`` (which nobody may be
    connected to), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    try:
        yield make_conninfo(server_dsn, dbname=name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def fuzz_connection(dsn: str) -> psycopg.Connection[Any]:
    """An autocommit connection, as a psql user has, with a statement
    timeout so that a runaway call fails its test (57014) instead of hanging
    the suite."""
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT)))
    return conn


# -- the world -------------------------------------------------------------------------------


def base_time() -> datetime:
    """A whole hour a day ahead (UTC): the world's bookings sit on a
    quarter-hour grid from here, so plausible requests collide with them."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


@dataclass
class World:
    """Two venues; ``ids`` of the fuzzed venue by kind, ``foreign`` the same
    kinds in the other venue."""

    base: datetime
    venue: int
    other_venue: int
    tables: list[int]
    shared: list[int]
    seats: list[int]
    bookings: dict[str, int]
    events: list[int]
    series: list[int]
    entries: list[int]
    references: list[str]
    tokens_by_reference: dict[str, str]
    emails: list[str]
    categories: list[str]
    foreign: dict[str, int] = field(default_factory=dict)

    @property
    def resources(self) -> list[int]:
        return self.tables + self.shared + self.seats

    def every_id(self) -> list[int]:
        """Every id of any kind in either venue: a booking id passed as a
        resource id must be refused like any unknown id."""
        ids = {self.venue, self.other_venue, *self.resources, *self.bookings.values()}
        ids |= {*self.events, *self.series, *self.entries, *self.foreign.values()}
        return sorted(ids)


def _value(conn: Conn, query: str, params: dict[str, Any]) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


CUSTOMER = {"name": "Ada Lovelace", "email": "Ada@Example.com", "phone": "+44 20 7946 0000"}


def build_world(conn: Conn) -> World:
    """The world, built with the public functions themselves on ``conn``."""
    base = base_time()
    hour = timedelta(hours=1)

    def one(query: str, **params: Any) -> Any:
        return _value(conn, query, params)

    def booking(query: str, **params: Any) -> tuple[int, str, str | None]:
        row = conn.execute(
            f"SELECT id, reference, cancel_token FROM {query}",
            params,
        ).fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    customer = json.dumps(CUSTOMER)
    venue = one("SELECT bookingdb.create_venue('Fuzz venue', 'Europe/London')")
    other = one("SELECT bookingdb.create_venue('Other venue', 'UTC')")

    def resource(
        v: int, name: str, capacity: int, seats_min: int, seats_max: int | None, kind: str
    ) -> int:
        return int(
            one(
                "SELECT bookingdb.add_resource(venue_id => %(v)s, name => %(n)s, capacity => %(c)s,"
                " seats_min => %(mn)s, seats_max => %(mx)s, kind => %(k)s)",
                v=v,
                n=name,
                c=capacity,
                mn=seats_min,
                mx=seats_max,
                k=kind,
            )
        )

    two = resource(venue, "Two-top", 1, 1, 2, "table")
    four = resource(venue, "Four-top", 1, 2, 4, "table")
    six = resource(venue, "Six-top", 1, 4, 6, "table")
    room = resource(venue, "Room", 3, 1, None, "room")
    hall = resource(venue, "Hall", 50, 1, None, "area")
    floor = resource(venue, "Floor", 20, 1, None, "ga")
    one("SELECT bookingdb.link_resources(%(v)s, %(a)s, %(b)s)", v=venue, a=two, b=four)
    seats = list(one("SELECT bookingdb.add_seat_block(%(v)s, 'Stalls', 'A', 1, 6)", v=venue))
    gig_start = base + timedelta(days=2)
    event = one(
        "SELECT bookingdb.create_event(%(v)s, 'Gig', %(s)s, %(e)s)",
        v=venue,
        s=gig_start,
        e=gig_start + 3 * hour,
    )
    one(
        "SELECT bookingdb.add_event_inventory(%(v)s, %(e)s, %(r)s, 'Stalls', 5000)",
        v=venue,
        e=event,
        r=seats,
    )
    one(
        "SELECT bookingdb.add_event_inventory(%(v)s, %(e)s, %(r)s, 'Standing', 2500)",
        v=venue,
        e=event,
        r=[floor],
    )

    bookings: dict[str, int] = {}
    references: list[str] = []
    tokens: dict[str, str] = {}
    hold = (
        "bookingdb.create_hold(venue_id => %(v)s, resource_ids => %(r)s, starts_at => %(s)s,"
        " ends_at => %(e)s, party_size => %(p)s, ttl => %(ttl)s::interval)"
    )
    book = (
        "bookingdb.create_booking_atomic(venue_id => %(v)s, resource_ids => %(r)s,"
        " starts_at => %(s)s, ends_at => %(e)s, party_size => %(p)s, customer => %(c)s::jsonb,"
        " quantity => %(q)s, status => %(st)s)"
    )
    bookings["held"], _, _ = booking(hold, v=venue, r=[two], s=base, e=base + hour, p=2, ttl=None)
    bookings["lapsed"], _, _ = booking(
        hold, v=venue, r=[two], s=base + hour, e=base + 2 * hour, p=2, ttl="1 microsecond"
    )
    bookings["released"], _, _ = booking(
        hold, v=venue, r=[six], s=base, e=base + hour, p=4, ttl=None
    )
    one("SELECT id FROM bookingdb.release_hold(%(v)s, %(b)s)", v=venue, b=bookings["released"])
    for status, resources, offset, party, quantity, state in (
        ("confirmed", [four], 1, 3, 1, "confirmed"),
        ("pending", [six], 2, 4, 1, "pending"),
        ("cancelled", [six], 4, 5, 1, "confirmed"),
        ("shared", [room], 0, 2, 2, "confirmed"),
    ):
        start = base + offset * hour
        bookings[status], reference, token = booking(
            book,
            v=venue,
            r=resources,
            s=start,
            e=start + 2 * hour,
            p=party,
            c=customer,
            q=quantity,
            st=state,
        )
        references.append(reference)
        if token is not None:
            tokens[reference] = token
    one("SELECT id FROM bookingdb.cancel_booking(%(v)s, %(b)s)", v=venue, b=bookings["cancelled"])
    bookings["ticket"], _, _ = booking(
        "bookingdb.hold_event_tickets(venue_id => %(v)s, event_id => %(e)s, quantity => 2,"
        " category => 'Stalls')",
        v=venue,
        e=event,
    )
    series = one(
        "SELECT series_id FROM bookingdb.create_series(%(v)s, %(r)s, %(s)s, '1 hour', '7 days', 3)"
        " LIMIT 1",
        v=venue,
        r=[hall],
        s=base + timedelta(days=5),
    )
    entry = one(
        "SELECT bookingdb.join_waitlist(venue_id => %(v)s, resource_ids => %(r)s,"
        " starts_at => %(s)s, ends_at => %(e)s, party_size => 2, customer => %(c)s::jsonb)",
        v=venue,
        r=[four],
        s=base + hour,
        e=base + 3 * hour,
        c=customer,
    )

    # The other venue: one of every kind, reachable only through its own id.
    theirs = resource(other, "Their table", 1, 1, 4, "table")
    foreign_start = base + timedelta(days=3)
    foreign_booking, foreign_reference, foreign_token = booking(
        book,
        v=other,
        r=[theirs],
        s=foreign_start,
        e=foreign_start + hour,
        p=2,
        c=customer,
        q=1,
        st="confirmed",
    )
    foreign_event = one(
        "SELECT bookingdb.create_event(%(v)s, 'Their gig', %(s)s, %(e)s)",
        v=other,
        s=foreign_start,
        e=foreign_start + hour,
    )
    foreign_series = one(
        "SELECT series_id FROM bookingdb.create_series(%(v)s, %(r)s, %(s)s, '1 hour', '7 days', 2)"
        " LIMIT 1",
        v=other,
        r=[theirs],
        s=base + timedelta(days=10),
    )
    foreign_entry = one(
        "SELECT bookingdb.join_waitlist(venue_id => %(v)s, resource_ids => %(r)s,"
        " starts_at => %(s)s, ends_at => %(e)s)",
        v=other,
        r=[theirs],
        s=foreign_start,
        e=foreign_start + hour,
    )
    references.append(foreign_reference)
    if foreign_token is not None:
        tokens[foreign_reference] = foreign_token
    return World(
        base=base,
        venue=venue,
        other_venue=other,
        tables=[two, four, six],
        shared=[room, hall, floor],
        seats=seats,
        bookings=bookings,
        events=[event],
        series=[series],
        entries=[entry],
        references=references,
        tokens_by_reference=tokens,
        emails=[CUSTOMER["email"]],
        categories=["Stalls", "Standing"],
        foreign={
            "resource": theirs,
            "booking": foreign_booking,
            "event": foreign_event,
            "series": foreign_series,
            "entry": foreign_entry,
        },
    )


# -- hostile values ----------------------------------------------------------------------------


def _incompressible(length: int, alphabet: str, seed: int) -> str:
    """Text that neither TOAST nor an index can compress below its size."""
    pick = random.Random(seed).choice
    return "".join(pick(alphabet) for _ in range(length))


_WIDE = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "\u00e9\u00fc\u00df\u0142\u0416\u05d0\u0627\u4e2d\u6587\u3042\uac00\U0001f600\U0001f37a"
)

SQL_INJECTION = "'); DROP TABLE bookingdb.bookings; --"
# Too long for a btree index entry (2,704 bytes) even after compression.
LONG_TEXTS = (
    _incompressible(3_000, "abcdefghijklmnopqrstuvwxyz0123456789", 1),
    _incompressible(10_000, _WIDE, 2),
)

# Text no field may mangle: stored as given, or refused with a documented code.
# Escapes, not literal characters, so the source stays readable (and lint-clean).
HOSTILE_TEXTS: tuple[str, ...] = (
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "x",
    " padded ",
    SQL_INJECTION,
    "' OR '1'='1",
    "'; SELECT pg_sleep(10); --",
    "Robert'); DELETE FROM bookingdb.venues WHERE ('1'='1",
    '"; DROP SCHEMA bookingdb CASCADE; --',
    "$$; DROP TABLE bookingdb.venues; $$",
    "$fn$ RAISE EXCEPTION 'x' $fn$",
    "%s %(name)s %% %I %L {0} {} ${1}",
    "\\x00\\xff\\xfe \\u0000 \\N \\\\ \\'",
    "back\\slash\\",
    "quote'quote\"quote`",
    "NULL",
    "null",
    "\u00c3\u00a9\u00c3\u00bc \u00c3\u00a4\u00c3\u00b6",  # 'é' read as Latin-1 (mojibake)
    "\u00ef\u00bb\u00bf\u00e2\u20ac\u2122",  # a UTF-8 BOM and a quote, as Latin-1
    "\ufeffleading BOM",
    "\ufffd\ufffd replacement characters",
    "e\u0301 vs \u00e9",  # decomposed and composed: must not be normalised
    "\u202eright-to-left override\u202c",
    "\u200f\u200e\u200d\u200b\u2060zero widths",
    "\u00a0no-break\u2028line\u2029paragraph",
    "\r\n\x0b\x0c\x1b[31m\x7f control characters",
    "\U0001f600\U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1ec\U0001f1e7",
    "\U0001d54f\U00010348 outside the BMP",
    "\u0130stanbul \u0131 \u00df \u1e9e \u03a3\u03c3\u03c2",  # case mapping traps
    "<script>alert(1)</script>",
    '{"json": "in text"}',
    "x" * 200,
    "x" * 201,
    "\u4e2d" * 200,
    "\U0001f600" * 100,
    "x" * 10_000,
    *LONG_TEXTS,
)

texts_no_nul = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40
)

hostile_texts: Strategy = st.sampled_from(HOSTILE_TEXTS) | texts_no_nul

HOSTILE_INTS: tuple[int | None, ...] = (
    None,
    0,
    -1,
    1,
    2,
    3,
    50,
    51,
    366,
    367,
    1000,
    1001,
    1_000_000,
    1_000_001,
    INT4_MAX,
    INT4_MIN,
    INT4_MAX + 1,  # not an int: PostgreSQL's cast refuses it (22003)
    INT4_MIN - 1,
)

hostile_ints: Strategy = st.sampled_from(HOSTILE_INTS) | st.integers(min_value=-5, max_value=60)

HOSTILE_INTERVALS: tuple[str | None, ...] = (
    None,
    "0",
    "1 microsecond",
    "-1 microsecond",
    "-10 minutes",
    "10 minutes",
    "1 day",
    "1 mon",
    "1 mon -40 days",
    "-1 mon 40 days",
    "100 years",
    "178000000 years",
    "-178000000 years",
    "2147483647 days",
    "-2147483648 days",
    "2562047788 hours",
    "infinity",
    "-infinity",
    "P1Y2M3DT4H5M6S",
    "not an interval",
)

HOSTILE_TIMES_OF_DAY: tuple[str | None, ...] = (
    None,
    "00:00",
    "24:00",
    "23:59:59.999999",
    "12:00",
    "03:00",
    "01:30",
    "allballs",
    "25:00",
)

HOSTILE_DATES: tuple[str | None, ...] = (
    None,
    "infinity",
    "-infinity",
    "9999-12-31",
    "0001-01-01",
    "4714-11-24 BC",
    "5874897-12-31",
    "2027-03-28",
    "2027-10-31",
    "epoch",
)

HOSTILE_INSTANTS: tuple[str | None, ...] = (
    None,
    "infinity",
    "-infinity",
    "9999-12-31 23:59:59.999999+00",
    "9999-12-31 00:00:00-14",
    "0001-01-01 00:00:00+00",
    "4714-11-24 00:00:00+00 BC",
    "294276-12-31 23:59:59+00",
    "1970-01-01 00:00:00+00",
    "2027-03-28 01:30:00 Europe/London",  # inside a spring-forward gap
    "2027-10-31 01:30:00 Europe/London",  # a repeated fall-back hour
    "epoch",
    "now",
    "294277-01-01 00:00:00+00",  # out of range: PostgreSQL's input refuses it (22008)
)

WRONG_JSON: tuple[Any, ...] = (
    None,
    [],
    {},
    0,
    -1,
    1.5,
    1e308,
    "x",
    "",
    True,
    [1, 2, 3],
    [None],
    [{}],
    [[[]]],
    {"": None},
    {"name": 1, "email": ["a"], "phone": {"x": 1}},
    {"name": None, "email": None},
    {"email": "x" * 10_000},
    {"email": HOSTILE_TEXTS[-1]},
    {"date_of_birth": "not a date"},
    {"date_of_birth": "2000-02-30"},
    {"date_of_birth": "9999-12-31"},
    {"date_of_birth": "0001-01-01"},
    {"date_of_birth": "infinity"},
    {"date_of_birth": "5874898-01-01"},
    {"date_of_birth": 20000101},
    {"date_of_birth": None},
    {"date_of_birth": ["2000-01-01"]},
    {"hold_ttl": "banana"},
    {"hold_ttl": "infinity"},
    {"hold_ttl": "-1 day"},
    {"hold_ttl": 5},
    {"hold_ttl": "178000000 years"},
    {"min_notice": "-infinity"},
    {"max_advance": "1000000 years"},
    {"slot_step": "1 microsecond"},
    {"buffer_before": "2 days"},
    {"buffer_after": []},
    {"min_party": "a"},
    {"min_party": 1.5},
    {"min_party": 0},
    {"max_party": 1e30},
    {"max_party": -1},
    {"min_age": 151},
    {"min_age": -1},
    {"max_active_holds_per_customer": 0},
    {"max_active_holds_per_customer": 2**40},
    {"notify": "yes"},
    {"notify": 1},
    {"timezone": "Mars/Olympus"},
    {"has_hours": True},
    {"unknown key": 1},
    [{"resource_ids": "x"}],
    [{"resource_ids": [], "starts_at": "2030-01-01", "ends_at": "2030-01-02"}],
    [{"resource_ids": [1], "starts_at": "banana", "ends_at": "2030-01-02"}],
    [{"resource_ids": [1], "starts_at": "infinity", "ends_at": "infinity"}],
    [{"resource_ids": [1.5], "starts_at": "2030-01-01T10:00", "ends_at": "2030-01-01T11:00"}],
    [{"resource_ids": [2**70], "starts_at": "2030-01-01T10:00", "ends_at": "2030-01-01T11:00"}],
    [
        {
            "resource_ids": [1],
            "starts_at": "2030-01-01T10:00",
            "ends_at": "2030-01-01T11:00",
            "quantity": "two",
        }
    ],
    [
        {
            "resource_ids": [1],
            "starts_at": "2030-01-01T10:00",
            "ends_at": "2030-01-01T11:00",
            "quantity": 2**40,
        }
    ],
    [{"resource_ids": [1], "starts_at": 10, "ends_at": None}],
)

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts_no_nul
)
json_values: Strategy = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts_no_nul, inner, max_size=4),
    max_leaves=10,
)


def jsonb(value: Any) -> str | None:
    """JSON text for a ``%s::jsonb`` argument (None stays SQL NULL; JSON null
    is the text 'null')."""
    return None if value is None else json.dumps(value)


# -- values per SQL type and per argument name -------------------------------------------------


def _iso(when: datetime) -> str:
    return when.isoformat()


class SqlValues:
    """Strategies for the arguments of a public function: ``hostile(type)``
    anything of that SQL type (as a driver could send it), ``plausible(name,
    type)`` what a reasonable caller would pass for that parameter, in the
    fuzzed world."""

    def __init__(self, world: World) -> None:
        self.world = world
        base = world.base
        ids = world.every_id()
        self.ids: Strategy = st.sampled_from(
            [*ids, 0, -1, INT8_MAX, INT8_MIN, NOWHERE, None, INT8_MAX + 1]
        )
        self.grid: Strategy = st.integers(min_value=0, max_value=96).map(
            lambda k: _iso(base + timedelta(minutes=15 * k))
        )
        self.instants: Strategy = (
            st.sampled_from(HOSTILE_INSTANTS)
            | self.grid
            | st.integers(min_value=-3650, max_value=3650).map(
                lambda d: _iso(base + timedelta(days=d))
            )
        )

    # Hostile: anything of the type.

    def hostile(self, sql_type: str) -> Strategy:
        w = self.world
        if sql_type == "bigint":
            return self.ids
        if sql_type == "bigint[]":
            valid = st.sampled_from(w.resources)
            foreign = st.sampled_from(
                [w.foreign["resource"], w.foreign["booking"], NOWHERE, 0, -1, INT8_MAX, INT8_MIN]
            )
            return st.one_of(
                st.sampled_from([None, [], [None], [INT8_MAX, INT8_MIN]]),
                st.lists(valid | foreign | st.none(), min_size=1, max_size=5),
                valid.map(lambda r: [r, r, r]),
                st.tuples(valid, foreign).map(list),
                valid.map(lambda r: [r] * 300),
                st.just(list(range(1, 1001))),
            )
        if sql_type == "integer":
            return hostile_ints
        if sql_type == "text":
            return st.none() | hostile_texts
        if sql_type == "timestamp with time zone":
            return self.instants
        if sql_type == "interval":
            return st.sampled_from(HOSTILE_INTERVALS)
        if sql_type == "jsonb":
            return st.one_of(
                st.sampled_from(WRONG_JSON).map(jsonb),
                json_values.map(jsonb),
                st.sampled_from(
                    ["{", "not json", "[1,]", '{"a":}']
                ),  # PostgreSQL's input refuses these
            )
        if sql_type == "tstzrange":
            return st.one_of(
                st.sampled_from(
                    [
                        None,
                        "empty",
                        "(,)",
                        "[-infinity,infinity)",
                        "[infinity,infinity]",
                        "[-infinity,-infinity]",
                    ]
                ),
                st.tuples(
                    self.instants, self.instants, st.sampled_from(["[)", "(]", "()", "[]"])
                ).map(lambda t: f"{t[2][0]}{_quote(t[0])},{_quote(t[1])}{t[2][1]}"),
            )
        if sql_type == "date":
            return st.sampled_from(HOSTILE_DATES) | st.integers(-400, 400).map(
                lambda d: (self.world.base.date() + timedelta(days=d)).isoformat()
            )
        if sql_type == "time without time zone":
            return st.sampled_from(HOSTILE_TIMES_OF_DAY)
        if sql_type == "boolean":
            return st.sampled_from([None, True, False])
        return st.none()  # a type this kit does not know yet: NULL at least

    # Plausible: what a caller would send for this parameter.

    def plausible(self, name: str, sql_type: str, drawn: Drawn) -> Strategy:
        """``drawn``: the arguments drawn before this one, by name (an end
        follows its start, a token its reference)."""
        pick = _PLAUSIBLE.get(name)
        if pick is not None:
            return pick(self, drawn)
        if sql_type == "text":
            return hostile_texts  # free text: hostile text *is* a plausible value
        return self.hostile(sql_type)

    # Helpers for the table below.

    def own(self, values: list[Any]) -> Strategy:
        return st.sampled_from(values)

    def later(self, hours_from: int, hours_to: int) -> Strategy:
        """Quarter-hours between those hours after the world's base time."""
        base = self.world.base
        return st.integers(min_value=4 * hours_from, max_value=4 * hours_to).map(
            lambda k: base + timedelta(minutes=15 * k)
        )


def _after(v: SqlValues, start: Any) -> Strategy:
    """An end a quarter-hour multiple after a plausible start (else anywhere
    plausible): plausible pairs should mostly get past the range check."""
    if isinstance(start, datetime):
        return st.integers(min_value=1, max_value=12).map(
            lambda k: start + timedelta(minutes=15 * k)
        )
    return v.later(1, 32)


def _token(v: SqlValues, drawn: Drawn) -> Strategy:
    """The cancel token of the reference drawn before it, mostly."""
    reference = drawn.get("reference")
    own = (
        v.world.tokens_by_reference.get(reference.strip().upper())
        if isinstance(reference, str)
        else None
    )
    tokens = st.sampled_from(list(v.world.tokens_by_reference.values()))
    return tokens if own is None else st.sampled_from([own, own, own]) | tokens


def _quote(value: str | None) -> str:
    return "" if value is None else '"' + value.replace('"', '\\"') + '"'


def _window(v: SqlValues, drawn: Drawn) -> Strategy:
    base = v.world.base
    return st.tuples(st.integers(0, 96), st.integers(1, 48)).map(
        lambda t: (
            f"[{_quote(_iso(base + timedelta(minutes=15 * t[0])))},"
            f"{_quote(_iso(base + timedelta(minutes=15 * (t[0] + t[1]))))})"
        )
    )


def _customer(v: SqlValues, drawn: Drawn) -> Strategy:
    return st.fixed_dictionaries(
        {"name": hostile_texts, "email": st.sampled_from(v.world.emails) | hostile_texts},
        optional={
            "phone": hostile_texts,
            "notes": hostile_texts,
            "date_of_birth": st.sampled_from(["1990-05-17", "2020-01-01"]),
        },
    ).map(jsonb)


def _rules(v: SqlValues, drawn: Drawn) -> Strategy:
    return st.dictionaries(
        st.sampled_from(
            [
                "hold_ttl",
                "min_notice",
                "max_advance",
                "buffer_before",
                "buffer_after",
                "slot_step",
                "min_party",
                "max_party",
                "min_age",
                "max_active_holds_per_customer",
                "notify",
            ]
        ),
        st.sampled_from([None, "15 minutes", "0", "1 hour", "30 days", 1, 2, 8, 18, True, False]),
        max_size=3,
    ).map(jsonb)


def _requests(v: SqlValues, drawn: Drawn) -> Strategy:
    w = v.world
    request = st.fixed_dictionaries(
        {
            "resource_ids": st.lists(st.sampled_from(w.resources), min_size=1, max_size=2),
            "starts_at": v.later(0, 24).map(_iso),
            "ends_at": v.later(1, 26).map(_iso),
        },
        optional={"quantity": st.integers(1, 3)},
    )
    return st.lists(request, min_size=1, max_size=4).map(jsonb)


# Plausible values by parameter name; None means "no better idea than the type's".
_PLAUSIBLE: dict[str, Callable[[SqlValues, Drawn], Strategy]] = {
    "venue_id": lambda v, d: st.just(v.world.venue),
    "resource_ids": lambda v, d: st.lists(
        v.own(v.world.tables + v.world.shared), min_size=1, max_size=2
    ),
    # Seats named, or a quantity picked for the buyer: one of the two.
    "seat_ids": lambda v, d: (
        st.just(None)
        if d.get("quantity") is not None
        else st.lists(v.own(v.world.seats), min_size=1, max_size=3)
    ),
    "resource_id": lambda v, d: v.own(v.world.resources),
    "a": lambda v, d: v.own(v.world.tables),
    "b": lambda v, d: v.own(v.world.tables),
    "booking_id": lambda v, d: v.own(list(v.world.bookings.values())),
    "exclude_booking_id": lambda v, d: st.none() | v.own(list(v.world.bookings.values())),
    "event_id": lambda v, d: v.own(v.world.events),
    "series_id": lambda v, d: v.own(v.world.series),
    "entry_id": lambda v, d: v.own(v.world.entries),
    "starts_at": lambda v, d: v.later(0, 30),
    "first_starts_at": lambda v, d: v.later(0, 30),
    "ends_at": lambda v, d: _after(v, d.get("starts_at")),
    "from_starts_at": lambda v, d: st.none() | v.later(-48, 48),
    "from_ts": lambda v, d: st.none() | v.later(-48, 48),
    "since": lambda v, d: st.none() | v.later(-200, 0),
    "until": lambda v, d: st.none() | _after(v, d.get("since")),
    "window": _window,
    "party_size": lambda v, d: st.integers(1, 4),
    "quantity": lambda v, d: st.sampled_from([None, 1, 1, 2]),
    "expected_version": lambda v, d: st.sampled_from([None, 1, 2, 3]),
    "occurrences": lambda v, d: st.integers(1, 3),
    "first_number": lambda v, d: st.integers(1, 100),
    "seat_count": lambda v, d: st.integers(1, 4),
    "price_cents": lambda v, d: st.integers(0, 10_000),
    "deposit_cents": lambda v, d: st.integers(0, 10_000),
    "min_spend_cents": lambda v, d: st.integers(0, 10_000),
    "sellable_capacity": lambda v, d: st.sampled_from([None, 1, 2, 3, 10, 30]),
    "weekday": lambda v, d: st.integers(1, 7),
    "priority": lambda v, d: st.integers(-2, 5),
    "max_rows": lambda v, d: st.integers(1, 100),
    "max_entries": lambda v, d: st.integers(1, 100),
    "max_results": lambda v, d: st.integers(1, 10),
    "max_tables": lambda v, d: st.integers(1, 4),
    "after_seq": lambda v, d: st.integers(0, 5),
    "capacity": lambda v, d: st.integers(1, 10),
    "seats_min": lambda v, d: st.integers(1, 3),
    "seats_max": lambda v, d: st.none() | st.integers(2, 8),
    "ttl": lambda v, d: st.sampled_from([None, "10 minutes", "1 hour"]),
    "extra": lambda v, d: st.sampled_from(["5 minutes", "1 hour"]),
    "duration": lambda v, d: st.sampled_from(["1 hour", "90 minutes"]),
    "every": lambda v, d: st.sampled_from(["7 days", "1 day", "1 mon"]),
    "step": lambda v, d: st.sampled_from([None, "15 minutes", "1 hour"]),
    "older_than": lambda v, d: st.sampled_from(["30 days", "0", "1 hour"]),
    "before": lambda v, d: st.sampled_from(["0", "10 minutes"]),
    "after": lambda v, d: st.sampled_from(["0", "15 minutes"]),
    "max_unswept": lambda v, d: st.sampled_from([None, "10 minutes"]),
    "max_feed_lag": lambda v, d: st.sampled_from([None, "5 minutes"]),
    "max_lock_wait": lambda v, d: st.sampled_from([None, "30 seconds"]),
    "customer": lambda v, d: st.none() | _customer(v, d),
    "rules": _rules,
    "requests": _requests,
    "timezone": lambda v, d: st.sampled_from(
        ["UTC", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]
    ),
    "kind": lambda v, d: st.sampled_from(["table", "room", "seat", "ga", "area"]),
    "status": lambda v, d: st.sampled_from(["confirmed", "pending"]),
    "category": lambda v, d: st.none() | v.own(v.world.categories),
    "reference": lambda v, d: v.own(v.world.references).flatmap(
        lambda r: st.sampled_from([r, r.lower(), f"  {r} "])
    ),
    "token": _token,
    "email": lambda v, d: v.own(v.world.emails).flatmap(
        lambda e: st.sampled_from([e, e.upper(), e.lower()])
    ),
    "code": lambda v, d: st.sampled_from(["BK001", "BK007", "BK021"]),
    # Roles migrate creates; never the fuzzing login itself (binding it to a
    # venue would bind this very connection).
    "role_name": lambda v, d: st.sampled_from(["bookingdb_app", "bookingdb_readonly"]),
    "day": lambda v, d: st.integers(0, 30).map(
        lambda d: (v.world.base.date() + timedelta(days=d)).isoformat()
    ),
    "opens": lambda v, d: st.sampled_from(["09:00", "12:00", "18:00", None]),
    "closes": lambda v, d: st.sampled_from(["17:00", "23:00", "02:00", None]),
    "starts": lambda v, d: st.sampled_from(["09:00", "18:00"]),
    "ends": lambda v, d: st.sampled_from(["17:00", "02:00"]),
    "include_closed": lambda v, d: st.booleans(),
    "check_invariants": lambda v, d: st.booleans(),
}


@st.composite
def arguments(
    draw: st.DrawFn, values: SqlValues, function: PublicFunction
) -> tuple[int, list[Any]]:
    """How many arguments to pass (the rest take their defaults) and their
    values: all plausible, exactly one hostile, or each either way."""
    count = draw(st.integers(min_value=function.required, max_value=len(function.params)))
    params = function.params[:count]
    mode = draw(st.sampled_from(["plausible", "one hostile", "one hostile", "any"]))
    odd_one = draw(st.integers(min_value=0, max_value=max(count - 1, 0)))
    chosen = []
    drawn: Drawn = {}
    for i, p in enumerate(params):
        if mode == "plausible":
            hostile = False
        elif mode == "one hostile":
            hostile = i == odd_one
        else:
            hostile = draw(st.booleans())
        if hostile:
            strategy = values.hostile(p.sql_type)
        else:
            strategy = values.plausible(p.name, p.sql_type, drawn)
        drawn[p.name] = value = draw(strategy, label=p.name)
        chosen.append(value)
    return count, chosen


# -- plain values, for sweeps ------------------------------------------------------------------


def plain_by_name(w: World) -> dict[str, Any]:
    """Plain values of the parameters named after the world's own objects, and
    of plain counts and names: the same from SQL and from Python."""
    return {
        "venue_id": w.venue,
        "resource_ids": [w.tables[0]],
        "seat_ids": None,
        "resource_id": w.tables[0],
        "a": w.tables[0],
        "b": w.tables[1],
        "booking_id": w.bookings["confirmed"],
        "event_id": w.events[0],
        "series_id": w.series[0],
        "entry_id": w.entries[0],
        "timezone": "UTC",
        "kind": "table",
        "status": "confirmed",
        "category": w.categories[0],
        "reference": w.references[0],
        "token": next(iter(w.tokens_by_reference.values())),
        "email": w.emails[0],
        "code": "BK001",
        "occurrences": 1,
        "seat_count": 1,
        "weekday": 1,
        "quantity": 1,
        "party_size": 1,
    }


def plain_sql(param: Param, world: World) -> Any:
    """A plain, deterministic value for a parameter a sweep is not about:
    the world's own objects by name, else a harmless value of the type
    (NULL where the parameter has a default)."""
    w = world
    start = w.base + timedelta(days=20)
    by_name: dict[str, Any] = {
        **plain_by_name(w),
        "starts_at": start,
        "first_starts_at": start,
        "ends_at": start + timedelta(hours=1),
        "window": f"[{start.isoformat()},{(start + timedelta(hours=4)).isoformat()})",
        "day": start.date(),
        "opens": "09:00",
        "closes": "17:00",
        "starts": "09:00",
        "ends": "17:00",
        "every": "7 days",
        "duration": "1 hour",
        "requests": jsonb(
            [
                {
                    "resource_ids": [w.tables[0]],
                    "starts_at": start.isoformat(),
                    "ends_at": start.isoformat(),
                }
            ]
        ),
        "rules": jsonb({"max_party": 20}),
        "customer": jsonb({"name": "Ada"}),
    }
    if param.name in by_name:
        return by_name[param.name]
    if param.has_default:
        return None
    by_type: dict[str, Any] = {
        "bigint": w.venue,
        "bigint[]": [w.tables[0]],
        "integer": 1,
        "text": f"plain {param.name}",
        "boolean": False,
        "interval": "30 minutes",
        "timestamp with time zone": start,
        "date": start.date(),
        "time without time zone": "12:00",
        "jsonb": "{}",
        "tstzrange": by_name["window"],
    }
    return by_type.get(param.sql_type)
