"""Parties racing for overlapping table combinations never share a table.

Six four-seat tables stand in a row, each linked to its neighbours, so every
pair of neighbours seats a party of eight and neighbouring pairs overlap.
Sixteen racers ask ``table_combinations`` for the same evening, book one of the
offered pairs, and on a refusal ask again until nothing is offered.
"""

from __future__ import annotations

import itertools

import psycopg
import pytest

from .conftest import Venue
from .racing import Outcome, Session, assert_refused_only_with, run_threads

pytestmark = pytest.mark.concurrency

THREADS = 16
ROUNDS = 5
TABLES = 6


def _row_of_tables(venue: Venue) -> list[int]:
    with psycopg.connect(venue.dsn, autocommit=True) as conn:
        tables = []
        for i in range(TABLES):
            row = conn.execute(
                "SELECT bookingdb.add_resource(%s, %s, 1, 2, 4)", (venue.venue_id, f"T{i + 1}")
            ).fetchone()
            assert row is not None
            tables.append(venue.ledger.resource(int(row[0]), 1))
        for a, b in itertools.pairwise(tables):
            conn.execute("SELECT bookingdb.link_resources(%s, %s, %s)", (venue.venue_id, a, b))
    return tables


def test_racing_parties_never_share_a_table_and_leave_no_bookable_pair(venue: Venue) -> None:
    tables = _row_of_tables(venue)

    def evening(round_: int) -> tuple[object, object]:
        return venue.at(24 * 60 * round_ + 19 * 60), venue.at(24 * 60 * round_ + 21 * 60)

    def body(session: Session) -> list[tuple[int, Outcome]]:
        outcomes = []
        for round_ in range(ROUNDS):
            starts, ends = evening(round_)
            session.sync()
            for _ in range(TABLES):
                combos = session.conn.execute(
                    "SELECT resource_ids FROM bookingdb.table_combinations(%s, %s, %s, 8, 2)",
                    (venue.venue_id, starts, ends),
                ).fetchall()
                if not combos:
                    break
                pick = combos[session.index % len(combos)]["resource_ids"]
                outcome = session.attempt(
                    "create_booking_atomic",
                    venue_id=venue.venue_id,
                    resource_ids=pick,
                    starts_at=starts,
                    ends_at=ends,
                    party_size=8,
                )
                outcomes.append((round_, outcome))
                if outcome.won:
                    break
        return outcomes

    results = [r for mine in run_threads(venue.dsn, THREADS, body) for r in mine]
    outcomes = [o for _, o in results]
    venue.ledger.record_all(o.row for o in outcomes)
    assert_refused_only_with(outcomes, {"BK001"})

    for round_ in range(ROUNDS):
        won = [o.row for r, o in results if r == round_ and o.row is not None]
        claimed = [t for row in won for t in row["resource_ids"]]
        # Nobody got a table twice, and only whole linked pairs were booked.
        assert len(claimed) == len(set(claimed)), f"round {round_}: a table was shared: {won}"
        assert all(len(row["resource_ids"]) == 2 for row in won)
        # Six tables seat at most three parties of eight, and the racers kept
        # asking until no pair was left, so at least two (e.g. T2+T3, T5+T6).
        assert 2 <= len(won) <= 3
        assert set(claimed) <= set(tables)
        with psycopg.connect(venue.dsn, autocommit=True) as conn:
            starts, ends = evening(round_)
            left = conn.execute(
                "SELECT count(*) FROM bookingdb.table_combinations(%s, %s, %s, 8, 2)",
                (venue.venue_id, starts, ends),
            ).fetchone()
        assert left == (0,)
    venue.check()
