"""The registry is plain tables: versions count up, re-recording replaces."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dagmesh.engines.duckdb import DuckDBEngine
from dagmesh.quality.checks import Check, CheckResult, Expectation
from dagmesh.registry.store import Build, Registry
from tests.helpers import mesh_of


def make_registry(tmp_path: Path) -> tuple[DuckDBEngine, Registry]:
    mesh = mesh_of({"dev": {"engine": "duckdb", "path": "wh.duckdb"}})
    engine = DuckDBEngine(tmp_path, mesh, mesh.environments["dev"])
    return engine, Registry(engine)


def build(build_id: str, domain: str = "d") -> Build:
    return Build(build_id, domain, "mastered", "dev", domain, f"run-{build_id}", None, False)


def test_each_certification_of_a_domain_gets_the_next_version(tmp_path: Path) -> None:
    engine, registry = make_registry(tmp_path)
    with engine.session() as session:
        for build_id in ("b1", "b2"):
            registry.open_build(session, build(build_id))
            registry.certify(session, build_id, "d", f"run-{build_id}", {"up": 3}, {"p": (1, 10)})
        registry.open_build(session, build("x1", "other"))
        registry.certify(session, "x1", "other", "run-x1", {}, {"q": (2, 5)})
        latest = registry.latest_certification(session, "d")
    assert latest is not None
    assert (latest.build_id, latest.version, latest.lineage, latest.ports) == (
        "b2",
        2,
        {"up": 3},
        {"p": (1, 10)},
    )


def test_results_recorded_again_for_the_same_build_replace_the_earlier_ones(tmp_path: Path) -> None:
    engine, registry = make_registry(tmp_path)
    check = Check("d.p:row_count", "p", "row_count", "standard", Expectation("ge", 1))
    with engine.session() as session:
        registry.open_build(session, build("b1"))
        registry.record_results(session, "b1", "d", [CheckResult(check, "0", False, "empty")])
        registry.record_results(session, "b1", "d", [CheckResult(check, "12", True)])
        assert registry.result_counts(session, "b1") == {"pass": 1, "fail": 0, "warn": 0}


def test_the_registry_reads_with_plain_sql(tmp_path: Path) -> None:
    engine, registry = make_registry(tmp_path)
    with engine.session() as session:
        registry.open_build(session, build("b1"))
        registry.certify(session, "b1", "d", "run-b1", {}, {"p": (1, 7)})
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        assert con.execute("SELECT domain, version FROM mesh_meta.certifications").fetchall() == [("d", 1)]
        assert con.execute("SELECT state FROM mesh_meta.builds").fetchall() == [("certified",)]
        assert con.execute("SELECT port, row_count FROM mesh_meta.port_versions").fetchall() == [("p", 7)]


def test_a_registry_made_by_an_older_dagmesh_gets_the_new_columns(tmp_path: Path) -> None:
    engine, registry = make_registry(tmp_path)
    with engine.session() as session:
        registry.ensure(session)
        session.execute_text("ALTER TABLE mesh_meta.inputs DROP COLUMN triggered_by_build_id")
        registry.ensure(session)
        columns = [r[0] for r in session.query_text("DESCRIBE mesh_meta.inputs")]
    assert columns[-1] == "triggered_by_build_id"
