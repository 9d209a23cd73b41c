"""No backdoors: a domain's SQL may read only its models, sources and consumed ports.

The template is rendered with marker schemas for ``ref``/``source``/``port``, parsed in
Snowflake's dialect, and every table reference that is not a marker (or a CTE of the
same query) is reported with its line and column in the SQL file. Jinja keeps the
template's line breaks, so rendered lines are the file's lines.

Imports sqlglot: used by ``dagmesh validate`` and the build stage, never at DAG-parse time.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from dagmesh.sql.template import Resolver, render

REF, SOURCE, PORT = "dagmesh_ref", "dagmesh_source", "dagmesh_port"
_MARKERS = {REF, SOURCE, PORT}


@dataclass(frozen=True)
class SqlProblem:
    message: str
    line: int
    col: int


_RESOLVER = Resolver(
    ref=lambda name: f"{REF}.{name}",
    source=lambda name: f"{SOURCE}.{name}",
    port=lambda name: f"{PORT}.{name.replace('.', '__')}",
    this=f"{REF}.this",
    incremental=True,  # the incremental branch reads tables too
)


def check_references(text: str) -> list[SqlProblem]:
    """Syntax errors, extra statements and undeclared tables of one SQL file."""
    try:
        rendered = render(text, _RESOLVER)
    except jinja2.TemplateError:
        return []  # template problems are reported by the template check, with their lines
    try:
        statements = [s for s in sqlglot.parse(rendered, read="snowflake") if s is not None]
    except ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        description = str(error.get("description") or exc).split("\n")[0]
        near = str(error.get("highlight") or "").strip()
        where = f" near '{near}'" if near else ""
        return [
            SqlProblem(
                f"SQL does not parse as Snowflake SQL{where} ({description})",
                int(error.get("line") or 1),
                int(error.get("col") or 1),
            )
        ]
    if not statements:
        return [SqlProblem("the SQL file is empty: a model is one SELECT query", 1, 1)]
    problems = []
    for extra in statements[1:]:
        line, col = _position(rendered, extra)
        problems.append(SqlProblem("a SQL file holds one query; remove the extra statement", line, col))
    query = statements[0]
    if not isinstance(query, exp.Query):
        kind = query.key.upper()
        return [*problems, SqlProblem(f"a model or test is one SELECT query, not a {kind} statement", 1, 1)]
    cte_names = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function (FLATTEN, GENERATOR, ...)
        if table.db in _MARKERS and not table.catalog:
            continue
        if not table.db and not table.catalog and table.name.lower() in cte_names:
            continue
        line, col = _position(rendered, table)
        written = ".".join(p for p in (table.catalog, table.db, table.name) if p)
        problems.append(
            SqlProblem(
                f"reads '{written}', which is not a model of this domain, a declared source or a "
                "consumed port; read it through ref(), source() or port() so the mesh knows about it",
                line,
                col,
            )
        )
    return problems


def _position(text: str, node: exp.Expr) -> tuple[int, int]:
    """1-based line and column where ``node`` starts in ``text``."""
    starts = [
        part.meta["start"]
        for part in (node.args.get("catalog"), node.args.get("db"), node.args.get("this"), node)
        if isinstance(part, exp.Expr) and "start" in part.meta
    ]
    if not starts:
        found = next((i.meta["start"] for i in node.find_all(exp.Identifier) if "start" in i.meta), 0)
        starts = [found]
    offset = min(starts)
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col
