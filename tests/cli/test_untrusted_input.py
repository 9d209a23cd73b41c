"""Configs and SQL from pull requests, as ``dagmesh validate`` and ``dagmesh run`` meet them.

Each attack is refused with a located message and exit 1; at run time, nothing of it
executes and nothing is published.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from dagmesh.stages import test as test_stage
from dagmesh.stages.context import StageFailure
from tests.helpers import REPO, build_until_tests, certify_domain, dagmesh, edit, stage_context


def errors(done: object) -> list[str]:
    lines = done.stdout.splitlines()  # type: ignore[attr-defined]
    return [line for line in lines if ": error: " in line]


def test_template_code_in_a_pull_request_does_not_run_in_validate(project: Path, tmp_path: Path) -> None:
    planted = tmp_path / "pwned"
    edit(
        project,
        "sql/product/product.sql",
        "from {{ source('ndc_catalog') }}",
        "from {{ source('ndc_catalog') }}\n"
        f"where {{{{ ref.__globals__['__builtins__']['__import__']('os').system('touch {planted}') }}}}",
    )

    done = dagmesh("validate", project=project)

    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert not planted.exists()
    (error,) = errors(done)
    assert error.startswith("sql/product/product.sql:")
    assert "attribute access ({{ x.y }}) is not allowed in dagmesh SQL" in error


def test_include_and_division_by_zero_are_located_errors_not_crashes(project: Path) -> None:
    edit(
        project,
        "sql/product/product.sql",
        "from {{ source('ndc_catalog') }}",
        "from {{ source('ndc_catalog') }}\n{% include 'x.sql' %}",
    )
    edit(project, "sql/payer/payer_plan.sql", "select\n", "select {{ 1/0 }} as crash,\n")

    done = dagmesh("validate", project=project)

    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    found = errors(done)
    assert any(
        e.startswith("sql/product/product.sql:") and "{% include %} is not allowed" in e for e in found
    )
    assert any(e.startswith("sql/payer/payer_plan.sql:2:") and "'Div' is not allowed" in e for e in found)


@pytest.mark.parametrize(
    ("config", "old", "new", "error"),
    [
        (
            "dag_configs/mastered/physician.yaml",
            '{expression: "LENGTH(npi) = 10"}',
            '{expression: "1=1; DELETE FROM physician.physician"}',
            "dag_configs/mastered/physician.yaml:41:9: error: expression test of port 'physician': "
            "'1=1; DELETE FROM physician.physician' is not one SQL condition",
        ),
        (
            "dag_configs/mastered/physician.yaml",
            "freshness: {column: loaded_at, warn_after",
            "freshness: {column: 'loaded_at) FROM x; DROP TABLE y; --', warn_after",
            "dag_configs/mastered/physician.yaml:13:67: error: freshness column must be a column name",
        ),
        (
            "dag_configs/integrated/physician_dw.yaml",
            "unique_key: [physician_id, ndc, fill_month]",
            "unique_key: [physician_id, ndc, 'fill_month; DROP TABLE x']",
            "dag_configs/integrated/physician_dw.yaml:25:37: error: 'fill_month; DROP TABLE x' in "
            "'unique_key' must be a lowercase identifier",
        ),
        (
            "dag_configs/integrated/physician_dw.yaml",
            "unique_key: [physician_id, ndc, fill_month]",
            "unique_key: [physician_id, ndc, fill_day]",
            "dag_configs/integrated/physician_dw.yaml:22:5: error: unique_key 'fill_day' of model "
            "'fact_prescriptions' is not a column of its port",
        ),
        (
            "dag_configs/mesh.yaml",
            "database: MESH, warehouse",
            "database: 'MESH.PUBLIC.X; DROP DATABASE PROD_DATA; --', warehouse",
            "dag_configs/mesh.yaml:8:67: error: 'database' must be a Snowflake name",
        ),
    ],
)
def test_config_values_that_reach_sql_are_checked(
    project: Path, config: str, old: str, new: str, error: str
) -> None:
    edit(project, config, old, new)

    done = dagmesh("validate", project=project)

    assert done.returncode == 1
    (found,) = errors(done)
    assert found.startswith(error)


def test_grants_never_print_an_injected_database_name(project: Path) -> None:
    edit(
        project,
        "dag_configs/mesh.yaml",
        "database: MESH, warehouse",
        "database: 'MESH; DROP DATABASE PROD_DATA; --', warehouse",
    )

    grants = dagmesh("grants", "--env", "prod", project=project)

    assert grants.returncode == 1 and "DROP DATABASE PROD_DATA" not in grants.stdout
    assert "dag_configs/mesh.yaml:8:67: error: 'database' must be a Snowflake name" in grants.stderr


@pytest.mark.parametrize(
    ("read", "gist"),
    [
        ("read_csv('/etc/hostname')", "reads through 'READ_CSV('/etc/hostname')'"),
        ("TABLE('physician.physician')", "reads through 'TABLE('physician.physician')'"),
        ("IDENTIFIER('physician.physician')", "reads through 'IDENTIFIER('physician.physician')'"),
        (
            "query_table('mesh_meta.certifications')",
            "reads through 'QUERY_TABLE('mesh_meta.certifications')'",
        ),
        ("mesh_meta.certifications", "reads 'mesh_meta.certifications'"),
        ("dagmesh_ref.product", "reads 'dagmesh_ref.product'"),
    ],
)
def test_each_table_function_backdoor_is_refused_and_the_domain_gets_no_dag(
    project: Path, read: str, gist: str
) -> None:
    edit(
        project,
        "sql/product/product.sql",
        "from {{ source('ndc_catalog') }}",
        f"from {{{{ source('ndc_catalog') }}}}\ncross join {read}",
    )

    done = dagmesh("validate", project=project)

    assert done.returncode == 1
    (error,) = errors(done)
    assert error.startswith("sql/product/product.sql:") and gist in error
    dags = dagmesh("dags", "--check", project=project)  # the DAG files are fine: the config is not
    assert dags.returncode == 0
    listed = dagmesh("graph", project=project)
    assert "not loaded (config errors): product" in listed.stdout


def test_names_that_are_sql_keywords_and_a_bom_pass_validation(tmp_path: Path) -> None:
    root = shutil.copytree(REPO / "tests" / "fixtures" / "keywords", tmp_path / "keywords")
    model = root / "sql" / "order" / "select.sql"
    model.write_bytes(b"\xef\xbb\xbf" + model.read_bytes())  # an editor's byte order mark
    assert dagmesh("dags", project=root).returncode == 0

    done = dagmesh("validate", project=root)

    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == "ok: 2 domains, no problems"


def test_dbt_habits_get_a_located_hint(project: Path) -> None:
    edit(
        project,
        "sql/product/product.sql",
        "{{ source('ndc_catalog') }}",
        "{{ source('raw', 'ndc_catalog') }}",
    )
    edit(project, "sql/physician_dw/dim_product.sql", "{{ port('product.product') }}", "{{ ref('product') }}")

    found = "\n".join(errors(dagmesh("validate", project=project)))

    assert "source('raw', 'ndc_catalog') is dbt's form" in found
    assert "ref('product'): domain physician_dw has no model 'product'" in found
    assert (
        "'product' is an output port of domain product: read it with port('product.product') and add "
        "product.product to consumes"
    ) in found


@pytest.mark.e2e
@pytest.mark.usefixtures("airflow_db")
def test_an_injected_expression_test_runs_nothing_and_certifies_nothing(seeded: Path) -> None:
    certify_domain(seeded, "physician")
    warehouse = seeded / ".dagmesh" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        (before,) = con.execute("SELECT COUNT(*) FROM physician.physician").fetchone() or (0,)
    column = "      lifecycle_stage:  {type: varchar, tests: [{accepted_values: [LAUNCH, GROWTH, MATURE]}]}"
    injected = '    tests:\n      - {expression: "1=1) OR (1=1; DELETE FROM physician.physician"}'
    edit(seeded, "dag_configs/mastered/product.yaml", column, f"{column}\n{injected}")

    done = dagmesh("run", "product", project=seeded)

    assert done.returncode == 1
    assert "an expression test of port product.product is refused" in done.stdout
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute("SELECT COUNT(*) FROM physician.physician").fetchone() == (before,)
        assert con.execute(
            "SELECT COUNT(*) FROM mesh_meta.certifications WHERE domain = 'product'"
        ).fetchone() == (0,)


@pytest.mark.e2e
def test_a_custom_test_validate_refuses_never_runs(seeded: Path) -> None:
    edit(
        seeded,
        "sql/physician/tests/no_duplicate_npi.sql",
        "from {{ ref('physician') }}",
        "from {{ ref('physician') }}\ncross join read_csv('/etc/hostname')",
    )
    ctx = stage_context(seeded, "physician")
    build_until_tests(ctx)

    with pytest.raises(
        StageFailure, match=r"sql/physician/tests/no_duplicate_npi\.sql:\d+:\d+: reads through 'READ_CSV"
    ):
        test_stage.run_custom_test(ctx, "no_duplicate_npi")

    done = dagmesh("run", "physician", project=seeded)
    assert (
        done.returncode == 1
        and "not run: config errors: sql/physician/tests/no_duplicate_npi.sql" in done.stdout
    )
