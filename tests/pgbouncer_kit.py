"""A real PgBouncer in transaction pooling mode in front of the test server.

The concurrency tests (with ``BOOKINGDB_TEST_PGBOUNCER=1``) and the S2 storm
(``tests/test_pgbouncer_storm.py``) run through it, to prove the engine keeps
no session state: every call is one transaction, every lock it takes is
transaction-scoped, and the clients use no server-side prepared statements
where this PgBouncer cannot keep them.

- :func:`find` locates the ``pgbouncer`` binary, installing the Debian package
  when it is missing and we are root; otherwise it says why not
  (:class:`Unavailable`).
- :func:`running` writes a configuration into a directory of its own, runs
  PgBouncer in the foreground as a child process, waits until a query goes
  through it to the server, and terminates it at the end.
- :func:`client_prepares_off` makes psycopg's ``connect()`` default to
  ``prepare_threshold=None`` for a test, when this PgBouncer cannot keep
  prepared statements (before 1.21).

Databases are created and dropped directly on the server: only the traffic
of the test itself goes through PgBouncer.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Set to 1 to run every test's ``dsn`` through PgBouncer (tests/conftest.py).
ENV = "BOOKINGDB_TEST_PGBOUNCER"
# apt-get can take a while on a cold package cache; a hang is a skip, not a stall.
INSTALL_TIMEOUT = 600.0
INSTALL_LOCK = Path(tempfile.gettempdir()) / "bookingdb-pgbouncer-install.lock"
# From starting the process to the first query through it.
START_TIMEOUT = 30.0
# PgBouncer keeps protocol-level prepared statements across server
# connections in transaction pooling mode from this version on
# (max_prepared_statements).
TRACKS_PREPARED = (1, 21)
# Server connections PgBouncer leaves to everything that does not go through
# it (the fixtures' CREATE and DROP DATABASE, other clients of a shared server).
HEADROOM = 10
# How many client connections PgBouncer accepts: far more than any test opens
# (the storms open up to ~130, pgbench 64 plus the scenario's own).
MAX_CLIENT_CONN = 1000


class Unavailable(Exception):
    """PgBouncer cannot be found, installed or started here; the message says why."""


def wanted() -> bool:
    """Whether ``BOOKINGDB_TEST_PGBOUNCER`` asks for the tests to go through PgBouncer."""
    return os.environ.get(ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _located() -> Path | None:
    found = shutil.which("pgbouncer")
    if found:
        return Path(found)
    # /usr/sbin is not on every user's PATH; Debian installs it there.
    for candidate in (Path("/usr/sbin/pgbouncer"), Path("/usr/local/sbin/pgbouncer")):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _install() -> None:
    """``apt-get install pgbouncer``; raise :class:`Unavailable` if it fails."""
    if shutil.which("apt-get") is None:
        raise Unavailable("pgbouncer is not installed and this system has no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Wait for dpkg's lock rather than fail on it: another installer (a
    # parallel test process, cluster.sh) may hold it for a while.
    wait = ["-o", f"DPkg::Lock::Timeout={INSTALL_TIMEOUT:.0f}"]
    for command in (
        ["apt-get", *wait, "update", "-qq"],
        ["apt-get", *wait, "install", "-y", "-qq", "--no-install-recommends", "pgbouncer"],
    ):
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise Unavailable(f"{' '.join(command)} took over {INSTALL_TIMEOUT:.0f} s") from err
        if done.returncode != 0:
            raise Unavailable(
                f"{' '.join(command)} failed (exit {done.returncode}):\n"
                + _tail(done.stderr or done.stdout)
            )


def find() -> Path:
    """The pgbouncer binary: on PATH or in /usr/sbin, else installed with apt-get
    (as root only). Raises :class:`Unavailable` with the reason otherwise."""
    found = _located()
    if found is not None:
        return found
    if not _running_as_root():
        raise Unavailable(
            "pgbouncer is not installed and we are not root to install it "
            "(apt-get install pgbouncer)"
        )
    # One installer at a time among the test processes; the others find it
    # installed when they get the lock.
    with open(INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _located() is None:
            _install()
    found = _located()
    if found is None:
        raise Unavailable("apt-get installed pgbouncer, but no pgbouncer binary was found")
    return found


def version(binary: Path) -> tuple[int, ...]:
    """``(1, 18, 0)`` from ``pgbouncer --version`` (first line: ``PgBouncer 1.18.0``)."""
    done = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r"PgBouncer (\d+(?:\.\d+)+)", done.stdout + done.stderr)
    if match is None:
        raise Unavailable(f"cannot read the version of {binary}: {_tail(done.stdout)}")
    return tuple(int(part) for part in match.group(1).split("."))


@dataclass(frozen=True)
class Server:
    """Where PgBouncer sends its server connections, read from the server's DSN."""

    host: str
    port: int
    user: str
    password: str | None
    dbname: str

    @classmethod
    def from_dsn(cls, dsn: str) -> Server:
        params = conninfo_to_dict(dsn)
        host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
        if "," in host:
            raise Unavailable(f"PgBouncer needs one server host, the DSN names several: {host}")
        password = params.get("password") or os.environ.get("PGPASSWORD")
        user = str(params.get("user") or os.environ.get("PGUSER") or getpass.getuser())
        return cls(
            host=host,
            port=int(params.get("port") or os.environ.get("PGPORT") or 5432),
            user=user,
            password=str(password) if password else None,
            dbname=str(params.get("dbname") or user),
        )

    @property
    def unix_socket(self) -> bool:
        return self.host.startswith("/")


def _run_as(server: Server) -> str | None:
    """The OS user to run PgBouncer as: None to stay ourselves; as root (which
    PgBouncer refuses to be) the owner of the server's Unix socket directory
    (the embedded server's data directory is closed to anyone else), else
    nobody."""
    if not _running_as_root():
        return None
    if server.unix_socket:
        owner = Path(server.host).stat().st_uid
        if owner != 0:
            return pwd.getpwuid(owner).pw_name
    return "nobody"


def _quote(value: str) -> str:
    """A quoted value for a ``key=value`` list in pgbouncer.ini (a socket
    directory may hold spaces; a quote in it is refused, not guessed at)."""
    if "'" in value or "\\" in value:
        raise Unavailable(f"cannot write {value!r} into pgbouncer.ini")
    return f"'{value}'"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pool_size(server_dsn: str) -> int:
    """Server connections PgBouncer may open per database: what the server
    allows, less its reserved slots and :data:`HEADROOM`."""
    with psycopg.connect(server_dsn, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - coalesce(current_setting('reserved_connections', true)::int, 0)"
        ).fetchone()
    assert row is not None
    return max(5, int(row[0]) - HEADROOM)


@dataclass
class PgBouncer:
    """A running PgBouncer: :meth:`dsn` gives a DSN through it for any database
    of the server."""

    binary: Path
    version: tuple[int, ...]
    server: Server
    port: int
    pool_size: int
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def tracks_prepared_statements(self) -> bool:
        """Whether clients may keep using protocol-level prepared statements
        (PgBouncer 1.21+, ``max_prepared_statements`` set in our config)."""
        return self.version >= TRACKS_PREPARED

    @property
    def prepare_threshold(self) -> int | None:
        """psycopg's ``prepare_threshold`` for clients of this PgBouncer: its
        default (5) where prepared statements are kept, None (never prepare)
        where they are not."""
        return 5 if self.tracks_prepared_statements else None

    @property
    def pgbench_query_mode(self) -> Literal["extended", "prepared"]:
        """pgbench's ``-M`` for clients of this PgBouncer: ``prepared`` where it
        keeps prepared statements, else ``extended`` (unnamed statements, one
        Parse/Bind/Execute per query, as psycopg without prepares)."""
        return "prepared" if self.tracks_prepared_statements else "extended"

    @property
    def log(self) -> str:
        """What PgBouncer logged so far (for a failure message)."""
        parts = []
        for name in ("pgbouncer.log", "stderr.log"):
            with contextlib.suppress(OSError):
                parts.append((self.workdir / name).read_text(encoding="utf-8", errors="replace"))
        return "\n".join(part for part in parts if part.strip())

    def dsn(self, dbname: str) -> str:
        """A DSN for ``dbname`` on the server, through PgBouncer."""
        return make_conninfo(
            "",
            host="127.0.0.1",
            port=self.port,
            user=self.server.user,
            dbname=dbname,
            # The server's password is in PgBouncer's auth file; it does not
            # ask us for one (auth_type trust).
        )

    def stop(self) -> None:
        """Terminate PgBouncer (SIGTERM: immediate shutdown) and remove its directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _config(server: Server, port: int, pool_size: int, workdir: Path, tracks: bool) -> str:
    target = f"host={_quote(server.host)} port={server.port}"
    lines = [
        "[databases]",
        # Any database name a client asks for, on the test server: each test
        # has a database of its own, created after PgBouncer started.
        f"* = {target}",
        "",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        # No Unix socket of our own: nothing to collide with in /tmp.
        "unix_socket_dir =",
        f"logfile = {workdir / 'pgbouncer.log'}",
        # Clients are the tests on this machine: trusted, but only as a user
        # in the auth file, whose password PgBouncer uses to log in to the
        # server (an unknown user is refused rather than silently mapped).
        "auth_type = trust",
        f"auth_file = {workdir / 'userlist.txt'}",
        "pool_mode = transaction",
        f"max_client_conn = {MAX_CLIENT_CONN}",
        f"default_pool_size = {pool_size}",
        f"max_db_connections = {pool_size}",
        "min_pool_size = 0",
        "reserve_pool_size = 0",
        # In transaction pooling a server connection goes back to the pool at
        # every commit; nothing is reset in between, which is the point: the
        # engine must not leave session state behind.
        "server_reset_query =",
        "server_reset_query_always = 0",
        # JDBC-style drivers send it; harmless to accept.
        "ignore_startup_parameters = extra_float_digits",
        # A test's database may be dropped (WITH FORCE) while PgBouncer keeps
        # idle connections to it; retry a failed server login quickly.
        "server_login_retry = 1",
        "log_connections = 0",
        "log_disconnections = 0",
        "log_pooler_errors = 1",
    ]
    if tracks:
        lines.append("max_prepared_statements = 200")
    return "\n".join(lines) + "\n"


def _userlist(server: Server) -> str:
    password = (server.password or "").replace('"', '""')
    user = server.user.replace('"', '""')
    return f'"{user}" "{password}"\n'


def _wait_ready(bouncer: PgBouncer) -> None:
    """Poll until a query goes through PgBouncer to the server, or fail."""
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if bouncer.process.poll() is not None:
            raise Unavailable(
                f"pgbouncer exited with code {bouncer.process.returncode}:\n{_tail(bouncer.log)}"
            )
        try:
            with psycopg.connect(
                bouncer.dsn(bouncer.server.dbname),
                autocommit=True,
                connect_timeout=2,
                prepare_threshold=None,
            ) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as err:
            last = err
        time.sleep(0.05)
    raise Unavailable(
        f"pgbouncer did not pass a query within {START_TIMEOUT:.0f} s ({last}):\n"
        + _tail(bouncer.log)
    )


def start(server_dsn: str) -> PgBouncer:
    """Start PgBouncer in transaction pooling mode in front of ``server_dsn``'s
    server; raise :class:`Unavailable` with the reason where it cannot be."""
    binary = find()
    found = version(binary)
    server = Server.from_dsn(server_dsn)
    pool_size = _pool_size(server_dsn)
    user = _run_as(server)
    last: Unavailable | None = None
    # A free port found here may be taken before PgBouncer binds it: try again.
    for _attempt in range(3):
        workdir = Path(tempfile.mkdtemp(prefix="bookingdb-pgbouncer-"))
        port = _free_port()
        config = workdir / "pgbouncer.ini"
        config.write_text(
            _config(server, port, pool_size, workdir, found >= TRACKS_PREPARED), encoding="utf-8"
        )
        userlist = workdir / "userlist.txt"
        userlist.write_text(_userlist(server), encoding="utf-8")
        userlist.chmod(0o600)
        command = [str(binary)]
        if user is not None:
            account = pwd.getpwnam(user)
            for path in (workdir, config, userlist):
                os.chown(path, account.pw_uid, account.pw_gid)
            command += ["-u", user]
        command.append(str(config))
        with (workdir / "stderr.log").open("wb") as stderr:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr
            )
        bouncer = PgBouncer(binary, found, server, port, pool_size, workdir, process)
        try:
            _wait_ready(bouncer)
        except Unavailable as err:
            bouncer.stop()
            last = err
            continue
        return bouncer
    assert last is not None
    raise last


@contextlib.contextmanager
def running(server_dsn: str) -> Iterator[PgBouncer]:
    """A PgBouncer for the duration of the block; the test is skipped, with the
    reason, where none can be installed or started."""
    try:
        bouncer = start(server_dsn)
    except Unavailable as err:
        # CI sets BOOKINGDB_REQUIRE_PGBOUNCER: there a missing PgBouncer is a
        # failure, not a skip that would read as a pass.
        if os.environ.get("BOOKINGDB_REQUIRE_PGBOUNCER"):
            pytest.fail(f"no PgBouncer, and BOOKINGDB_REQUIRE_PGBOUNCER is set: {err}")
        pytest.skip(f"no PgBouncer: {err}")
    try:
        yield bouncer
    finally:
        bouncer.stop()


def _never_prepare(original: Any) -> Any:
    """``original`` (a ``connect`` classmethod) with ``prepare_threshold`` defaulting to None."""
    function = original.__func__

    def connect(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("prepare_threshold", None)
        return function(cls, *args, **kwargs)

    return classmethod(connect)


def client_prepares_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``psycopg.connect()`` (and ``Connection.connect``, sync and async)
    default to ``prepare_threshold=None`` for the rest of a test.

    psycopg prepares a statement on the server once it has run 5 times on a
    connection (its documented ``prepare_threshold``, a ``connect()``
    parameter). Through a transaction-pooling PgBouncer before 1.21 the next
    execution may reach another server connection, where the statement does
    not exist (or another one has its name). The tests call ``psycopg.connect``
    without the parameter; this changes only its default, so a caller that
    passes ``prepare_threshold`` explicitly (a :class:`bookingdb.BookingDB`
    pool) still gets what it asked for."""
    for cls in (psycopg.Connection, psycopg.AsyncConnection):
        monkeypatch.setattr(cls, "connect", _never_prepare(cls.__dict__["connect"]))
    # psycopg.connect is Connection.connect, bound when psycopg was imported.
    monkeypatch.setattr(psycopg, "connect", psycopg.Connection.connect)
