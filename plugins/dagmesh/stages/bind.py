"""Binding a domain's SQL before anything runs: every model and check compiled against an
empty in-memory DuckDB catalog made of what the configs declare.

The catalog holds the consumed ports (their contracts' columns and types), the sources
that declare ``columns:``, and the domain's own models, created in ``ref()`` order from
their own SQL (so a model's real output columns are what later models and the checks
bind against). DuckDB's binder then finds unknown columns and tables, functions that do
not exist and comparisons of incompatible types. A model that reads a source without
declared columns, or a port whose upstream config is broken, cannot be bound; nor can
the models built from it. Nothing touches a warehouse: the tables are empty.

A problem is reported at the user's SQL file, at the first place the offending name
appears in it (DuckDB points into the compiled SQL, which the user never wrote).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlglot import exp

from dagmesh.config.environments import make_environment
from dagmesh.config.model import Domain
from dagmesh.config.project import Project
from dagmesh.engines.duckdb import DuckDBEngine
from dagmesh.errors import ConfigError, Location
from dagmesh.mesh.analysis import MeshAnalysis
from dagmesh.quality.checks import plan_tests
from dagmesh.quality.contract import compare_schema
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation
from dagmesh.stages.compile import DomainRelations, RefusedSql, compile_query


def bind_problems(analysis: MeshAnalysis, names: list[str] | None = None) -> list[ConfigError]:
    """Every binding problem of the given domains (default: every one without other errors)."""
    project = analysis.project
    assert project.mesh is not None
    environment = make_environment("bind", {"engine": "duckdb", "path": ":memory:"}, Location("bind"))
    engine = DuckDBEngine(project.root, project.mesh, environment)
    problems: list[ConfigError] = []
    domains = [
        d for n in (names if names is not None else analysis.buildable()) if (d := project.domains.get(n))
    ]
    for domain in domains:
        problems += _freshness_problems(domain)
    bindable = [d for d in domains if _anything_to_bind(analysis, d)]
    if not bindable:  # nothing declares enough to bind: no DuckDB at all
        return problems
    with _connection() as connection:
        for index, domain in enumerate(bindable):
            with _catalog(connection, index):
                problems += _bind_domain(analysis, engine, domain, connection)
    return problems


def _freshness_problems(domain: Domain) -> list[ConfigError]:
    """A freshness column must be one of the source's declared columns (when it declares them)."""
    problems = []
    for source in domain.sources.values():
        freshness = source.freshness
        if source.columns and freshness is not None and freshness.column not in source.columns:
            message = f"freshness column '{freshness.column}' is not one of the source's declared columns"
            problems.append(ConfigError.at(freshness.where("column"), message))
    return problems


def _anything_to_bind(analysis: MeshAnalysis, domain: Domain) -> bool:
    """Whether some model reads only what the configs declare (so the catalog is worth making)."""
    project = analysis.project
    known = {f"source:{n}" for n, s in domain.sources.items() if s.columns}
    for consume in domain.consumes:
        upstream = project.domains.get(consume.port.domain)
        if upstream is not None and consume.port.port in upstream.outputs:
            known.add(f"port:{consume.port}")
    for name in analysis.model_order[domain.name]:
        model = domain.model(name)
        text = project.read_sql(model.sql) if model else None
        if text is not None and _reads_only(text, known):
            return True
    return False


@contextmanager
def _connection() -> Iterator[Any]:
    import duckdb

    connection = duckdb.connect(":memory:")
    try:
        for statement in sql.duckdb_settings():
            connection.execute(sql.render(statement, "duckdb"))
        yield connection
    finally:
        connection.close()


@contextmanager
def _catalog(connection: Any, index: int) -> Iterator[None]:
    """A fresh, empty in-memory database for one domain, the default while it is bound."""
    name = f"bind_{index}"
    connection.execute(sql.render(sql.attach_in_memory(name), "duckdb"))
    connection.execute(sql.render(sql.use(name), "duckdb"))
    try:
        yield
    finally:
        connection.execute(sql.render(sql.use("memory"), "duckdb"))
        connection.execute(sql.render(sql.detach(name), "duckdb"))


def _bind_domain(
    analysis: MeshAnalysis, engine: DuckDBEngine, domain: Domain, connection: Any
) -> list[ConfigError]:
    project = analysis.project
    problems: list[ConfigError] = []
    known: set[str] = set()  # what the catalog holds: port('a.b'), source('x'), ref('m')
    for consume in domain.consumes:
        upstream = project.domains.get(consume.port.domain)
        port = upstream.outputs.get(consume.port.port) if upstream else None
        columns = [(c, column.type) for c, column in port.columns.items()] if port else []
        if port is not None and _create(connection, engine.port_relation(consume.port), columns):
            known.add(f"port:{consume.port}")
    for name, source in domain.sources.items():
        columns = list(source.columns.items())
        if columns and _create(connection, engine.source_relation(source.table), columns):
            known.add(f"source:{name}")
    relations = DomainRelations(engine, domain)
    connection.execute(sql.render(sql.create_schema(engine.build_schema(domain.name)), "duckdb"))
    for model in (m for name in analysis.model_order[domain.name] if (m := domain.model(name))):
        display = project.sql_display_path(model.sql)
        text = project.read_sql(model.sql)
        if text is None or not _reads_only(text, known):
            continue
        target = relations.ref_relation(model.name)
        bound, found = _run(
            connection,
            display,
            text,
            lambda query, t=target: sql.create_table_as(t, query),
            relations,
            target,
        )
        problems += found
        if bound:
            known.add(f"ref:{model.name}")
    for test in domain.tests:
        text = project.read_sql(test.sql)
        if text is not None and _reads_only(text, known):
            problems += _run(connection, project.sql_display_path(test.sql), text, _empty, relations, None)[1]
    problems += _bind_port_checks(project, engine, domain, connection, known)
    return problems


def _bind_port_checks(
    project: Project, engine: DuckDBEngine, domain: Domain, connection: Any, known: set[str]
) -> list[ConfigError]:
    """Each port check's query against the port's model: a column test on a column the
    model does not produce, or an expression that does not bind, is located at the port."""
    import duckdb

    assert project.mesh is not None
    problems = []
    plan = plan_tests(domain, project.mesh.policy)
    for port_name, checks in {**plan.by_port, **plan.by_model}.items():
        if f"ref:{port_name}" not in known:
            continue
        relation = engine.table(engine.build_schema(domain.name), port_name)
        port = domain.outputs.get(port_name) or domain.model(port_name)
        assert port is not None
        for check in checks:
            if check.measure is None:
                continue
            if check.measure.kind == "contract":
                listing = connection.execute(
                    sql.render(exp.select(engine.columns_listing(relation)), "duckdb")
                )
                differences = compare_schema(check.expect.contract, str(listing.fetchone()[0] or ""))
                if differences:
                    model = domain.model(port_name)
                    where = model.loc if model is not None else port.loc
                    message = (
                        f"model {port_name} does not build its port's contract: {'; '.join(differences)}"
                    )
                    problems.append(ConfigError.at(where, message))
                continue
            try:
                parents = DomainRelations(engine, domain).parents([check.measure])
                if any(f"{'port' if '.' in p else 'ref'}:{p}" not in known for p in parents):
                    continue  # its parent is not in the catalog
                connection.execute(sql.render(sql.measure_query(relation, check.measure, parents), "duckdb"))
            except duckdb.Error as exc:
                column = port.columns.get(check.column or "")
                where = column.loc if column is not None else port.loc
                problems.append(ConfigError.at(where, f"check {check.test_id} does not bind: {_reason(exc)}"))
    return problems


def _empty(query: Any) -> Any:
    """A custom test's query, run on the empty catalog (it returns no rows)."""
    return query


def _run(
    connection: Any,
    display: str,
    text: str,
    statement: Any,
    relations: DomainRelations,
    this: Relation | None,
) -> tuple[bool, list[ConfigError]]:
    """Whether ``statement`` over the compiled SQL bound (and ran on the empty catalog), and
    the problems found."""
    import duckdb

    try:
        query = compile_query(display, text, relations, this=this)
    except RefusedSql:
        return False, []  # reported by validation's own checks
    try:
        connection.execute(sql.render(statement(query), "duckdb"))
    except duckdb.Error as exc:
        line, col = _place(text, str(exc))
        return False, [ConfigError(display, line, col, _reason(exc))]
    return True, _join_problems(connection, query, display, text)


def _reads_only(text: str, known: set[str]) -> bool:
    """Whether every ``ref``/``source``/``port`` the SQL calls is in the catalog."""
    from dagmesh.templating.template import template_calls

    calls = template_calls(text).calls
    return all(f"{c.func}:{c.arg}" in known for c in calls if c.func in ("ref", "source", "port"))


def _create(connection: Any, relation: Relation, columns: list[tuple[str, str]]) -> bool:
    """An empty table of the declared columns; False when they cannot make one (two names
    DuckDB takes for the same, say): what reads it is then not bound."""
    import duckdb
    from sqlglot.errors import SqlglotError

    try:
        connection.execute(sql.render(sql.create_schema(relation.schema_relation), "duckdb"))
        statement = sql.create_table(relation, columns, dialect=sql.SOURCE_DIALECT)
        connection.execute(sql.render(statement, "duckdb"))
    except (duckdb.Error, SqlglotError):
        return False
    return True


def _reason(exc: Exception) -> str:
    """DuckDB's message without its pointer into the compiled SQL."""
    first = str(exc).split("\n\nLINE ")[0].split("\nLINE ")[0]
    first = first.split(" Candidate functions:")[0]
    return " ".join(first.split())


#: What DuckDB's binder names, most telling first: a column, then a table, then a function.
_NAMED = (
    re.compile(r'Table "(?P<table>[^"]+)" does not have a column named "(?P<name>[^"]+)"'),
    re.compile(r'Referenced column "(?P<name>[^"]+)"'),
    re.compile(r'column "(?P<name>[^"]+)"'),
    re.compile(r"Table with name (?P<name>\w+) does not exist"),
    re.compile(r'Referenced table "(?P<name>[^"]+)"'),
    re.compile(r"name (?P<name>\w+) does not exist"),
    re.compile(r'"(?P<name>[^"]+)"'),
)


def _place(text: str, message: str) -> tuple[int, int]:
    """Where the name DuckDB complains about appears in the user's SQL (else 1:1)."""
    first = message.split("\n")[0]
    for pattern in _NAMED:
        match = pattern.search(first)
        if match is None:
            continue
        groups = match.groupdict()
        table = groups.get("table")
        spellings = [f"{table}.{groups['name']}"] if table else []
        spellings.append(groups["name"].split(".")[-1])
        for spelling in spellings:
            place = _find(text, spelling)
            if place is not None:
                return place
    return 1, 1


def _find(text: str, word: str) -> tuple[int, int] | None:
    """Line and column of ``word`` in ``text`` as a whole name (outside comments)."""
    code = re.sub(r"--[^\n]*", lambda m: " " * len(m.group(0)), text)
    found = re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", code, re.IGNORECASE)
    if found is None:
        return None
    before = text[: found.start()]
    return before.count("\n") + 1, found.start() - (before.rfind("\n") + 1) + 1


def _join_problems(connection: Any, query: exp.Query, display: str, text: str) -> list[ConfigError]:
    """Join conditions that compare a text column with a number or a date: DuckDB would
    cast at run time (or fail on the first value that does not convert)."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    if not any(join.args.get("on") is not None for join in query.find_all(exp.Join)):
        return []
    schema: dict[str, object] = {}
    listing = sql.render(sql.catalog_columns(), "duckdb")
    for schema_name, table, column, data_type in connection.execute(listing).fetchall():
        tables = schema.setdefault(schema_name, {})
        assert isinstance(tables, dict)
        tables.setdefault(table, {})[column] = data_type
    try:
        tree = qualify(query.copy(), schema=schema, dialect="duckdb", validate_qualify_columns=False)
        annotate_types(tree, schema=schema, dialect="duckdb")
    except Exception:  # sqlglot cannot follow every query; DuckDB has bound it already
        return []
    problems = []
    for join in tree.find_all(exp.Join):
        condition = join.args.get("on")
        if condition is None:
            continue
        for equal in condition.find_all(exp.EQ):
            left, right = _family(equal.left), _family(equal.right)
            if left and right and left != right:
                sides = [side for side in (equal.left, equal.right) if isinstance(side, exp.Column)]
                line, col = next(
                    (
                        p
                        for side in sides
                        if (p := _find(text, f"{side.table}.{side.name}") or _find(text, side.name))
                    ),
                    (1, 1),
                )
                shown = " = ".join(
                    f"{side.sql('duckdb')} ({_family(side)})" for side in (equal.left, equal.right)
                )
                problems.append(
                    ConfigError(display, line, col, f"join compares {left} with {right}: {shown}")
                )
    return problems


def _family(node: exp.Expr) -> str | None:
    kind = node.type
    if kind is None:
        return None
    if kind.is_type(*exp.DataType.TEXT_TYPES):
        return "text"
    if kind.is_type(*exp.DataType.NUMERIC_TYPES):
        return "number"
    if kind.is_type(*exp.DataType.TEMPORAL_TYPES):
        return "date/time"
    return None
