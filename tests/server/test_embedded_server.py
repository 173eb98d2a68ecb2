"""The embedded PostgreSQL 18 server: starts, answers, reports, stops, and
never loosens the user's home directory.

Each test starts its own server in a fresh directory under the system temp
directory (opened 0o755 like tests/conftest.py does: as root the server runs
as another OS user, which must be able to enter it) and always stops it and
deletes the directory, even when the test fails.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bookingdb import server
from bookingdb.migrate import migrate

# End to end: each test starts and stops a real server (make test-all).
pytestmark = pytest.mark.e2e

as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the root-only layout rules"
)


def modes(path: Path) -> dict[Path, int]:
    """The permission bits of ``path`` and of every parent up to /."""
    return {p: stat.S_IMODE(p.stat().st_mode) for p in [path, *path.parents]}


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A fresh directory for one server; the server is stopped and the
    directory deleted afterwards, whatever happened."""
    directory = Path(tempfile.mkdtemp(prefix="bookingdb-srv-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        data_dir = directory / "pgdata"
        try:
            if server.status(data_dir).running:
                server.stop(data_dir)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[Path, str]]:
    """One server for the read-only checks of this module: (data dir, DSN)."""
    directory = Path(tempfile.mkdtemp(prefix="bookingdb-srv-"))
    directory.chmod(0o755)
    data_dir = directory / "pgdata"
    try:
        yield data_dir, server.start(data_dir)
    finally:
        try:
            server.stop(data_dir)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def test_the_embedded_server_is_postgresql_18(running: tuple[Path, str]) -> None:
    _, dsn = running
    with psycopg.connect(dsn) as conn:
        version = conn.execute("SELECT version(), current_setting('server_version_num')::int")
        text, number = version.fetchone() or ("", 0)
    assert str(text).startswith("PostgreSQL 18")
    assert 180000 <= int(number) < 190000


def test_the_embedded_server_ships_btree_gist(running: tuple[Path, str]) -> None:
    _, dsn = running
    with psycopg.connect(dsn, autocommit=True) as conn:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'btree_gist'"
        ).fetchone()
        assert available == (1,)
        conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        conn.execute(
            "CREATE TEMP TABLE t (k int, r tstzrange, EXCLUDE USING gist (k WITH =, r WITH &&))"
        )


def test_the_embedded_server_listens_on_a_socket_in_its_data_directory(
    running: tuple[Path, str],
) -> None:
    data_dir, dsn = running
    with psycopg.connect(dsn) as conn:
        assert Path(conn.info.host).resolve() == data_dir.resolve()
        assert conn.info.dbname == server.DATABASE


def test_status_reports_the_running_server(running: tuple[Path, str]) -> None:
    data_dir, dsn = running

    status = server.status(data_dir)

    assert status.running
    assert status.dsn == dsn
    assert status.data_dir == data_dir
    assert status.pid is not None
    os.kill(status.pid, 0)  # the postmaster process exists


def test_starting_a_running_server_again_reuses_it(running: tuple[Path, str]) -> None:
    data_dir, dsn = running
    pid = server.status(data_dir).pid

    assert server.start(data_dir) == dsn
    assert server.status(data_dir).pid == pid


def test_the_embedded_server_takes_the_schema(running: tuple[Path, str]) -> None:
    _, dsn = running

    migrate(dsn)

    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT * FROM bookingdb.verify_invariants()").fetchall() == []


def test_stop_stops_the_server(scratch: Path) -> None:
    data_dir = scratch / "pgdata"
    dsn = server.start(data_dir)
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")

    assert server.stop(data_dir) is True

    assert server.status(data_dir).running is False
    assert server.status(data_dir).dsn is None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2).close()
    # Stopping a stopped server says so instead of failing.
    assert server.stop(data_dir) is False


def test_status_of_a_directory_without_a_server_reports_not_running(tmp_path: Path) -> None:
    status = server.status(tmp_path / "nothing-here")

    assert (status.running, status.pid, status.dsn) == (False, None, None)


def test_starting_and_stopping_leaves_the_home_directory_mode_unchanged(scratch: Path) -> None:
    home = Path.home()
    before = modes(home)
    data_dir = scratch / "pgdata"

    server.start(data_dir)
    during = modes(home)
    server.stop(data_dir)

    assert during == before
    assert modes(home) == before


@as_root
def test_start_refuses_a_data_directory_under_a_private_directory(scratch: Path) -> None:
    private = scratch / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)  # whatever the umask
    data_dir = private / "pgdata"

    with pytest.raises(server.EmbeddedServerError, match=str(private)):
        server.start(data_dir)

    # Refused before touching anything: the directory is still private and
    # no cluster was created.
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert not (data_dir / "PG_VERSION").exists()
    assert server.status(data_dir).running is False


@as_root
def test_start_refuses_a_data_directory_under_the_private_home_directory() -> None:
    home = Path.home()
    if stat.S_IMODE(home.stat().st_mode) & stat.S_IXOTH:
        pytest.skip(f"{home} is not private here")
    before = modes(home)
    data_dir = home / ".local" / "share" / "bookingdb-test-never-created" / "pgdata"
    # start() may create the missing parents before it refuses; remove them.
    missing = [p for p in [data_dir, *data_dir.parents] if not p.exists()]
    try:
        with pytest.raises(server.EmbeddedServerError, match=str(home)):
            server.start(data_dir)
    finally:
        if missing:
            shutil.rmtree(missing[-1], ignore_errors=True)
    assert modes(home) == before
