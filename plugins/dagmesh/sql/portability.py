"""Snowflake SQL that would not run, or not mean the same, on DuckDB, found before it runs.

Domain SQL is written in Snowflake's dialect and translated by sqlglot for the embedded
DuckDB warehouse. A translation can lose meaning (``TO_CHAR(ts, 'YYYY-MM')`` with a
format DuckDB cannot take) or produce SQL DuckDB cannot run (``LATERAL FLATTEN``, a
function DuckDB does not have, such as ``RATIO_TO_REPORT``). ``dagmesh validate`` checks
every model and test against each engine the mesh's environments use: sqlglot is told
to refuse anything it cannot translate, DuckDB's own parser reads the result, and every
function it calls must exist in DuckDB. Each problem is located in the SQL file.

Imports sqlglot and duckdb: used by ``dagmesh validate`` only.
"""

from __future__ import annotations

import functools
import json
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from dagmesh.sql import statements as sql
from dagmesh.sql.references import source_position
from dagmesh.templating.template import Resolver, SqlProblem, TemplateViolation, render

#: Stands in for every table a template names: portability does not depend on which.
_RESOLVER = Resolver(
    ref=lambda name: f'm."{name}"',
    source=lambda name: f'm."{name}"',
    port=lambda name: f'm."{name.replace(".", "__")}"',
    this='m."this"',
    incremental=True,
)
_EXPRESSION = re.compile(r"expression '(\w+)'")


def portability_problems(text: str, engine: str) -> list[SqlProblem]:
    """What of this SQL file would be lost, or fail, on ``engine`` (``duckdb`` or ``snowflake``)."""
    return list(_portability_problems(text, engine))


@functools.lru_cache(maxsize=1024)
def _portability_problems(text: str, engine: str) -> tuple[SqlProblem, ...]:
    return tuple(_find_problems(text, engine))


def _find_problems(text: str, engine: str) -> list[SqlProblem]:
    try:
        rendered = render(text, _RESOLVER)
        (tree,) = [s for s in sqlglot.parse(rendered, read="snowflake") if s is not None]
    except (TemplateViolation, sqlglot.errors.ParseError, ValueError):
        return []  # template, syntax and statement-count problems are reported on their own
    try:
        written = tree.sql(dialect=engine, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        return [_unsupported(text, rendered, tree, str(exc), engine)]
    if engine != "duckdb":
        return []
    problems = [
        _at(text, rendered, node, f"{name.upper()}() does not exist on DuckDB{_hint(name)}")
        for node, name in _functions(tree)
        if name not in duckdb_functions()
    ]
    if not problems and (error := duckdb_parse_error(written)):
        lateral = next(tree.find_all(exp.Lateral), None)
        hint = LATERAL_WORKAROUND if lateral is not None else ""
        problems.append(
            _at(text, rendered, lateral or tree, f"this SQL does not translate to DuckDB SQL ({error}){hint}")
        )
    return problems


def _unsupported(text: str, rendered: str, tree: exp.Expr, message: str, engine: str) -> SqlProblem:
    match = _EXPRESSION.search(message)
    kind = getattr(exp, match.group(1), None) if match else None
    node = next(tree.find_all(kind), tree) if isinstance(kind, type) and issubclass(kind, exp.Expr) else tree
    name = node.sql_name() if isinstance(node, exp.Func) else ""
    first = message.splitlines()[0].rstrip(".")
    return _at(
        text,
        rendered,
        node,
        f"cannot be written for {engine} without changing its meaning: {first}{_hint(name)}",
    )


def _at(text: str, rendered: str, node: exp.Expr, message: str) -> SqlProblem:
    if isinstance(node, exp.Anonymous):
        word = node.name
    elif isinstance(node, exp.Func):
        word = node.sql_name()
    else:
        word = node.key
    line, col = source_position(text, rendered, node, word=word)
    return SqlProblem(message, line, col)


_CALL = re.compile(r"^([A-Za-z_][\w$]*)\s*\(")
#: Calls DuckDB reads as SQL syntax: they work, though its function catalog does not list them.
_SYNTAX = frozenset(
    {"cast", "try_cast", "coalesce", "extract", "exists", "columns", "not", "grouping", "try", "row"}
)


def _functions(tree: exp.Expr) -> list[tuple[exp.Expr, str]]:
    """Every function call as DuckDB will receive it (its name), with the node it comes from."""
    found: list[tuple[exp.Expr, str]] = []
    for node in tree.find_all(exp.Func):
        try:
            call = _CALL.match(node.sql(dialect="duckdb"))
        except sqlglot.errors.SqlglotError:
            continue
        if call and call.group(1).lower() not in _SYNTAX:
            found.append((node, call.group(1).lower()))
    return found


@functools.cache
def duckdb_functions() -> frozenset[str]:
    """Every function name DuckDB knows (built in, this DuckDB version)."""
    import duckdb

    with duckdb.connect() as con:
        rows = con.execute(sql.render(sql.function_names(), "duckdb")).fetchall()
    return frozenset(str(r[0]) for r in rows)


def duckdb_parse_error(written: str) -> str:
    """DuckDB's own parser's complaint about ``written`` (empty when it parses)."""
    import duckdb

    with duckdb.connect() as con:
        answer = con.execute(sql.render(sql.parse_tree(written), "duckdb")).fetchone()
    result = json.loads(answer[0]) if answer else {}
    return str(result.get("error_message", "")) if result.get("error") else ""


#: Snowflake functions known not to run on DuckDB, and the way around each (also in the README).
WORKAROUNDS = {
    "to_char": "; for 'YYYY-MM', LEFT(CAST(x AS VARCHAR), 7) gives the same on both warehouses",
    "ratio_to_report": "; write x / SUM(x) OVER (PARTITION BY ...) instead",
    "md5_number_lower64": "; use MD5(x) (a string on both warehouses)",
    "strtok_to_array": "; use SPLIT(x, ',') instead",
}
LATERAL_WORKAROUND = (
    "; LATERAL FLATTEN has no DuckDB form: unnest with a join on the array's values, or keep JSON"
)


def _hint(name: str) -> str:
    return WORKAROUNDS.get(name.lower(), "")
