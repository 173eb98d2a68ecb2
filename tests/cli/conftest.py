"""Running the CLI in-process (typer's CliRunner) against the test database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from bookingdb.cli import app

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
