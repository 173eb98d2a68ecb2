"""sql/ and migrations/ ship inside the wheel, byte for byte, and the
installed wheel migrates a database.

``pip install .`` (not editable) followed by ``bookingdb migrate`` must work
without a checkout, so the wheel must carry the files migrate reads.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

# End to end: a real wheel build (make test-all).
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

# What a build needs; the virtualenv, caches and git history stay behind.
LEFT_BEHIND = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    ".pgdata", "tests",
)  # fmt: skip


def test_the_wheel_ships_sql_and_migrations_and_migrates_a_database(
    tmp_path: Path, empty_database: Callable[[], str]
) -> None:
    # Build from a copy of the working tree, so the build leaves nothing in
    # the repository (setuptools writes build/ and *.egg-info next to pyproject).
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=LEFT_BEHIND)
    out = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = out.glob("bookingdb-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        for folder in ("sql", "migrations"):
            # Compared with the copy it was built from: others may be editing
            # the working tree while this runs. sql/citus/ ships too.
            expected = {
                p.relative_to(source / folder).as_posix(): p.read_bytes()
                for p in sorted((source / folder).rglob("*.sql"))
            }
            assert sorted(expected) == sorted(
                p.relative_to(REPO / folder).as_posix() for p in (REPO / folder).rglob("*.sql")
            )
            shipped = {
                name.removeprefix(f"bookingdb/{folder}/"): archive.read(name)
                for name in archive.namelist()
                if name.startswith(f"bookingdb/{folder}/") and name.endswith(".sql")
            }
            assert sorted(shipped) == sorted(expected), folder
            assert shipped == expected, f"{folder}: shipped files differ from the repository"

    # Installed on its own (its dependencies are this environment's) and run
    # from outside the checkout, the wheel's bookingdb migrates a database.
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site)]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, text=True)
    dsn = empty_database()
    for command in ("migrate", "verify"):
        ran = subprocess.run(
            [sys.executable, "-c", RUN_INSTALLED, str(site), command, "--dsn", dsn],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.startswith(f"from {site}"), ran.stdout
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM bookingdb.verify_invariants()").fetchone() == (0,)


# Runs the CLI of the bookingdb installed in sys.argv[1], after saying where it came from.
RUN_INSTALLED = """
import sys
sys.path.insert(0, sys.argv.pop(1))
import bookingdb
from bookingdb.cli import main
print("from", bookingdb.__file__)
main()
"""
