"""The Snowflake engine's statements, exactly, for what no emulator can run.

Schema SWAP, managed-access schemas, database clones, database roles and grants are
pinned here word for word, and each must parse as one Snowflake statement in sqlglot
(sqlglot 30 parses CLONE, DROP and ALTER SESSION into syntax trees and keeps SWAP,
MANAGED ACCESS and the role statements as verbatim commands; both must round-trip).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from dagmesh.config.environments import branch_environment
from dagmesh.config.model import PortRef
from dagmesh.config.project import load_project
from dagmesh.engines.base import QueryTag
from dagmesh.engines.snowflake import SnowflakeEngine
from dagmesh.mesh.access import AccessPlan, domain_access
from dagmesh.mesh.graph import MeshGraph
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation
from tests.helpers import REPO, mesh_of

MESH = mesh_of(
    {
        "prod": {
            "engine": "snowflake",
            "conn_id": "snowflake_default",
            "database": "mesh",
            "warehouse": "TRANSFORM_WH",
        }
    },
    name="pharma",
)
PROD = MESH.environments["prod"]


@pytest.fixture
def engine() -> SnowflakeEngine:
    return SnowflakeEngine(REPO, MESH, PROD)


def parses(statement: str) -> exp.Expr:
    """One Snowflake statement that sqlglot reads and writes back unchanged."""
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    (tree,) = sqlglot.parse(statement, read="snowflake")
    assert tree is not None
    assert tree.sql(dialect="snowflake") == statement
    return tree


def written(statements: Sequence[Any]) -> list[str]:
    """Statements as dagmesh sends them to Snowflake."""
    return [sql.render(statement, "snowflake") for statement in statements]


def test_publishing_swaps_the_build_schema_with_the_published_one(engine: SnowflakeEngine) -> None:
    statements = written(engine.publish_statements("physician"))
    assert statements == [
        'CREATE SCHEMA IF NOT EXISTS "MESH"."PHYSICIAN" WITH MANAGED ACCESS',
        'ALTER SCHEMA "MESH"."PHYSICIAN__BUILD" SWAP WITH "MESH"."PHYSICIAN"',
    ]
    for statement in statements:
        parses(statement)


def test_every_build_starts_from_an_empty_managed_access_schema(engine: SnowflakeEngine) -> None:
    (statement,) = written(engine.reset_build_schema("physician_dw"))
    assert statement == 'CREATE OR REPLACE SCHEMA "MESH"."PHYSICIAN_DW__BUILD" WITH MANAGED ACCESS'
    parses(statement)


def test_an_incremental_model_starts_from_a_zero_copy_clone_of_its_published_table(
    engine: SnowflakeEngine,
) -> None:
    published = engine.table(engine.published_schema("physician_dw"), "fact_prescriptions")
    build = engine.table(engine.build_schema("physician_dw"), "fact_prescriptions")
    (statement,) = written(engine.copy_table(published, build))
    assert statement == (
        'CREATE OR REPLACE TABLE "MESH"."PHYSICIAN_DW__BUILD"."FACT_PRESCRIPTIONS" '
        'CLONE "MESH"."PHYSICIAN_DW"."FACT_PRESCRIPTIONS"'
    )
    assert isinstance(parses(statement), exp.Create)


def test_a_branch_environment_is_a_zero_copy_clone_of_the_database(engine: SnowflakeEngine) -> None:
    branch = branch_environment(PROD, "feature_x")
    assert branch.database == "MESH_FEATURE_X" and branch.cloned_from == "prod"
    (create,) = engine.branch_plan(branch)
    assert create == 'CREATE DATABASE "MESH_FEATURE_X" CLONE "MESH"'
    assert isinstance(parses(create), exp.Create)
    (drop,) = SnowflakeEngine(REPO, engine.mesh, branch).drop_plan()
    assert drop == 'DROP DATABASE IF EXISTS "MESH_FEATURE_X"'
    assert isinstance(parses(drop), exp.Drop)


def test_every_session_is_tagged_with_mesh_domain_stage_run_and_build() -> None:
    tag = QueryTag("pharma", "physician", "build", "scheduled__2026-11-21T05:00:00+00:00", "physician-1a2b3c")
    (statement,) = written([sql.set_query_tag(tag.to_json())])
    assert statement == (
        'ALTER SESSION SET QUERY_TAG = \'{"build_id":"physician-1a2b3c",'
        '"dag_run_id":"scheduled__2026-11-21T05:00:00+00:00","domain":"physician",'
        '"mesh":"pharma","stage":"build"}\''
    )
    tree = parses(statement)
    assert isinstance(tree, exp.Alter)
    value = tree.find(exp.Literal)
    assert value is not None
    assert json.loads(value.this) == {
        "mesh": "pharma",
        "domain": "physician",
        "stage": "build",
        "dag_run_id": "scheduled__2026-11-21T05:00:00+00:00",
        "build_id": "physician-1a2b3c",
    }


def test_a_quote_in_a_tag_is_escaped() -> None:
    (statement,) = written(
        [sql.set_query_tag(QueryTag("pharma", "physician", "test", "manual__it's", "b").to_json())]
    )
    assert "manual__it\\'s" in statement
    literal = sqlglot.parse_one(statement, read="snowflake").find(exp.Literal)
    assert literal is not None and json.loads(literal.this)["dag_run_id"] == "manual__it's"


def example_plan(domain: str) -> AccessPlan:
    project = load_project(REPO)
    return domain_access(project.domains[domain], MeshGraph(project.domains))


def test_each_port_gets_a_reader_role_and_each_consumer_the_readers_it_consumes(
    engine: SnowflakeEngine,
) -> None:
    statements = engine.grant_sql(example_plan("physician"))
    reader = '"MESH"."PHYSICIAN__PHYSICIAN__READER"'
    assert statements == [
        f"CREATE DATABASE ROLE IF NOT EXISTS {reader}",
        f'GRANT USAGE ON SCHEMA "MESH"."PHYSICIAN" TO DATABASE ROLE {reader}',
        f'GRANT SELECT ON TABLE "MESH"."PHYSICIAN"."PHYSICIAN" TO DATABASE ROLE {reader}',
        'CREATE DATABASE ROLE IF NOT EXISTS "MESH"."PAYER_DW__CONSUMER"',
        f'GRANT DATABASE ROLE {reader} TO DATABASE ROLE "MESH"."PAYER_DW__CONSUMER"',
        'CREATE DATABASE ROLE IF NOT EXISTS "MESH"."PHYSICIAN_DW__CONSUMER"',
        f'GRANT DATABASE ROLE {reader} TO DATABASE ROLE "MESH"."PHYSICIAN_DW__CONSUMER"',
    ]
    for statement in statements:
        parses(statement)


def test_a_consumer_is_granted_only_the_ports_it_declares(engine: SnowflakeEngine) -> None:
    granted = {
        s.split(" TO DATABASE ROLE ")[0].split()[-1]
        for domain in ("physician", "product", "payer", "physician_dw", "payer_dw")
        for s in engine.grant_sql(example_plan(domain))
        if s.startswith("GRANT DATABASE ROLE") and s.endswith('"MESH"."LAUNCH_ANALYTICS__CONSUMER"')
    }
    assert granted == {
        '"MESH"."PHYSICIAN_DW__DIM_PHYSICIAN__READER"',
        '"MESH"."PHYSICIAN_DW__DIM_PRODUCT__READER"',
        '"MESH"."PHYSICIAN_DW__FACT_PRESCRIPTIONS__READER"',
        '"MESH"."PHYSICIAN_DW__FACT_CALLS__READER"',
        '"MESH"."PAYER_DW__PHYSICIAN_ACCESS__READER"',
    }


def test_a_role_that_stopped_consuming_a_port_loses_its_reader(engine: SnowflakeEngine) -> None:
    statements = written(
        engine.revocations(
            "PAYER__FORMULARY__READER",
            ["MESH.PAYER_DW__CONSUMER", "MESH.OLD_REPORTING__CONSUMER"],
            ["payer_dw"],
        )
    )
    assert statements == [
        'REVOKE DATABASE ROLE "MESH"."PAYER__FORMULARY__READER" '
        'FROM DATABASE ROLE "MESH"."OLD_REPORTING__CONSUMER"'
    ]
    parses(statements[0])


def test_names_are_upper_case_quoted_and_qualified_with_the_database(engine: SnowflakeEngine) -> None:
    def name(relation: Relation) -> str:
        return relation.sql("snowflake")

    assert (
        name(engine.table(engine.build_schema("physician"), "stg_ama"))
        == '"MESH"."PHYSICIAN__BUILD"."STG_AMA"'
    )
    assert name(engine.port_relation(PortRef("physician", "physician"))) == '"MESH"."PHYSICIAN"."PHYSICIAN"'
    assert name(engine.source_relation("RAW.AMA.PHYSICIANS")) == '"RAW"."AMA"."PHYSICIANS"'
    assert name(engine.registry_schema) == '"MESH"."MESH_META"'
    # Domain SQL is Snowflake's already: written as it reads, names quoted in upper case.
    query = sql.parse_query("select iff(a, 1, 2) as b from t")
    assert sql.render(query, "snowflake") == 'SELECT IFF("A", 1, 2) AS "B" FROM "T"'
