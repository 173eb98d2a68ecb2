"""Small helpers shared by the CLI tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from typer.testing import Result

# A whole hour two days ahead: far enough that no slot is in the past.
BASE = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def at(hours: float) -> str:
    """An ISO 8601 instant with a UTC offset, ``hours`` after :data:`BASE`."""
    return (BASE + timedelta(hours=hours)).isoformat(timespec="minutes")


def naive(hours: float) -> str:
    """The same instant written without an offset."""
    return (BASE + timedelta(hours=hours)).replace(tzinfo=None).isoformat(timespec="minutes")


def printed_json(result: Result) -> Any:
    """The JSON a ``--json`` command printed on stdout, whatever its exit code."""
    return json.loads(result.stdout)


def ok_json(result: Result) -> Any:
    """The JSON a successful ``--json`` command printed."""
    assert result.exit_code == 0, result.output
    return printed_json(result)


def one_error_line(result: Result) -> str:
    """The single line a failed command printed (stdout stays empty on failure)."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]
