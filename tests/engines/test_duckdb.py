"""The embedded DuckDB engine: names, dialect, atomic publish."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dagmesh.engines.base import WarehouseError
from dagmesh.engines.duckdb import DuckDBEngine
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation
from tests.helpers import mesh_of


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBEngine:
    mesh = mesh_of({"dev": {"engine": "duckdb", "path": "wh.duckdb"}})
    return DuckDBEngine(tmp_path, mesh, mesh.environments["dev"])


def test_the_warehouse_is_one_file_under_the_project(engine: DuckDBEngine, tmp_path: Path) -> None:
    with engine.session() as session:
        session.execute_text("CREATE TABLE t AS SELECT 1 AS a")
    assert engine.path == tmp_path / "wh.duckdb"
    assert engine.path.is_file()


def test_raw_sources_live_in_a_schema_named_after_database_and_schema(engine: DuckDBEngine) -> None:
    assert engine.source_relation("RAW.AMA.PHYSICIANS") == Relation("raw_ama", "physicians")
    assert engine.source_relation("RAW.AMA.PHYSICIANS").sql("duckdb") == '"raw_ama"."physicians"'


def test_snowflake_sql_is_written_for_duckdb(engine: DuckDBEngine) -> None:
    query = sql.parse_query(
        "SELECT IFF(a > 1, 'x', 'y') AS b, CAST(DATEADD(month, -2, d) AS DATE) AS e, COUNT_IF(a > 0) AS n "
        "FROM t GROUP BY ALL"
    )
    with engine.session() as session:
        session.execute_text("CREATE TABLE t AS SELECT 2 AS a, DATE '2026-03-31' AS d")
        assert session.query(query) == [("x", date(2026, 1, 31), 1)]


def test_names_that_are_sql_keywords_work_quoted(engine: DuckDBEngine) -> None:
    table = engine.table(engine.build_schema("order"), "select")
    with engine.session() as session:
        session.run_all(engine.reset_build_schema("order"))
        session.run_all(engine.create_table_as(table, sql.parse_query('SELECT 1 AS "GROUP"')))
        assert session.query(sql.select(table, ["group"])) == [(1,)]
        assert engine.list_tables(session, engine.build_schema("order")) == ["select"]


def test_invalid_sql_is_a_warehouse_error_naming_the_statement(engine: DuckDBEngine) -> None:
    with (
        engine.session() as session,
        pytest.raises(WarehouseError, match='while running: SELECT \\* FROM "nowhere"'),
    ):
        session.query(sql.select_all(Relation("nowhere")))


def test_publish_is_all_or_nothing(engine: DuckDBEngine) -> None:
    published = engine.published_schema("d")
    with engine.session() as session:
        session.run_all(engine.reset_build_schema("d"))
        session.execute_text("CREATE TABLE d__build.a AS SELECT 1 AS v")
        engine.publish(session, "d", ["a", "b"], [])
        session.run_all(engine.reset_build_schema("d"))
        session.execute_text("CREATE TABLE d__build.a AS SELECT 2 AS v")
        session.execute_text("CREATE TABLE d__build.b AS SELECT 2 AS v")
        with pytest.raises(RuntimeError), session.transaction():
            engine.publish(session, "d", ["a", "b"], [])
            raise RuntimeError("the registry write failed")
        assert session.query_text("SELECT v FROM d.a") == [(1,)]
        assert engine.list_tables(session, published) == ["a"]
        with session.transaction():
            engine.publish(session, "d", ["a", "b"], [])
        assert session.query_text("SELECT v FROM d.a") == [(2,)]
        assert engine.list_tables(session, published) == ["a", "b"]


def test_publishing_drops_tables_the_new_build_no_longer_has(engine: DuckDBEngine) -> None:
    with engine.session() as session:
        session.run_all(engine.reset_build_schema("d"))
        session.execute_text("CREATE TABLE d__build.old AS SELECT 1 AS v")
        engine.publish(session, "d", ["old"], [])
        session.run_all(engine.reset_build_schema("d"))
        session.execute_text("CREATE TABLE d__build.new AS SELECT 1 AS v")
        engine.publish(session, "d", ["new"], [])
        assert engine.list_tables(session, engine.published_schema("d")) == ["new"]


def test_models_that_are_not_ports_are_kept_out_of_consumers_sight(engine: DuckDBEngine) -> None:
    with engine.session() as session:
        session.run_all(engine.reset_build_schema("d"))
        session.execute_text("CREATE TABLE d__build.port AS SELECT 1 AS v")
        session.execute_text("CREATE TABLE d__build.staging AS SELECT 2 AS v")
        session.execute_text("CREATE TABLE d__build.history AS SELECT 3 AS v")
        engine.publish(session, "d", ["port"], ["history"])
        assert engine.list_tables(session, engine.published_schema("d")) == ["port"]
        # the state model (incremental, the next build starts from it) is copied; the
        # staging model is not, and stays in the build schema until the next build
        assert engine.list_tables(session, engine.state_schema("d")) == ["history"]
        assert "staging" in engine.list_tables(session, engine.build_schema("d"))
        session.run_all(engine.reset_build_schema("d"))
        session.execute_text("CREATE TABLE d__build.port AS SELECT 3 AS v")
        engine.publish(session, "d", ["port"], [])  # the history model is gone from the domain
        assert engine.list_tables(session, engine.state_schema("d")) == []
