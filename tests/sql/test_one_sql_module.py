"""Every SQL statement dagmesh writes is built in one module; no other module writes SQL text."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "plugins" / "dagmesh"
SQL_MODULE = PACKAGE / "sql" / "statements.py"
STATEMENTS = "SELECT|INSERT|DELETE|UPDATE|CREATE|DROP|ALTER|GRANT|REVOKE|MERGE|COPY|ATTACH|DETACH"
STATEMENTS += "|SHOW|DESCRIBE|WITH"
STATEMENT = re.compile(rf"^\s*({STATEMENTS})\s")
KEYWORDS = "SELECT|FROM|WHERE|INSERT|INTO|DELETE|UPDATE|SET|VALUES|JOIN|COUNT_IF|GROUP BY|ORDER BY"
KEYWORD = re.compile(rf"\b({KEYWORDS})\b")


def looks_like_sql(text: str) -> bool:
    """A statement's start, or two SQL keywords in upper case (prose says 'one SELECT query')."""
    return bool(STATEMENT.match(text)) or len(KEYWORD.findall(text)) >= 2


def strings(module: ast.Module) -> list[tuple[int, str]]:
    """Every string and f-string of a module (an f-string's fields as ``{}``), docstrings left out."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(module)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    parts_of_fstrings = set()
    for node in ast.walk(module):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            parts_of_fstrings |= {id(v) for v in node.values}
            found.append((node.lineno, str(text)))
    for node in ast.walk(module):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings | parts_of_fstrings
        ):
            found.append((node.lineno, node.value))
    return found


def sql_text_outside_the_sql_module() -> list[str]:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == SQL_MODULE:
            continue
        for line, text in strings(ast.parse(path.read_text())):
            if looks_like_sql(text):
                offenders.append(f"{path.relative_to(REPO)}:{line}: {text[:60]!r}")
    return offenders


def test_no_module_but_the_sql_module_writes_sql() -> None:
    assert sql_text_outside_the_sql_module() == []


def test_the_check_finds_sql_written_as_text(tmp_path: Path) -> None:
    module = ast.parse('t = "x"\nq = f"DELETE FROM {t} WHERE id = 1"\nm = "a model is one SELECT query"\n')
    flagged = [text for _, text in strings(module) if looks_like_sql(text)]
    assert flagged == ["DELETE FROM {} WHERE id = 1"]
    assert looks_like_sql("SELECT COUNT(*), MAX({}) FROM {}")
    assert looks_like_sql(" AND {}.{} = {}.{} WHERE x IN (SELECT 1)")
