"""The README documents the contract; these tests keep it true."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from bookingdb.errors import ERRORS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _readme_error_table() -> dict[str, str]:
    rows = re.findall(r"^\| (BK\d{3}) \| `(\w+)` \|", README, flags=re.MULTILINE)
    return dict(rows)


def test_readme_error_table_matches_sql_catalogue_and_python(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    sql_codes = {row[0] for row in conn.execute("SELECT code FROM bookingdb.error_codes()")}
    documented = _readme_error_table()
    assert set(documented) == sql_codes == set(ERRORS)
    for code, class_name in documented.items():
        assert ERRORS[code].__name__ == class_name


def test_every_raised_code_is_in_the_catalogue(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    sql_dir = Path(__file__).resolve().parents[2] / "sql"
    raised = set()
    for path in sql_dir.glob("*.sql"):
        raised |= set(re.findall(r"ERRCODE = '(BK\d{3})'", path.read_text(encoding="utf-8")))
    catalogue = {row[0] for row in conn.execute("SELECT code FROM bookingdb.error_codes()")}
    assert raised <= catalogue


def test_every_public_function_is_documented_in_readme(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    names = {
        row[0]
        for row in conn.execute(
            "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'bookingdb'::regnamespace"
            " AND p.proname NOT LIKE '\\_%'"
        )
    }
    missing = sorted(name for name in names if f"`{name}(" not in README)
    assert missing == []
