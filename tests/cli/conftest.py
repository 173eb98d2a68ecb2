"""Running the CLI in-process (typer's CliRunner) against the test database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bookingdb.cli import app

from .kit import at, ok_json

Invoke = Callable[..., Result]


@pytest.fixture
def cli(dsn: str) -> Invoke:
    """``cli("book", venue, "-r", table, ...)``: run a command with ``--dsn`` of this
    test's database. A crash (an exception other than a clean exit) fails the test."""
    runner = CliRunner()

    def invoke(*args: object, with_dsn: bool = True) -> Result:
        argv = [str(a) for a in args] + (["--dsn", dsn] if with_dsn else [])
        result = runner.invoke(app, argv)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"bookingdb {' '.join(argv)} crashed") from result.exception
        return result

    return invoke


@dataclass(frozen=True)
class Place:
    """A London venue with two tables (4 and 6 seats), made through the CLI."""

    venue: int
    table: int
    other: int


@pytest.fixture
def place(cli: Invoke) -> Place:
    venue = ok_json(cli("venue", "create", "Dock Diner", "--timezone", "Europe/London", "--json"))
    venue_id = venue["venue_id"]
    table = ok_json(cli("resource", "add", venue_id, "T1", "--seats-max", 4, "--json"))
    other = ok_json(cli("resource", "add", venue_id, "T2", "--seats-max", 6, "--json"))
    return Place(venue_id, table["resource_id"], other["resource_id"])


def book_table(cli: Invoke, place: Place, start: float, *extra: object) -> dict[str, Any]:
    """Book the place's first table for an hour from ``at(start)``: the booking as JSON."""
    booking: dict[str, Any] = ok_json(
        cli("book", place.venue, "-r", place.table, "--start", at(start), "--duration", "1h",
            "--json", *extra)
    )  # fmt: skip
    return booking
