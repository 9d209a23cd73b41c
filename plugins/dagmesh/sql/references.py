"""No backdoors: a domain's SQL may read only its models, sources and consumed ports.

The template is rendered with marker schemas for ``ref``/``source``/``port`` (random for
every check, so SQL cannot name them), parsed in Snowflake's dialect, and every relation
a query reads is checked:

* a table must be a marker (or a CTE of the same query); anything else, another
  domain's build schema or the registry included, is reported;
* ``TABLE(...)``, ``IDENTIFIER(...)`` and table functions count as reads, and only
  harmless ones that read no table are allowed (``GENERATOR``, ``FLATTEN``,
  ``SPLIT_TO_TABLE``, ``UNNEST``, ``VALUES``);
* functions that read files, the environment or the warehouse's own state (``read_csv``,
  ``getenv``, ``query_table``, ``result_scan``, ...) are refused wherever they appear.

Each problem has its line and column in the SQL file (Jinja keeps the template's line
breaks, so rendered lines are the file's lines). The same check runs in ``dagmesh
validate``, when Airflow parses a domain's DAG (cached by content) and before a build or
test runs any SQL. Imports sqlglot: never at DAG-parse time unless a SQL file changed.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from dagmesh.templating.template import Resolver, SqlProblem, TemplateViolation, render

#: Table functions that produce rows from values, reading no table.
HARMLESS_SOURCES = (exp.Generator, exp.Explode, exp.SplitToTable, exp.Unnest, exp.Values)
#: Function name prefixes (lower case) that read files, the environment or warehouse state.
REFUSED_FUNCTIONS = (
    "read_",
    "glob",
    "getenv",
    "current_setting",
    "query",
    "sniff_csv",
    "parquet_",
    "duckdb_",
    "pragma_",
    "system$",
    "result_scan",
    "get_ddl",
    "iceberg_",
    "delta_scan",
    "sqlite_",
    "postgres_",
    "mysql_",
    "json_execute",
    "which_secret",
    "load_",
)
_HINT = "read it through ref(), source() or port() so the mesh knows about it"


def check_references(text: str) -> list[SqlProblem]:
    """Syntax errors, extra statements and undeclared reads of one SQL file (none for a
    template that breaks the template rules: those are reported with their own lines)."""
    return list(_check_references(text))


@functools.lru_cache(maxsize=1024)
def _check_references(text: str) -> tuple[SqlProblem, ...]:
    return tuple(_find_problems(text))


def _find_problems(text: str) -> list[SqlProblem]:
    token = secrets.token_hex(6)
    ref, source, port = (f"dagmesh_{kind}_{token}" for kind in ("ref", "source", "port"))
    markers = {ref, source, port}
    resolver = Resolver(
        ref=lambda name: f'{ref}."{name}"',
        source=lambda name: f'{source}."{name}"',
        port=lambda name: f'{port}."{name.replace(".", "__")}"',
        this=f'{ref}."this"',
        incremental=True,  # the incremental branch reads tables too
    )
    try:
        rendered = render(text, resolver)
    except TemplateViolation:
        return []
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
        line, col = source_position(text, rendered, extra, word=extra.key)
        problems.append(SqlProblem("a SQL file holds one query; remove the extra statement", line, col))
    query = statements[0]
    if not isinstance(query, exp.Query):
        kind = query.key.upper()
        return [*problems, SqlProblem(f"a model or test is one SELECT query, not a {kind} statement", 1, 1)]
    return problems + [_problem(text, rendered, node, why) for node, why in _reads(query, markers)]


_NAMES = Resolver(
    ref=lambda name: f'"{name}"',
    source=lambda name: f'"{name}"',
    port=lambda name: f'"{name.replace(".", "__")}"',
    this='"this"',
    incremental=False,
)


def output_columns(text: str) -> list[str] | None:
    """The lower-case names of the columns a model's query returns, or ``None`` when the
    SQL alone cannot tell (``SELECT *``, an unnamed expression, a query that does not parse)."""
    try:
        query = sqlglot.parse_one(render(text, _NAMES), read="snowflake")
    except (TemplateViolation, ParseError, TokenError, ValueError):
        return None
    if not isinstance(query, exp.Query):
        return None
    names = []
    for column in query.selects:
        if isinstance(column, exp.Star) or column.find(exp.Star) is not None or not column.alias_or_name:
            return None
        names.append(column.alias_or_name.lower())
    return names


def _problem(text: str, rendered: str, node: exp.Expr, message: str) -> SqlProblem:
    line, col = source_position(text, rendered, node)
    return SqlProblem(message, line, col)


def source_position(text: str, rendered: str, node: exp.Expr, word: str = "") -> tuple[int, int]:
    """Where ``node`` of the rendered SQL starts in the SQL file.

    The line is the same (rendering keeps line breaks); the column is that of ``word`` (or
    the node's first name) on the file's line, nearest to where the node starts in the
    rendered line: a template call on the line renders longer or shorter than it is written,
    and a node's leading keyword (``LATERAL``) carries no position of its own.
    """
    line, col = position(rendered, node)
    source_lines = text.splitlines()
    if line > len(source_lines):
        return line, col
    if not word and isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
        word = node.catalog or node.db or node.name
    elif not word and isinstance(node, (exp.Table, exp.TableFromRows)):
        word = re.match(r"\w*", node.sql(dialect="snowflake")).group(0)  # type: ignore[union-attr]
    word = word or next((i.name for i in node.find_all(exp.Identifier) if i.name), "")
    if not word:
        return line, col
    pattern = re.compile(rf"(?<![\w$]){re.escape(word)}(?![\w$])", re.IGNORECASE)
    matches = [m.start() + 1 for m in pattern.finditer(source_lines[line - 1])]
    if not matches:
        return line, col
    before = [c for c in matches if c <= col]
    return line, max(before) if before else min(matches, key=lambda c: abs(c - col))


def _reads(query: exp.Query, markers: set[str]) -> list[tuple[exp.Expr, str]]:
    """Every read of ``query`` that is not allowed, with why."""
    found: list[tuple[exp.Expr, str]] = []
    cte_names = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    for holder in query.find_all(exp.From, exp.Join, exp.Lateral):
        source = holder.this
        if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
            if source.db in markers and not source.catalog:
                continue
            if not source.db and not source.catalog and source.name.lower() in cte_names:
                continue
            written = ".".join(p for p in (source.catalog, source.db, source.name) if p)
            found.append(
                (
                    source,
                    f"reads '{written}', which is not a model of this domain, a declared source or a "
                    f"consumed port; {_HINT}",
                )
            )
        elif isinstance(source, (exp.Table, exp.TableFromRows)) and not isinstance(
            source.this, HARMLESS_SOURCES
        ):
            found.append(
                (source, f"reads through {_shown(source)}, which may read any table or file; {_HINT}")
            )
        elif not isinstance(
            source, (exp.Table, exp.TableFromRows, exp.Subquery, exp.Lateral, *HARMLESS_SOURCES)
        ):
            found.append((source, f"reads from {_shown(source)}; {_HINT}"))
    reported = {id(node.this) for node, _ in found}
    for function in query.find_all(exp.Func):
        name = (function.name if isinstance(function, exp.Anonymous) else function.sql_name()).lower()
        if name.startswith(REFUSED_FUNCTIONS) and id(function) not in reported:
            found.append(
                (
                    function,
                    f"calls {name.upper()}(), which reads files, the environment or the warehouse's state",
                )
            )
    return found


def _shown(node: exp.Expr) -> str:
    text = node.sql(dialect="snowflake")
    return f"'{text[:60]}...'" if len(text) > 60 else f"'{text}'"


def position(text: str, node: exp.Expr) -> tuple[int, int]:
    """1-based line and column where ``node`` starts in ``text``."""
    starts = [
        part.meta["start"]
        for part in (node.args.get("catalog"), node.args.get("db"), node.args.get("this"), node)
        if isinstance(part, exp.Expr) and "start" in part.meta
    ]
    if not starts:
        found = [i.meta["start"] for i in node.find_all(exp.Identifier, exp.Literal) if "start" in i.meta]
        starts = [min(found)] if found else [0]
    offset = min(starts)
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


class ConditionError(Exception):
    """An ``expression`` test that is not one row-level condition over the port's columns."""


def condition(text: str, columns: Sequence[str]) -> exp.Expr:
    """An ``expression`` test's SQL as a tree: exactly one row-level boolean condition over
    ``columns`` (a port's declared columns) in Snowflake's dialect.

    It is embedded in the port's test query as a tree, never as text; anything that is
    not a plain condition (a second statement, a subquery, a table, an aggregate, a
    window, a function that reads files, a column the port does not have) is refused.
    """
    try:
        tree = sqlglot.parse_one(text, read="snowflake", into=exp.Condition)
    except (ParseError, TokenError) as exc:
        raise ConditionError(f"'{text}' is not one SQL condition: {str(exc).splitlines()[0]}") from exc
    if isinstance(tree, exp.Paren):
        inner: exp.Expr = tree.unnest()
    else:
        inner = tree
    if not isinstance(inner, (exp.Predicate, exp.Connector, exp.Not, exp.Boolean, exp.Column, exp.Func)) or (
        isinstance(inner, exp.AggFunc)
    ):
        raise ConditionError(f"'{text}' is not a condition (true or false for each row)")
    for node in tree.walk():
        if isinstance(node, (exp.Query, exp.Subquery, exp.Table, exp.Star)):
            raise ConditionError(
                f"'{text}' reads a table or a subquery; a condition may read only the port's columns"
            )
        if isinstance(node, (exp.AggFunc, exp.Window)):
            raise ConditionError(f"'{text}' aggregates; a condition is checked row by row")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name.startswith(REFUSED_FUNCTIONS):
                raise ConditionError(f"'{text}' calls {name.upper()}(), which reads files or the environment")
    known = {c.lower(): c for c in columns}
    for used in tree.find_all(exp.Column):
        if used.table or used.name.lower() not in known:
            raise ConditionError(
                f"'{text}' reads '{used.sql(dialect='snowflake')}', which is not a column of the port "
                f"({', '.join(columns)})"
            )
        used.set("this", exp.Identifier(this=known[used.name.lower()], quoted=False))
    return tree
