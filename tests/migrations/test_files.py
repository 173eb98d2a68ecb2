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


def code_of(path: Path) -> str:
    """The migration without comments."""
    return re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", MIGRATIONS[1:], ids=lambda p: p.name)
def test_every_migration_depends_on_the_one_before(path: Path) -> None:
    previous = MIGRATIONS[MIGRATIONS.index(path) - 1].stem
    assert re.search(rf"^-- depends: {re.escape(previous)}$", path.read_text(), re.M)


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.name)
def test_a_migration_changes_the_schema_or_the_data_never_both(path: Path) -> None:
    # One concern each: a backfill (INSERT/UPDATE/DELETE) is its own
    # migration, so a slow data change is never one transaction with DDL that
    # holds ACCESS EXCLUSIVE locks for its whole length.
    code = code_of(path)
    ddl = re.search(r"\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|TYPE|EXTENSION|SCHEMA)\b", code, re.I)
    dml = re.search(r"^\s*(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM)\b", code, re.I | re.M)
    assert not (ddl and dml), f"{path.name} mixes DDL and a data change"


# Tables that grow with every booking: an index added to one after its
# creating migration must be built CONCURRENTLY (plain CREATE INDEX blocks
# every write for the length of the build).
LARGE_TABLES = {"bookings", "allocations", "audit_log", "changes", "waitlist", "refusal_counts"}
# Applied before this rule existed, on tables that were small then; a
# migration already applied is never rewritten.
GRANDFATHERED = {"0003_series.sql", "0005_self_service.sql"}


def created_tables(paths: list[Path]) -> set[str]:
    return {
        m.group(1)
        for p in paths
        for m in re.finditer(r"CREATE\s+TABLE\s+bookingdb\.(\w+)", code_of(p), re.I)
    }


def blocking_indexes(code: str, existing: set[str]) -> list[str]:
    """The plain CREATE INDEX statements on tables in ``existing``."""
    pattern = r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)\S+\s+ON\s+bookingdb\.(\w+)"
    return [m.group(0) for m in re.finditer(pattern, code, re.I) if m.group(1) in existing]


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.name)
def test_indexes_on_existing_large_tables_are_built_concurrently(path: Path) -> None:
    existing = created_tables(MIGRATIONS[: MIGRATIONS.index(path)]) & LARGE_TABLES
    blocking = blocking_indexes(code_of(path), existing)
    if path.name in GRANDFATHERED:
        assert blocking, f"{path.name} no longer needs its exemption"
        return
    assert blocking == [], f"{path.name}: use CREATE INDEX CONCURRENTLY"


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.name)
def test_a_concurrent_index_migration_is_non_transactional_and_holds_only_that(
    path: Path,
) -> None:
    # CONCURRENTLY cannot run in a transaction (yoyo: "-- transactional: false"),
    # and without one a failure half-way would leave the rest half-applied.
    code = code_of(path)
    concurrent = re.findall(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY", code, re.I)
    non_transactional = re.search(
        r"^-- transactional: false$", path.read_text(encoding="utf-8"), re.M
    )
    if concurrent or non_transactional:
        statements = [s for s in code.split(";") if s.strip()]
        assert non_transactional and len(concurrent) == len(statements) == 1, path.name


def test_the_lint_catches_a_blocking_index_on_a_large_table() -> None:
    # The rule above, shown to fail on the mistake it exists for.
    code = "CREATE INDEX bookings_x ON bookingdb.bookings (venue_id, status);"
    concurrent = "CREATE INDEX CONCURRENTLY bookings_x ON bookingdb.bookings (venue_id, status);"
    existing = created_tables(MIGRATIONS) & LARGE_TABLES
    assert len(blocking_indexes(code, existing)) == 1
    assert blocking_indexes(concurrent, existing) == []
