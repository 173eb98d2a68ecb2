"""sql/ and migrations/ ship inside the wheel, byte for byte.

``pip install .`` (not editable) followed by ``bookingdb migrate`` must work
without a checkout, so the wheel must carry the files migrate reads.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What a build needs; the virtualenv, caches and git history stay behind.
LEFT_BEHIND = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    ".pgdata", "tests",
)  # fmt: skip


def test_the_wheel_ships_sql_and_migrations(tmp_path: Path) -> None:
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
            # the working tree while this runs.
            expected = {p.name: p.read_bytes() for p in sorted((source / folder).glob("*.sql"))}
            assert sorted(expected) == sorted(p.name for p in (REPO / folder).glob("*.sql"))
            shipped = {
                name.rsplit("/", 1)[1]: archive.read(name)
                for name in archive.namelist()
                if name.startswith(f"bookingdb/{folder}/") and name.endswith(".sql")
            }
            assert sorted(shipped) == sorted(expected), folder
            assert shipped == expected, f"{folder}: shipped files differ from the repository"
