"""The Snowflake engine through the real SnowflakeHook and connector, on an emulated account."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dagmesh.config.environments import environment
from dagmesh.config.project import load_project
from dagmesh.engines import engine_for
from dagmesh.engines.base import QueryTag, WarehouseConfigError
from dagmesh.engines.snowflake import SnowflakeEngine
from dagmesh.registry.store import Build, Registry
from dagmesh.sql import statements as sql
from tests.helpers import certify_domain
from tests.support.fake_snowflake import CONNECTION, FakeSnowflake, add_environment, fake_snowflake


@pytest.fixture
def account(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSnowflake]:
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_FAKE", CONNECTION)
    add_environment(project)
    add_environment(project, "no_such_connection", conn_id="snowflake_typo")
    add_environment(project, "no_such_role", role="ANALYST")
    with fake_snowflake() as emulated:
        yield emulated


def engine(project: Path, name: str) -> SnowflakeEngine:
    loaded = load_project(project)
    assert loaded.mesh is not None
    found = engine_for(loaded.root, loaded.mesh, environment(loaded.mesh, loaded.root, name))
    assert isinstance(found, SnowflakeEngine)
    return found


def test_each_session_first_sets_its_query_tag(project: Path, account: FakeSnowflake) -> None:
    fake = engine(project, "fake")
    tag = QueryTag("pharma", "physician", "test", "manual__1", "physician-abc")
    with fake.session(tag) as session:
        session.query(sql.one())
    assert account.statements == [sql.render(sql.set_query_tag(tag.to_json()), "snowflake"), "SELECT 1"]


def test_the_registry_reads_and_writes_through_the_hook(project: Path, account: FakeSnowflake) -> None:
    fake = engine(project, "fake")
    registry = Registry(fake)
    with fake.session() as session:
        registry.open_build(
            session, Build("b1", "physician", "mastered", "fake", "physician", "r1", None, False)
        )
        registry.certify(session, "b1", "physician", "r1", {"product": 2}, {"physician": (1, 423)})
        latest = registry.latest_certification(session, "physician")
    assert latest is not None
    assert (latest.version, latest.lineage, latest.ports) == (1, {"product": 2}, {"physician": (1, 423)})
    assert account.matching(r'^INSERT INTO "MESH"\."MESH_META"\."CERTIFICATIONS"')


def test_an_unknown_connection_id_fails_naming_it_before_any_statement(
    project: Path, account: FakeSnowflake
) -> None:
    with pytest.raises(WarehouseConfigError) as raised:
        engine(project, "no_such_connection").check_connection()
    assert "uses the Airflow connection 'snowflake_typo', which does not exist" in str(raised.value)
    assert account.statements == []


def test_a_role_the_user_does_not_have_fails_naming_it_before_any_statement(
    project: Path, account: FakeSnowflake
) -> None:
    with pytest.raises(WarehouseConfigError) as raised:
        engine(project, "no_such_role").check_connection()
    assert (
        "role 'ANALYST' does not exist or is not granted to the user of connection 'snowflake_fake'"
        in str(raised.value)
    )
    assert account.statements == []


@pytest.fixture
def seeded_fake(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, FakeSnowflake]]:
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_FAKE", CONNECTION)
    monkeypatch.setenv("DAGMESH_ENV", "fake")
    add_environment(project)
    spec = importlib.util.spec_from_file_location("raw_data", project / "include" / "raw_data.py")
    assert spec is not None and spec.loader is not None
    raw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(raw)
    with fake_snowflake() as emulated:
        engine(project, "fake").load_raw(raw.generate, 0.01, datetime.now(UTC), lambda table, rows: None)
        emulated.statements.clear()
        yield project, emulated


def test_certify_re_grants_the_ports_after_the_swap(seeded_fake: tuple[Path, FakeSnowflake]) -> None:
    project, account = seeded_fake
    certify_domain(project, "payer")
    statements = account.statements
    swap = statements.index('ALTER SCHEMA "MESH"."PAYER__BUILD" SWAP WITH "MESH"."PAYER"')
    grants = [i for i, s in enumerate(statements) if s.startswith('GRANT SELECT ON TABLE "MESH"."PAYER".')]
    assert grants and min(grants) > swap
    assert account.role_grants["MESH.PAYER__FORMULARY__READER"] == {"MESH.PAYER_DW__CONSUMER"}


def test_every_stage_runs_under_a_query_tag_naming_mesh_domain_stage_run_and_build(
    seeded_fake: tuple[Path, FakeSnowflake],
) -> None:
    project, account = seeded_fake
    certified = certify_domain(project, "product", run_id="scheduled__2026-11-21T04:00:00+00:00")
    tags = [
        json.loads(s.split("=", 1)[1].strip()[1:-1])
        for s in account.matching(r"^ALTER SESSION SET QUERY_TAG")
    ]
    assert {t["stage"] for t in tags} == {"check_inputs", "build", "test", "certify"}
    assert {(t["mesh"], t["domain"], t["dag_run_id"], t["build_id"]) for t in tags} == {
        ("pharma", "product", "scheduled__2026-11-21T04:00:00+00:00", certified.certification.build_id)
    }
    # Each session opens with its tag: the statement before every other one of a session is a tag.
    assert account.statements[0].startswith("ALTER SESSION SET QUERY_TAG")


def test_publishing_keeps_ports_for_consumers_and_only_incremental_state_beside_them(
    project: Path, account: FakeSnowflake
) -> None:
    fake = engine(project, "fake")
    with fake.session() as session:
        session.run_all(fake.reset_build_schema("d"))
        for model in ("port", "staging", "history"):
            session.run_all(fake.create_table_as(fake.table(fake.build_schema("d"), model), sql.one()))
        session.run_all(fake.marker("d", "b1"))
        fake.publish(session, "d", ["port"], ["history"])
        published = fake.list_tables(session, fake.published_schema("d"))
        assert sorted(published) == ["DAGMESH_BUILD", "PORT"]
        assert fake.list_tables(session, fake.state_schema("d")) == ["HISTORY"]
        session.run_all(fake.reset_build_schema("d"))
        session.run_all(fake.create_table_as(fake.table(fake.build_schema("d"), "port"), sql.one()))
        session.run_all(fake.marker("d", "b2"))
        fake.publish(session, "d", ["port"], [])  # the history model is gone from the domain
        assert fake.list_tables(session, fake.state_schema("d")) == []
