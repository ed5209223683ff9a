"""Static checks: ruff's security rules are on, and no adapter assembles SQL from values."""

from __future__ import annotations

from pathlib import Path

import tomllib
from sinkkit.conformance.suite.test_hostile import sql_built_from_values

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_security_rules_are_selected():
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "S" in lint["select"]
    # only the S rules that do not concern injection or secrets may be ignored
    injection_rules = {"S608", "S102", "S307", "S105", "S106", "S107", "S324"}
    assert not injection_rules & set(lint.get("ignore", []))


def test_no_adapter_builds_sql_from_values():
    found = sql_built_from_values(sorted((ROOT / "adapters").rglob("*.py")))
    assert not found, "SQL assembled from values:\n  " + "\n  ".join(found)


BAD = '''
def lookup(cur, name, table):
    cur.execute(f"SELECT * FROM users WHERE username = '{name}'")
    cur.execute("SELECT * FROM users WHERE username = '%s'" % name)
    cur.execute("SELECT * FROM " + table)
    cur.execute("DELETE FROM {} WHERE id = 1".format(table))
    query = f"UPDATE users SET admin = true WHERE username = '{name}'"
    return sql.SQL(f"SELECT * FROM {table}")
'''

GOOD = '''
def lookup(cur, name, table):
    cur.execute("SELECT * FROM users WHERE username = %s", (name,))
    cur.execute(sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier(table)), (1,))
    message = f"user {name} not found"
    return message
'''


def test_the_scanner_names_file_and_line_of_each_value_built_statement(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    found = sql_built_from_values([bad])
    assert [f.split(":")[1] for f in found] == ["3", "4", "5", "6", "7", "8"]
    assert all(f.startswith(f"{bad}:") for f in found)


def test_the_scanner_accepts_parameters_and_composed_identifiers(tmp_path):
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    assert sql_built_from_values([good]) == []
