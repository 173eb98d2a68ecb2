"""Lint of migrations/ and sql/: names, order, headers, and what goes where."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bookingdb.migrate import migrations_dir, sql_dir

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted((REPO / "migrations").glob("*"))
SQL = sorted(p for p in (REPO / "sql").glob("*") if p.is_file())


def first_line(path: Path) -> str:
    return path.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()[0]


def test_the_package_reads_the_repository_files() -> None:
    # In a checkout the package must read these very files (a wheel ships copies).
    assert sorted(p.name for p in migrations_dir().glob("*.sql")) == [p.name for p in MIGRATIONS]
    assert sorted(p.name for p in sql_dir().glob("*.sql")) == [p.name for p in SQL]


def test_migration_files_are_named_nnnn_snake_case_sql() -> None:
    assert MIGRATIONS, "no migrations"
    bad = [
        p.name for p in MIGRATIONS if not re.fullmatch(r"\d{4}_[a-z0-9]+(_[a-z0-9]+)*\.sql", p.name)
    ]
    assert bad == []


def test_migration_numbers_are_contiguous_from_0001() -> None:
    numbers = [int(p.name[:4]) for p in MIGRATIONS]
    assert numbers == list(range(1, len(MIGRATIONS) + 1))


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.name)
def test_every_migration_starts_with_a_header_comment(path: Path) -> None:
    header = first_line(path)
    assert header.startswith("-- ") and len(header) > len("-- ") + 10, header


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.name)
def test_migrations_hold_no_functions_triggers_or_views(path: Path) -> None:
    # Those live in sql/ and are re-created on every migrate; a copy here
    # would be a second, stale definition.
    code = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
    found = re.findall(
        r"CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|TRIGGER|VIEW)\b", code, re.I
    )
    assert found == []


def test_the_only_folder_in_sql_is_the_optional_citus_script() -> None:
    # migrate loads sql/*.sql only; sql/citus/ is applied by hand (docs/scaling.md).
    folders = sorted(p.name for p in (REPO / "sql").iterdir() if p.is_dir())
    assert folders == ["citus"]
    assert [p.name for p in (REPO / "sql" / "citus").iterdir()] == ["distribute.sql"]
    assert "citus" not in {p.parent.name for p in sql_dir().glob("*.sql")}


def test_sql_files_are_named_nnn_snake_case_sql_with_unique_numbers() -> None:
    assert SQL, "no sql files"
    bad = [p.name for p in SQL if not re.fullmatch(r"\d{3}_[a-z0-9]+(_[a-z0-9]+)*\.sql", p.name)]
    assert bad == []
    numbers = [p.name[:3] for p in SQL]
    assert len(set(numbers)) == len(numbers)


@pytest.mark.parametrize("path", SQL, ids=lambda p: p.name)
def test_every_sql_file_starts_with_a_header_comment(path: Path) -> None:
    header = first_line(path)
    assert header.startswith("-- ") and len(header) > len("-- ") + 10, header


@pytest.mark.parametrize("path", SQL, ids=lambda p: p.name)
def test_sql_files_create_no_tables(path: Path) -> None:
    # Tables hold data: they change only through versioned migrations.
    code = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
    found = re.findall(r"(CREATE|ALTER|DROP)\s+TABLE\b", code, re.I)
    assert found == []
