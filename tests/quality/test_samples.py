"""A check that does not pass shows a few of the values or rows it counted."""

from __future__ import annotations

import duckdb
import pytest

from dagmesh.quality.checks import Measure
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation
from dagmesh.stages.test import describe_sample

ROWS = [
    ("a", "x@example.com", "US", 5),
    ("b", "x@example.com", "XX", -1),
    ("c", None, "YY", 7),
    ("c", "z@example.com", "US", 900),
    (None, "w@example.com", "XX", 3),
]


@pytest.fixture
def table() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA s; CREATE TABLE s.t (id VARCHAR, email VARCHAR, country VARCHAR, amount INT)")
    con.executemany("INSERT INTO s.t VALUES (?, ?, ?, ?)", ROWS)
    return con


def sample(con: duckdb.DuckDBPyConnection, measure: Measure, keys: tuple[str, ...] = ("id",)) -> str:
    query = sql.sample_query(Relation("s", "t"), measure, keys)
    assert query is not None
    return describe_sample(query.named_selects, con.execute(sql.render(query, "duckdb")).fetchall())


def test_each_kind_of_check_samples_what_it_counted(table: duckdb.DuckDBPyConnection) -> None:
    assert sample(table, Measure("duplicates", ("email",))) == "email=x@example.com (2 rows)"
    assert sample(table, Measure("key_violations", ("id",))) == "id=c (2 rows); id=null"
    assert sample(table, Measure("not_in", ("country",), values=("US",))) == "country=XX (2 rows); country=YY"
    assert sample(table, Measure("outside", ("amount",), low=0, high=100)) == "amount=-1; amount=900"
    assert sample(table, Measure("nulls", ("email",))) == "id=c"
    assert sample(table, Measure("violations", ("amount",), condition="amount < 100")) == "id=c, amount=900"


def test_a_relationships_check_samples_the_orphans(table: duckdb.DuckDBPyConnection) -> None:
    table.execute("CREATE TABLE s.countries (code VARCHAR); INSERT INTO s.countries VALUES ('US'), ('YY')")
    orphans = Measure("orphans", ("country",), parent="countries", field="code")
    query = sql.sample_query(Relation("s", "t"), orphans, ("id",), {"countries": Relation("s", "countries")})
    assert query is not None
    rows = table.execute(sql.render(query, "duckdb")).fetchall()
    assert describe_sample(query.named_selects, rows) == "country=XX (2 rows)"


def test_checks_without_values_to_show_have_no_sample() -> None:
    assert sql.sample_query(Relation("s", "t"), Measure("rows"), ("id",)) is None
    assert sql.sample_query(Relation("s", "t"), Measure("nulls", ("id",)), ()) is None


def test_a_sample_stays_short() -> None:
    rows = [(f"value-{i}-" + "x" * 60, "y" * 60, 2) for i in range(5)]
    text = describe_sample(["code", "note", sql.SAMPLE_COUNT], rows)
    assert len(text) == 300 and text.endswith("…")  # each value at most 40 characters, the whole 300
    assert text.startswith("code=value-0-" + "x" * 31 + "…, note=" + "y" * 39 + "… (2 rows); ")
