"""Every SQL statement dagmesh itself writes, built once as a sqlglot expression tree.

Engines render these trees in their own dialect (:func:`render`): every identifier is
normalized to the case the warehouse stores unquoted names in (upper on Snowflake) and
quoted, so names that are SQL keywords (a domain called ``order``, a column ``group``)
work and mean what the same name unquoted would; values are literals escaped by sqlglot.
No name or value from a config is ever pasted into SQL text. Domain SQL (models, tests) is parsed once into a
tree (:func:`parse_query`) and embedded as one, so it is not re-parsed for each engine.

Snowflake statements sqlglot has no tree for (managed-access schemas, database roles)
are commands whose names are still rendered by sqlglot. This is the only module that
writes SQL; a test checks that no other one does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from dagmesh.quality.checks import Measure
from dagmesh.sql.references import condition

#: Domain SQL is written in Snowflake's dialect.
SOURCE_DIALECT = "snowflake"


def identifier(name: str) -> exp.Identifier:
    """A name as written unquoted (its case is the warehouse's: see :func:`render`)."""
    return exp.Identifier(this=name, quoted=False)


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(identifier(name), table=identifier(table) if table else None)


@dataclass(frozen=True)
class Relation:
    """A schema (``name`` unset) or a table, ``[catalog.]schema[.name]``, as the warehouse stores it."""

    schema: str
    name: str | None = None
    catalog: str | None = None

    def table(self) -> exp.Table:
        return exp.Table(
            this=identifier(self.name) if self.name else None,
            db=identifier(self.schema),
            catalog=identifier(self.catalog) if self.catalog else None,
        )

    def child(self, name: str) -> Relation:
        """A table of this schema."""
        return Relation(self.schema, name, self.catalog)

    @property
    def schema_relation(self) -> Relation:
        return Relation(self.schema, None, self.catalog)

    def sql(self, dialect: str) -> str:
        return render(self.table(), dialect)


@dataclass(frozen=True)
class Statement:
    """A statement sqlglot has no tree for, rendered per dialect from its parts."""

    words: tuple[str | Relation, ...]

    def sql(self, dialect: str) -> str:
        return " ".join(w.sql(dialect) if isinstance(w, Relation) else w for w in self.words)


Sql = exp.Expr | Statement


def render(statement: Sql, dialect: str) -> str:
    """The statement as the warehouse runs it: names normalized and quoted; an expression the
    dialect cannot write (a function it lacks) raises ``sqlglot.errors.UnsupportedError``."""
    if isinstance(statement, Statement):
        return statement.sql(dialect)
    normalized = normalize_identifiers(statement.copy(), dialect=dialect)
    return normalized.sql(dialect=dialect, identify=True, unsupported_level=ErrorLevel.RAISE)


def literal(value: Any) -> exp.Expr:
    """A Python value as an escaped SQL literal."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        naive = value.replace(tzinfo=None) if value.tzinfo else value
        return exp.cast(exp.Literal.string(naive.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(str(value))


def equals(conditions: Mapping[str, Any]) -> exp.Condition:
    """``a = 'x' AND b IN (...)``: a list value means any of its values."""
    parts: list[exp.Condition] = []
    for name, value in conditions.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            parts.append(column(name).isin(*[literal(v) for v in sorted(value)]))
        else:
            parts.append(column(name).eq(literal(value)))
    return exp.and_(*parts)


# --------------------------------------------------------------------------- domain SQL


class QueryError(Exception):
    """Domain SQL that is not exactly one query."""


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> exp.Query:
    statements = [s for s in sqlglot.parse(text, read=SOURCE_DIALECT) if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise QueryError("a model or test is exactly one SELECT query")
    return statements[0]


def parse_query(text: str) -> exp.Query:
    """Rendered domain SQL (Snowflake dialect) as one query tree (a fresh copy each call)."""
    try:
        return _parse(text.strip().rstrip(";")).copy()
    except ParseError as exc:
        raise QueryError(f"the SQL does not parse: {str(exc).splitlines()[0]}") from exc


# --------------------------------------------------------------------------- DDL and DML


def create_schema(schema: Relation, if_not_exists: bool = True) -> exp.Expr:
    return exp.Create(this=schema.table(), kind="SCHEMA", exists=if_not_exists)


def create_managed_schema(schema: Relation, replace: bool = False) -> Statement:
    """Snowflake: a schema whose grants only its owner manages."""
    head = ("CREATE", "OR", "REPLACE", "SCHEMA") if replace else ("CREATE", "SCHEMA", "IF", "NOT", "EXISTS")
    return Statement((*head, schema, "WITH", "MANAGED", "ACCESS"))


def drop_schema(schema: Relation) -> exp.Expr:
    return exp.Drop(tables=[schema.table()], kind="SCHEMA", exists=True, cascade=True)


def swap_schemas(first: Relation, second: Relation) -> exp.Expr:
    """Snowflake: exchange two schemas atomically."""
    return exp.Alter(this=first.table(), kind="SCHEMA", actions=[exp.SwapTable(this=second.table())])


def create_table_as(target: Relation, query: exp.Query) -> exp.Expr:
    return exp.Create(this=target.table(), kind="TABLE", expression=query, replace=True)


#: DuckDB's reader of each file format a source can name.
FILE_READERS = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}


def select_from_files(files: Sequence[str], file_format: str) -> exp.Select:
    """``SELECT * FROM read_<format>([files...], union_by_name = TRUE)`` (DuckDB): every file's
    rows, columns matched by name."""
    reader = exp.Anonymous(
        this=FILE_READERS[file_format],
        expressions=[
            exp.Array(expressions=[exp.Literal.string(f) for f in files]),
            exp.EQ(this=exp.column("union_by_name"), expression=exp.true()),
        ],
    )
    return exp.select(exp.Star()).from_(exp.Table(this=reader))


def clone_table(source: Relation, target: Relation) -> exp.Expr:
    """Snowflake: a zero-copy clone."""
    return exp.Create(this=target.table(), kind="TABLE", replace=True, clone=exp.Clone(this=source.table()))


def create_table(
    target: Relation,
    columns: Iterable[tuple[str, str]],
    if_not_exists: bool = True,
    dialect: str | None = None,
) -> exp.Expr:
    """``CREATE TABLE`` with ``columns`` as ``(name, type)``, types read in ``dialect``."""
    definitions = [
        exp.ColumnDef(this=identifier(n), kind=exp.DataType.build(t, dialect=dialect)) for n, t in columns
    ]
    return exp.Create(
        this=exp.Schema(this=target.table(), expressions=definitions), kind="TABLE", exists=if_not_exists
    )


def add_column(target: Relation, name: str, data_type: str) -> exp.Expr:
    return exp.Alter(
        this=target.table(),
        kind="TABLE",
        actions=[exp.ColumnDef(this=identifier(name), kind=exp.DataType.build(data_type))],
    )


def drop_table(target: Relation) -> exp.Expr:
    return exp.Drop(tables=[target.table()], kind="TABLE", exists=True)


def select_all(source: Relation) -> exp.Select:
    return exp.select(exp.Star()).from_(source.table())


def select(
    source: Relation,
    columns: Sequence[str | exp.Expr],
    where: exp.Condition | None = None,
    order_by: Sequence[str] = (),
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> exp.Select:
    """``SELECT columns FROM source [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET m]``; strings
    are column names."""
    query = exp.select(*[column(c) if isinstance(c, str) else c for c in columns]).from_(source.table())
    if where is not None:
        query = query.where(where)
    if order_by:
        query = query.order_by(*[exp.Ordered(this=column(c), desc=descending) for c in order_by])
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    return query


def latest_per(source: Relation, columns: Sequence[str], partition: str, order: str) -> exp.Select:
    """The row with the greatest ``order`` for each value of ``partition``."""
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[column(partition)],
        order=exp.Order(expressions=[exp.Ordered(this=column(order), desc=True)]),
    )
    return select(source, columns).qualify(rank.eq(exp.Literal.number(1)))


def next_number(source: Relation, counter: str, where: exp.Condition) -> exp.Select:
    """``COALESCE(MAX(counter), 0) + 1`` over the matching rows."""
    highest = exp.Coalesce(this=exp.Max(this=column(counter)), expressions=[exp.Literal.number(0)])
    return select(source, [exp.Add(this=highest, expression=exp.Literal.number(1))], where)


def count_by(source: Relation, keys: str | Sequence[str], where: exp.Condition) -> exp.Select:
    """``keys..., COUNT(*)`` for each combination of the ``keys`` among the matching rows."""
    names = [keys] if isinstance(keys, str) else list(keys)
    return select(source, [*names, exp.Count(this=exp.Star())], where).group_by(*[column(k) for k in names])


def count_rows(source: Relation | exp.Query, alias: str = "rows") -> exp.Select:
    """``SELECT COUNT(*)`` of a table, or of a query's rows."""
    counted: exp.Expr = (
        source.table()
        if isinstance(source, Relation)
        else exp.Subquery(this=source, alias=exp.TableAlias(this=identifier(alias)))
    )
    return exp.select(exp.Count(this=exp.Star())).from_(counted)


def insert_rows(target: Relation, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> exp.Expr:
    values = exp.values([tuple(literal(v) for v in row) for row in rows])
    return exp.insert(values, target.table(), columns=[identifier(c) for c in columns])


def insert_select(target: Relation, query: exp.Query) -> exp.Expr:
    return exp.insert(query, target.table())


def delete(target: Relation, where: exp.Condition) -> exp.Expr:
    return exp.delete(target.table(), where=where)


def update(target: Relation, values: Mapping[str, Any], where: exp.Condition) -> exp.Expr:
    assignments = [exp.EQ(this=column(k), expression=literal(v)) for k, v in values.items()]
    return exp.Update(this=target.table(), expressions=assignments, where=exp.Where(this=where))


def delete_matching(target: Relation, staging: Relation, keys: Sequence[str]) -> exp.Expr:
    """Rows of ``target`` whose ``keys`` appear in ``staging`` (an incremental merge's first half)."""
    assert target.name and staging.name
    match = exp.and_(*[column(k, target.name).eq(column(k, staging.name)) for k in keys])
    return exp.Delete(this=target.table(), using=[staging.table()], where=exp.Where(this=match))


# --------------------------------------------------------------------------- checks


#: Where an ``orphans`` check's parent (``domain.port`` or a model's name) is, by name.
Parents = Mapping[str, Relation]


def measure(what: Measure, listing: exp.Expr | None = None, parents: Parents | None = None) -> exp.Expr:
    """One check's aggregate over the tested table (``listing``: the contract's columns query;
    ``parents``: the tables ``orphans`` checks look values up in)."""
    columns = [column(c) for c in what.columns]
    if what.kind == "orphans":
        return _count_if(_orphan(columns[0], what, parents))
    if what.kind == "rows":
        return exp.Count(this=exp.Star())
    if what.kind == "nulls":
        return _count_if(columns[0].is_(exp.null()))
    if what.kind == "duplicates":
        return _duplicates(columns)
    if what.kind == "key_violations":
        nulls = _count_if(exp.or_(*[c.is_(exp.null()) for c in columns]))
        return exp.Add(this=nulls, expression=_duplicates(columns))
    if what.kind in ("not_in", "outside"):
        return _count_if(_offending_value(columns[0], what))
    if what.kind == "violations":
        return _count_if(exp.not_(exp.paren(condition(what.condition, what.columns))))
    assert what.kind == "contract" and listing is not None
    return listing


def _offending_value(value: exp.Column, what: Measure) -> exp.Expr:
    """A value an ``accepted_values`` (``not_in``) or ``range`` (``outside``) check counts."""
    if what.kind == "not_in":
        outside = exp.not_(value.isin(*[literal(v) for v in what.values]))
        return exp.and_(exp.not_(value.is_(exp.null())), outside)
    bounds: list[exp.Expr] = []
    if what.low is not None:
        bounds.append(exp.LT(this=value, expression=literal(what.low)))
    if what.high is not None:
        bounds.append(exp.GT(this=value, expression=literal(what.high)))
    return exp.or_(*bounds)


def _orphan(value: exp.Column, what: Measure, parents: Parents | None) -> exp.Expr:
    """``value`` is not null and not among the parent's ``field`` values."""
    if parents is None or what.parent not in parents:
        raise KeyError(f"no table for {what.parent} (the parent of a relationships test)")
    lookup = select(parents[what.parent], [what.field])
    return exp.and_(exp.not_(value.is_(exp.null())), exp.not_(value.isin(query=lookup)))


def check_query(
    source: Relation, measures: Sequence[Measure], listing: exp.Expr, parents: Parents | None = None
) -> exp.Select:
    """Every check of one table as one ``SELECT`` over it: column ``c<i>`` is check ``i``'s value."""
    selected = [measure(m, listing, parents).as_(f"c{i}") for i, m in enumerate(measures)]
    return exp.select(*selected).from_(source.table())


def measure_query(source: Relation, what: Measure, parents: Parents | None = None) -> exp.Select:
    """One check on its own: ``SELECT <measure> FROM source`` (a catalog's quality rule)."""
    return exp.select(measure(what, parents=parents)).from_(source.table())


def freshness(source: Relation, loaded_at: str | None) -> exp.Select:
    """A source's row count, and the latest value of its freshness column (``NULL`` without one)."""
    latest = exp.Max(this=column(loaded_at)) if loaded_at else exp.null()
    return exp.select(exp.Count(this=exp.Star()), latest).from_(source.table())


def _count_if(condition: exp.Expr) -> exp.Expr:
    return exp.CountIf(this=condition)


def _duplicates(columns: Sequence[exp.Column]) -> exp.Expr:
    """Rows beyond the first for each non-null key value."""
    not_null = exp.and_(*[exp.not_(c.is_(exp.null())) for c in columns])
    distinct = exp.Count(this=exp.Distinct(expressions=list(columns)))
    return exp.Sub(this=_count_if(not_null), expression=distinct)


#: How many offending values or rows a failed check shows.
SAMPLE_ROWS = 5
#: The column of a sample that counts how often a value occurs.
SAMPLE_COUNT = "dagmesh_rows"


def sample_query(
    source: Relation, what: Measure, keys: Sequence[str], parents: Parents | None = None
) -> exp.Select | None:
    """A few rows showing what a failed check counted (``None`` when there is nothing to
    show): offending values with how often they occur, or the ``keys`` of offending rows.
    Its columns are named; :data:`SAMPLE_COUNT` is the number of rows of a value."""
    columns = [column(c) for c in what.columns]
    count = exp.Count(this=exp.Star())
    counted = exp.Ordered(this=column(SAMPLE_COUNT), desc=True)

    def values(where: exp.Expr | None, having: exp.Expr | None = None) -> exp.Select:
        query = select(source, [*what.columns, count.as_(SAMPLE_COUNT)])
        query = (query.where(where) if where is not None else query).group_by(*columns)
        if having is not None:
            query = query.having(having)
        return query.order_by(counted, *columns).limit(SAMPLE_ROWS)

    def rows(where: exp.Expr, shown: Sequence[str]) -> exp.Select | None:
        return select(source, list(shown)).where(where).limit(SAMPLE_ROWS) if shown else None

    if what.kind == "duplicates":
        return values(
            exp.and_(*[exp.not_(c.is_(exp.null())) for c in columns]),
            exp.GT(this=count, expression=exp.Literal.number(1)),
        )
    if what.kind == "key_violations":
        nulls = exp.or_(*[c.is_(exp.null()) for c in columns])
        return values(None, exp.or_(exp.GT(this=count, expression=exp.Literal.number(1)), nulls))
    if what.kind in ("not_in", "outside"):
        return values(_offending_value(columns[0], what))
    if what.kind == "orphans":
        return values(_orphan(columns[0], what, parents))
    if what.kind == "nulls":
        return rows(columns[0].is_(exp.null()), [k for k in keys if k not in what.columns])
    if what.kind == "violations":
        shown = list(dict.fromkeys([*keys, *what.columns]))
        return rows(exp.not_(exp.paren(condition(what.condition, what.columns))), shown)
    return None


# --------------------------------------------------------------------------- catalog


def information_schema(catalog: str | None, view: str) -> Relation:
    return Relation("information_schema", view, catalog)


def table_names(catalog: str | None, schema: str) -> exp.Select:
    """The tables of ``schema``, by name."""
    return select(
        information_schema(catalog, "tables"),
        ["table_name"],
        column("table_schema").eq(literal(schema)),
        order_by=["table_name"],
    )


def column_names(catalog: str | None, schema: str) -> exp.Select:
    """``(table, column)`` in lower case, of every table of ``schema``."""
    lower = [exp.Lower(this=column("table_name")), exp.Lower(this=column("column_name"))]
    return select(information_schema(catalog, "columns"), lower, column("table_schema").eq(literal(schema)))


def columns_listing(catalog: str | None, schema: str, table: str) -> exp.Expr:
    """A scalar subquery: ``name:TYPE:scale`` of each column of a table, comma separated, in order.

    Fused into a port's test query, so comparing the table with its contract costs no query.
    """
    item = exp.DPipe(
        this=exp.DPipe(
            this=exp.DPipe(
                this=exp.DPipe(
                    this=exp.Lower(this=column("column_name")), expression=exp.Literal.string(":")
                ),
                expression=column("data_type"),
            ),
            expression=exp.Literal.string(":"),
        ),
        expression=exp.Coalesce(
            this=exp.cast(column("numeric_scale"), "VARCHAR"), expressions=[exp.Literal.string("")]
        ),
    )
    aggregate = exp.WithinGroup(
        this=exp.GroupConcat(this=item, separator=exp.Literal.string(",")),
        expression=exp.Order(expressions=[exp.Ordered(this=column("ordinal_position"))]),
    )
    where = exp.and_(column("table_schema").eq(literal(schema)), column("table_name").eq(literal(table)))
    return exp.Subquery(this=select(information_schema(catalog, "columns"), [aggregate], where))


# --------------------------------------------------------------------------- Snowflake access


def create_database_role(role: Relation) -> Statement:
    return Statement(("CREATE", "DATABASE", "ROLE", "IF", "NOT", "EXISTS", role))


def grant_to_database_role(privilege: str, kind: str, securable: Relation, role: Relation) -> exp.Expr:
    """``GRANT USAGE ON SCHEMA s TO DATABASE ROLE r`` or ``GRANT SELECT ON TABLE t TO ...``."""
    return exp.Grant(
        privileges=[exp.GrantPrivilege(this=exp.Var(this=privilege))],
        kind=kind,
        securable=securable.table(),
        principals=[exp.GrantPrincipal(this=role.table(), kind="DATABASE ROLE")],
    )


def grant_database_role(role: Relation, to: Relation) -> Statement:
    return Statement(("GRANT", "DATABASE", "ROLE", role, "TO", "DATABASE", "ROLE", to))


def revoke_database_role(role: Relation, from_: Relation) -> Statement:
    return Statement(("REVOKE", "DATABASE", "ROLE", role, "FROM", "DATABASE", "ROLE", from_))


def show_grants_of_database_role(role: Relation) -> Statement:
    return Statement(("SHOW", "GRANTS", "OF", "DATABASE", "ROLE", role))


def set_query_tag(tag: str) -> exp.Expr:
    """Snowflake: tag every following statement of the session."""
    setting = exp.SetItem(this=exp.EQ(this=exp.Var(this="QUERY_TAG"), expression=exp.Literal.string(tag)))
    return exp.Alter(kind="SESSION", actions=[exp.AlterSession(expressions=[setting])])


def clone_database(source: str, target: str) -> exp.Expr:
    return exp.Create(
        this=exp.Table(this=identifier(target)),
        kind="DATABASE",
        clone=exp.Clone(this=exp.Table(this=identifier(source))),
    )


def create_database(name: str) -> exp.Expr:
    return exp.Create(this=exp.Table(this=identifier(name)), kind="DATABASE", exists=True)


def drop_database(name: str) -> exp.Expr:
    return exp.Drop(tables=[exp.Table(this=identifier(name))], kind="DATABASE", exists=True)


def current_role() -> exp.Expr:
    return exp.select(exp.Anonymous(this="CURRENT_ROLE"))


# --------------------------------------------------------------------------- DuckDB files


def attach(path: str, alias: str, read_only: bool = False) -> exp.Expr:
    options = [exp.AttachOption(this=exp.Var(this="READ_ONLY"))] if read_only else []
    return exp.Attach(this=exp.alias_(exp.Literal.string(path), identifier(alias)), expressions=options)


def table_kind(catalog: str, schema: str, table: str) -> exp.Select:
    """``BASE TABLE`` or ``VIEW``: what ``catalog.schema.table`` is (no row: it does not exist)."""
    where = equals({"table_catalog": catalog, "table_schema": schema, "table_name": table})
    return select(information_schema(None, "tables"), ["table_type"], where)


def no_external_access() -> exp.Expr:
    """DuckDB: from here on this connection reads and writes no file but its own databases."""
    setting = exp.SetItem(this=exp.EQ(this=exp.Var(this="enable_external_access"), expression=exp.false()))
    return exp.Set(expressions=[setting])


def copy_database(source: str, target: str) -> Statement:
    """DuckDB: every schema and table of one attached database into another."""
    return Statement(("COPY", "FROM", "DATABASE", Relation(source), "TO", Relation(target)))


def detach(alias: str) -> exp.Expr:
    return exp.Detach(this=identifier(alias))


def attach_in_memory(alias: str) -> exp.Expr:
    """DuckDB: a new, empty in-memory database named ``alias``."""
    return exp.Attach(this=exp.alias_(exp.Literal.string(":memory:"), identifier(alias)))


def use(catalog: str) -> exp.Expr:
    """DuckDB: make ``catalog`` the default database of the connection."""
    return exp.Use(this=exp.Table(this=identifier(catalog)))


def catalog_columns() -> exp.Select:
    """Every column of the current database: ``schema, table, column, type``."""
    where = column("table_catalog").eq(exp.CurrentDatabase())
    names = ["table_schema", "table_name", "column_name", "data_type"]
    return select(information_schema(None, "columns"), names, where)


def duckdb_settings() -> list[exp.Expr]:
    """What every DuckDB session sets: sqlglot writes lambdas (``x -> ...``) in the arrow
    form DuckDB 2 accepts only when asked to."""
    setting = exp.SetItem(
        this=exp.EQ(this=exp.Var(this="lambda_syntax"), expression=exp.Literal.string("ENABLE_SINGLE_ARROW"))
    )
    return [exp.Set(expressions=[setting])]


def current_database() -> exp.Expr:
    return exp.select(exp.CurrentDatabase())


def describe(source: Relation) -> exp.Expr:
    return exp.Describe(this=source.table())


def function_names() -> exp.Expr:
    """DuckDB: the name of every function it has."""
    names = exp.Lower(this=column("function_name"))
    return exp.select(names).distinct().from_(exp.Table(this=exp.Anonymous(this="duckdb_functions")))


def parse_tree(text: str) -> exp.Expr:
    """DuckDB: its own parser's reading of ``text``, as JSON (with an error when it cannot)."""
    return exp.select(exp.Anonymous(this="json_serialize_sql", expressions=[exp.Literal.string(text)]))


def one() -> exp.Expr:
    """``SELECT 1``: does the connection answer."""
    return exp.select(exp.Literal.number(1))
