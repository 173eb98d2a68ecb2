"""Running pgbench (the one shipped with the embedded server) and reading its results.

Every run uses ``-n -M prepared`` (no vacuum of pgbench's own tables; plans
prepared once per connection, as an application's driver would; ``-M
extended`` instead through a pooler that cannot keep a connection's prepared
statements, such as PgBouncer before 1.21 in transaction pooling mode), custom
scripts, ``--failures-detailed`` so deadlock and serialization failures are
counted rather than hidden, and ``-l`` per-transaction logs: they give exact
latency percentiles and, with :mod:`bookingdb.bench.acks`, tell which
transactions were acknowledged.

pgbench aborts a client on any error that is not a serialization failure or a
deadlock. Scenarios that expect refusals wrap the call in ``bench.book``,
which catches and records them; scenarios that must stop early (S3, sold out)
raise :data:`STOP_SQLSTATE` on purpose, which ends each client cleanly.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bookingdb import server

# Raised by the bench wrappers when there is nothing left to buy; a pgbench
# client that sees it stops. Not of class BK: it is no refusal of bookingdb's.
STOP_SQLSTATE = "BX000"
STOP_MESSAGE = "bench: sold out"

# pgbench's -M: "prepared" plans each statement once per connection; "extended"
# sends unnamed statements, for a pooler that hands a client's transactions to
# different server connections (PgBouncer before 1.21, transaction pooling).
QueryMode = Literal["simple", "extended", "prepared"]


@dataclass(frozen=True)
class Script:
    """A custom pgbench script (``-f name@weight``)."""

    name: str
    body: str
    weight: int = 1


@dataclass(frozen=True)
class Transaction:
    """One line of pgbench's per-transaction log."""

    client: int
    number: int
    latency_us: int | None
    script: int
    # When the client had the answer (epoch seconds), from the log line.
    finished_at: float | None = None

    @property
    def completed(self) -> bool:
        return self.latency_us is not None


@dataclass
class PgbenchRun:
    """The outcome of one pgbench run."""

    clients: int
    seconds: int
    tps: float | None
    processed: int
    failed: int
    deadlock_failures: int
    serialization_failures: int
    aborted_clients: int
    stopped_clients: int
    transactions: list[Transaction] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    def completed(self, script: int | None = None) -> list[Transaction]:
        return [
            t for t in self.transactions if t.completed and (script is None or t.script == script)
        ]

    def latencies_us(self, script: int | None = None) -> list[float]:
        return [float(t.latency_us) for t in self.completed(script) if t.latency_us is not None]

    def max_number(self) -> int:
        """The highest transaction number any client reached (0 when none ran)."""
        return max((t.number for t in self.transactions), default=0)


class PgbenchError(RuntimeError):
    """pgbench could not run the scenario (the message has its output)."""


def _number(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


def parse_log_line(line: str) -> Transaction | None:
    """``client_id transaction_no time script_no time_epoch time_us [...]``; the
    time is ``failed``/``serialization``/``deadlock``/``skipped`` when the
    transaction did not complete."""
    parts = line.split()
    if len(parts) < 6:
        return None
    latency = int(parts[2]) if parts[2].isdigit() else None
    return Transaction(
        client=int(parts[0]),
        number=int(parts[1]),
        latency_us=latency,
        script=int(parts[3]),
        finished_at=int(parts[4]) + int(parts[5]) / 1e6
        if parts[4].isdigit() and parts[5].isdigit()
        else None,
    )


def _split_password(dsn: str) -> tuple[str, dict[str, str]]:
    """The conninfo for pgbench's command line, without the password (which
    goes through PGPASSWORD so it never shows in a process list)."""
    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = {"PGPASSWORD": str(password)} if password else {}
    return make_conninfo("", **{k: str(v) for k, v in params.items() if v is not None}), env


def run(
    dsn: str,
    scripts: Sequence[Script],
    *,
    clients: int,
    seconds: int,
    variables: Mapping[str, int | str],
    workdir: Path,
    tag: str,
    transactions: int | None = None,
    stop_expected: bool = False,
    query_mode: QueryMode = "prepared",
) -> PgbenchRun:
    """Run ``scripts`` with ``clients`` connections for ``seconds`` (or, given
    ``transactions``, that many per client), ending early if every client stops
    on :data:`STOP_SQLSTATE` and ``stop_expected``. ``query_mode`` is pgbench's
    ``-M``."""
    rundir = workdir / tag
    rundir.mkdir(parents=True, exist_ok=True)
    conninfo, env = _split_password(dsn)
    jobs = max(1, min(clients, os.cpu_count() or 1))
    command = [
        str(server.bin_path("pgbench")),
        "-n",
        "-M",
        query_mode,
        "-c",
        str(clients),
        "-j",
        str(jobs),
        *(["-t", str(transactions)] if transactions else ["-T", str(seconds)]),
        "--failures-detailed",
        "-l",
        f"--log-prefix={rundir / 'txn'}",
    ]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    for script in scripts:
        path = rundir / f"{script.name}.sql"
        path.write_text(script.body, encoding="utf-8")
        command += ["-f", f"{path}@{script.weight}"]
    command.append(conninfo)

    started = time.monotonic()
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=rundir,
        timeout=seconds + 300,
        check=False,
    )
    wall = time.monotonic() - started
    out, err = proc.stdout, proc.stderr

    aborted = stopped = 0
    errors: list[str] = []
    for line in err.splitlines():
        if "aborted in command" in line:
            if stop_expected and STOP_MESSAGE in line:
                stopped += 1
            else:
                aborted += 1
                errors.append(line.strip())
        elif line.startswith("pgbench: error:") and "Run was aborted" not in line:
            errors.append(line.strip())

    tps = _number(r"^tps = ([\d.]+)", out)
    processed = _number(r"^number of transactions actually processed: (\d+)", out)
    if processed is None:
        raise PgbenchError(
            f"pgbench {tag} failed (exit {proc.returncode}):\n{err.strip() or out.strip()}"
        )
    logged: list[Transaction] = []
    for log in sorted(rundir.glob("txn.*")):
        for line in log.read_text(encoding="utf-8").splitlines():
            parsed = parse_log_line(line)
            if parsed is not None:
                logged.append(parsed)
    return PgbenchRun(
        clients=clients,
        seconds=seconds,
        tps=tps,
        processed=int(processed),
        failed=int(_number(r"^number of failed transactions: (\d+)", out) or 0),
        deadlock_failures=int(_number(r"^number of deadlock failures: (\d+)", out) or 0),
        serialization_failures=int(_number(r"^number of serialization failures: (\d+)", out) or 0),
        aborted_clients=aborted,
        stopped_clients=stopped,
        transactions=logged,
        errors=errors,
        wall_seconds=wall,
    )
