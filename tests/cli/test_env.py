"""``dagmesh env`` and ``dagmesh grants``: branch environments and access control."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.helpers import dagmesh


def rows(warehouse: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(warehouse)) as con:
        return con.execute(sql).fetchall()


@pytest.mark.e2e
@pytest.mark.usefixtures("airflow_db")
def test_a_branch_environment_runs_the_mesh_without_touching_the_one_it_came_from(seeded: Path) -> None:
    assert dagmesh("run", "product", project=seeded).returncode == 0
    dev = seeded / ".dagmesh" / "warehouse.duckdb"
    published = rows(dev, "SELECT * FROM product.product ORDER BY ndc")

    created = dagmesh("env", "create", "feature_x", project=seeded)
    assert created.returncode == 0, created.stderr
    branch = seeded / ".dagmesh" / "feature_x.duckdb"
    assert branch.is_file()
    assert rows(branch, "SELECT * FROM product.product ORDER BY ndc") == published  # a full copy
    listing = dagmesh("env", "list", project=seeded).stdout
    assert "feature_x  duckdb     .dagmesh/feature_x.duckdb" in listing and "env create (from dev)" in listing

    rows(
        branch, "DELETE FROM raw_product.ndc_catalog WHERE brand_name <> 'Veltrexa'"
    )  # the branch's data differs
    on_branch = dagmesh("run", "product", "--env", "feature_x", project=seeded)
    assert on_branch.returncode == 0, on_branch.stdout
    assert rows(branch, "SELECT COUNT(*) FROM product.product") == [(6,)]  # Veltrexa: 3 strengths x 2 packs
    assert rows(dev, "SELECT * FROM product.product ORDER BY ndc") == published
    assert rows(dev, "SELECT COUNT(*) FROM mesh_meta.certifications") == [(1,)]

    dropped = dagmesh("env", "drop", "feature_x", project=seeded)
    assert dropped.returncode == 0, dropped.stderr
    assert not branch.exists()
    assert "feature_x" not in dagmesh("env", "list", project=seeded).stdout


def test_a_snowflake_branch_is_a_database_clone_printed_for_review(project: Path) -> None:
    done = dagmesh("env", "create", "feature_x", "--from", "prod", "--print", project=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'CREATE DATABASE "MESH_FEATURE_X" CLONE "MESH";'
    assert "feature_x" not in dagmesh("env", "list", project=project).stdout


def test_environments_of_mesh_yaml_cannot_be_dropped(project: Path) -> None:
    done = dagmesh("env", "drop", "prod", project=project)
    assert done.returncode == 2
    assert "'prod' is defined in dag_configs/mesh.yaml" in done.stderr


def test_grants_prints_the_access_control_sql_for_snowflake(project: Path) -> None:
    done = dagmesh("grants", "--env", "prod", "product", project=project)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("-- Access control for Snowflake database MESH (environment 'prod'")
    reader = '"MESH"."PRODUCT__PRODUCT__READER"'
    assert lines[2:] == [
        "-- product",
        f"CREATE DATABASE ROLE IF NOT EXISTS {reader};",
        f'GRANT USAGE ON SCHEMA "MESH"."PRODUCT" TO DATABASE ROLE {reader};',
        f'GRANT SELECT ON TABLE "MESH"."PRODUCT"."PRODUCT" TO DATABASE ROLE {reader};',
        'CREATE DATABASE ROLE IF NOT EXISTS "MESH"."PAYER_DW__CONSUMER";',
        f'GRANT DATABASE ROLE {reader} TO DATABASE ROLE "MESH"."PAYER_DW__CONSUMER";',
        'CREATE DATABASE ROLE IF NOT EXISTS "MESH"."PHYSICIAN_DW__CONSUMER";',
        f'GRANT DATABASE ROLE {reader} TO DATABASE ROLE "MESH"."PHYSICIAN_DW__CONSUMER";',
    ]


def test_grants_on_duckdb_says_there_is_no_access_control(project: Path) -> None:
    done = dagmesh("grants", project=project)
    assert done.returncode == 0
    assert "has no access control: there is nothing to grant" in done.stdout
