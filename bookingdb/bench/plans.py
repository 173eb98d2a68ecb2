"""The plans a call really ran, and whether they read the booking tables by index.

A function's inner queries cannot be EXPLAINed from outside, and a copy of
them would drift from the functions. So the benchmark asks the server:
``auto_explain`` with ``log_nested_statements`` reports the plan of every
statement the call executed (generic plans included, as the functions force
them), sent back to this session as NOTICEs. A call is *index-driven* when no
statement scans ``bookingdb.allocations`` or ``bookingdb.bookings``
sequentially; every scan's rows read are kept as the evidence.

``auto_explain`` is loaded with ``LOAD``, which needs a superuser (the
embedded server's user is one). Elsewhere :func:`explainer` yields None and
the benchmark reports the plans as not checked.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg

# The tables whose growth the plans must not follow.
BOOKING_TABLES = frozenset({("bookingdb", "allocations"), ("bookingdb", "bookings")})

# log_analyze gives actual rows (so rows read); log_timing off keeps the
# instrumentation cheap; log_verbose names each relation's schema.
_SETTINGS = {
    "log_min_duration": "0",
    "log_nested_statements": "on",
    "log_analyze": "on",
    "log_timing": "off",
    "log_verbose": "on",
    "log_format": "json",
    "log_level": "notice",
}


@dataclass(frozen=True)
class Scan:
    """One scan node on a booking table: how it read and how many rows it
    looked at (returned + filtered out, over all its loops)."""

    node: str
    relation: str
    index: str | None
    rows_read: float

    @property
    def sequential(self) -> bool:
        return self.node == "Seq Scan"

    @property
    def how(self) -> str:
        using = f" using {self.index}" if self.index else ""
        return f"{self.node}{using} on {self.relation}"

    def describe(self) -> str:
        return f"{self.how} ({self.rows_read:,.0f} rows read)"


@dataclass(frozen=True)
class CallPlan:
    """The plans of every statement one call executed."""

    statements: int
    scans: tuple[Scan, ...]

    @property
    def index_driven(self) -> bool:
        return not any(scan.sequential for scan in self.scans)

    @property
    def rows_read(self) -> float:
        return sum(scan.rows_read for scan in self.scans)

    def to_dict(self) -> dict[str, Any]:
        """For results.json: scans of the same kind summed ("50 x Index Scan
        using … (rows read)" for a call that looks 50 times)."""
        kinds: dict[str, list[float]] = {}
        for scan in self.scans:
            kinds.setdefault(scan.how, []).append(scan.rows_read)
        return {
            "index_driven": self.index_driven,
            "statements": self.statements,
            "rows_read": round(self.rows_read),
            "scans": [
                f"{len(rows)} x {how} ({sum(rows):,.0f} rows read)" for how, rows in kinds.items()
            ],
        }


def booking_scans(plan: Mapping[str, Any]) -> Iterator[Scan]:
    """The scan nodes on the booking tables in one EXPLAIN (FORMAT JSON,
    VERBOSE, ANALYZE) plan tree, sub-plans and init-plans included."""
    relation = (plan.get("Schema"), plan.get("Relation Name"))
    if relation in BOOKING_TABLES:
        per_loop = sum(
            float(plan.get(key) or 0)
            for key in ("Actual Rows", "Rows Removed by Filter", "Rows Removed by Index Recheck")
        )
        yield Scan(
            node=str(plan["Node Type"]),
            relation=f"{relation[0]}.{relation[1]}",
            index=plan.get("Index Name") or _bitmap_indexes(plan),
            rows_read=per_loop * float(plan.get("Actual Loops") or 0),
        )
    for child in plan.get("Plans", ()):
        yield from booking_scans(child)


def _bitmap_indexes(plan: Mapping[str, Any]) -> str | None:
    """The indexes under a Bitmap Heap Scan (its Bitmap Index Scans, through
    any BitmapAnd/BitmapOr)."""
    names = []
    pending = list(plan.get("Plans", ()))
    while pending:
        node = pending.pop(0)
        if node.get("Node Type") == "Bitmap Index Scan" and node.get("Index Name"):
            names.append(str(node["Index Name"]))
        elif str(node.get("Node Type", "")).startswith("Bitmap"):
            pending.extend(node.get("Plans", ()))
    return ", ".join(names) or None


def parse_notice(message: str) -> Mapping[str, Any] | None:
    """auto_explain's ``duration: … plan:`` followed by the JSON plan; None
    for any other notice."""
    if "plan:" not in message or "{" not in message:
        return None
    try:
        found = json.loads(message[message.index("{") :])
    except ValueError:
        return None
    return found if isinstance(found, dict) and "Plan" in found else None


class Explainer:
    """A session with auto_explain on: :meth:`call` runs one statement and
    returns the plans of everything it executed."""

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.conn = conn
        self._notices: list[str] = []
        conn.add_notice_handler(self._notice)

    def _notice(self, diagnostic: psycopg.errors.Diagnostic) -> None:
        # The diagnostic is only valid inside the handler: keep the text.
        if diagnostic.message_primary:
            self._notices.append(diagnostic.message_primary)

    def call(self, query: LiteralString, params: Mapping[str, Any]) -> CallPlan:
        self._notices.clear()
        self.conn.execute(query, params).fetchall()
        plans = [p for p in (parse_notice(n) for n in self._notices) if p is not None]
        return CallPlan(
            statements=len(plans),
            scans=tuple(scan for p in plans for scan in booking_scans(p["Plan"])),
        )


@contextlib.contextmanager
def explainer(dsn: str) -> Iterator[Explainer | None]:
    """An :class:`Explainer` on a session of its own, or None when this server
    or user cannot load auto_explain (the reason is not an error of the run)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute("LOAD 'auto_explain'")
            for name, value in _SETTINGS.items():
                conn.execute("SELECT set_config(%s, %s, false)", (f"auto_explain.{name}", value))
            conn.execute("SET client_min_messages = notice")
        except psycopg.Error:
            loaded = False
        else:
            loaded = True
        yield Explainer(conn) if loaded else None
