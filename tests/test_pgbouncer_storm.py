"""The S2 storm through a real PgBouncer in transaction pooling mode.

S2 (:func:`bookingdb.bench.scenarios.s2_hot_spot`) sends 64 pgbench clients
at 20 resources x 50 one-hour slots, first through ``create_booking_atomic``
and then through the naive check-then-insert reference. Here every one of
those connections goes through PgBouncer, so consecutive transactions of one
client land on different server connections: anything the engine kept in a
session (a session-level lock or setting, a temporary table) would show up as
a double booking, an invariant violation or an error. Its own correctness
checks must all pass, as they do on a direct connection.

The scenario's databases are created, migrated and dropped directly on the
server (:class:`PooledWorkspace`); only the storm goes through PgBouncer.
Skipped, with the reason, where PgBouncer cannot be installed or started.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pgbouncer_kit
import pytest
from psycopg.conninfo import conninfo_to_dict
from rich.console import Console

from bookingdb.bench.scenarios import Context, Settings, s2_hot_spot
from bookingdb.bench.workspace import Workspace

pytestmark = pytest.mark.pgbouncer


class PooledWorkspace(Workspace):
    """A bench workspace whose scenario databases are reached through PgBouncer."""

    bouncer: pgbouncer_kit.PgBouncer

    @contextlib.contextmanager
    def database(self, tag: str) -> Iterator[str]:
        with super().database(tag) as direct:
            yield self.bouncer.dsn(str(conninfo_to_dict(direct)["dbname"]))


@pytest.fixture(scope="module")
def bouncer(server_dsn: str) -> Iterator[pgbouncer_kit.PgBouncer]:
    with pgbouncer_kit.running(server_dsn) as running:
        yield running


@pytest.fixture
def workspace(
    server_dsn: str, bouncer: pgbouncer_kit.PgBouncer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PooledWorkspace]:
    with PooledWorkspace.open(server_dsn) as opened:
        assert isinstance(opened, PooledWorkspace)
        opened.bouncer = bouncer
        # The scenario's own psycopg connections (venue set-up, outcome counts)
        # must not prepare statements a PgBouncer before 1.21 cannot keep.
        if not bouncer.tracks_prepared_statements:
            pgbouncer_kit.client_prepares_off(monkeypatch)
        yield opened


def test_s2_storm_through_pgbouncer_books_no_slot_twice(
    workspace: PooledWorkspace, bouncer: pgbouncer_kit.PgBouncer, tmp_path: Path
) -> None:
    output = io.StringIO()
    ctx = Context(
        workspace,
        Settings.preset(quick=True),
        Console(file=output, width=160),
        tmp_path,
        query_mode=bouncer.pgbench_query_mode,
    )

    result = s2_hot_spot(ctx)

    failed = [f"{c.name} = {c.value} ({c.detail})" for c in result.checks if not c.passed]
    assert result.error is None, result.error
    assert result.checks, "S2 reported no correctness checks"
    assert not failed, (
        f"S2 through PgBouncer {bouncer.version}: failed checks {failed}\n"
        f"{output.getvalue()}\nPgBouncer log:\n{bouncer.log[-3000:]}"
    )
    # The storm really ran: bookings were won and slots were refused.
    outcomes = result.details["outcomes"]
    checks = ", ".join(f"{c.name}={c.value}" for c in result.checks)
    print(f"S2 through PgBouncer {bouncer.version}: outcomes {outcomes}; {checks}")
    assert outcomes.get("ok", 0) > 0, outcomes
    assert outcomes.get("BK001", 0) > 0, outcomes
