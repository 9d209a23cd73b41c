"""Inputs that used to crash ``dagmesh validate`` or pass it silently: each is now one located
problem (or, for merge keys and a byte order mark, loads as the author meant)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagmesh.config.project import load_project
from dagmesh.mesh.validation import validate
from tests.helpers import REPO, dagmesh, edit


def problems(project: Path) -> list[str]:
    loaded = load_project(project)
    validate(loaded)
    return [str(p) for p in loaded.diagnostics.sorted() if p.is_error]


PRODUCT = "dag_configs/mastered/product.yaml"
MESH = "dag_configs/mesh.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "dag_configs/mesh.yaml:1:1: error: mesh.yaml is empty"),
        (
            "mash: pharma\nenvironments: {dev: {engine: duckdb}}\n",
            "dag_configs/mesh.yaml:1:1: error: unknown key 'mash' in mesh.yaml (did you mean 'mesh'?)",
        ),
        (
            "mesh: pharma\nmesh: again\nenvironments: {dev: {engine: duckdb}}\n",
            "dag_configs/mesh.yaml:2:1: error: duplicate key 'mesh' (first defined on line 1)",
        ),
        (
            "mesh: pharma\nenvironments:\n\tdev: {engine: duckdb}\n",
            "dag_configs/mesh.yaml:3:1: error: invalid YAML",
        ),
        ("mesh: pha\x00rma\n", "dag_configs/mesh.yaml:1:10: error: invalid YAML: control characters"),
    ],
)
def test_a_broken_mesh_yaml_is_reported_and_holds_every_domain(
    project: Path, text: str, expected: str
) -> None:
    (project / MESH).write_text(text)

    done = dagmesh("validate", project=project)

    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert any(line.startswith(expected) for line in done.stdout.splitlines()), done.stdout
    assert done.stdout.splitlines()[-1] == (
        "not loaded until dag_configs/mesh.yaml is fixed: launch_analytics, payer, payer_dw, physician, "
        "physician_dw, product"
    )


@pytest.mark.parametrize(("depth", "line_col"), [(600, "1:70"), (50_000, "1:70")])
def test_deep_nesting_is_a_located_problem_not_a_crash(project: Path, depth: int, line_col: str) -> None:
    (project / PRODUCT).write_text("tags: " + "[" * depth + "]" * depth + "\n")
    done = dagmesh("validate", project=project)  # a process of its own: a segfault would show
    assert done.returncode == 1, done.stderr
    assert f"{PRODUCT}:{line_col}: error: values are nested more than 64 levels deep" in done.stdout


def test_bytes_that_are_not_utf8_are_located_in_yaml_and_sql(project: Path) -> None:
    config = project / PRODUCT
    config.write_bytes(config.read_bytes().replace(b"owner: mdm-team", b"owner: mdm-\xe9quipe"))
    sql = project / "sql" / "physician" / "physician.sql"
    sql.write_bytes(b"-- caf\xe9\n" + sql.read_bytes())

    found = problems(project)

    assert f"{PRODUCT}:7:12: error: the file is not UTF-8 text (byte 0xe9 here); save it as UTF-8" in found
    assert (
        "sql/physician/physician.sql:1:7: error: the file is not UTF-8 text (byte 0xe9 here); save it as "
        "UTF-8" in found
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "error_after: 8d",
            "error_after: 99999999999d",
            ":11:93: error: 'error_after' must be at most 3650d",
        ),
        (
            "error_after: 8d",
            "error_after: 0s",
            ":11:93: error: 'error_after' must be longer than 0s, not '0s'",
        ),
        ("layer: mastered", 'layer: ""', ":3:8: error: 'layer' must be a lowercase identifier"),
        ("domain: product", 'domain: ""', ":2:9: error: 'domain' must be a lowercase identifier"),
        (
            "strength:         {type: varchar}",
            'strength:         {type: ""}',
            ":28:32: error: unknown column type ''",
        ),
        (
            "[LAUNCH, GROWTH, MATURE]",
            "[LAUNCH, GROWTH, null]",
            ":33:49: error: accepted_values of varchar column 'lifecycle_stage' lists nothing (null): a null "
            "is never equal to anything",
        ),
        (
            "[LAUNCH, GROWTH, MATURE]",
            "[ON, OFF, Y, N]",
            ":33:49: error: accepted_values of varchar column 'lifecycle_stage' lists the boolean true: YAML "
            "reads yes/no, on/off and true/false as booleans",
        ),
        (
            "package_size:     {type: integer, tests: [{range: {min: 1}}]}",
            "package_size:     {type: integer, tests: [{accepted_values: [1, '2']}]}",
            ":29:49: error: accepted_values of integer column 'package_size' lists '2': not an integer",
        ),
    ],
)
def test_values_that_used_to_pass_silently_or_crash_are_located(
    project: Path, old: str, new: str, expected: str
) -> None:
    edit(project, PRODUCT, old, new)
    found = [p for p in problems(project) if p.startswith(PRODUCT)]
    assert len(found) == 1 and found[0].startswith(PRODUCT + expected), found


def test_a_zero_poke_interval_is_refused_not_replaced(project: Path) -> None:
    edit(project, MESH, "poke_interval: 1s", "poke_interval: 0s")
    assert problems(project) == [
        "dag_configs/mesh.yaml:30:18: error: 'poke_interval' must be at least 1s, not '0s'"
    ]


def test_a_unique_key_that_is_not_a_column_is_refused(project: Path) -> None:
    edit(
        project,
        "dag_configs/integrated/physician_dw.yaml",
        "unique_key: [physician_id, ndc, fill_month]",
        "unique_key: [physician_id, ndc, fill_day]",
    )
    (found,) = problems(project)
    assert found.startswith(
        "dag_configs/integrated/physician_dw.yaml:22:5: error: unique_key 'fill_day' of model "
        "'fact_prescriptions' is not a column of its port"
    )


def test_a_unique_key_that_a_models_sql_does_not_select_is_refused(project: Path) -> None:
    edit(
        project,
        "dag_configs/integrated/physician_dw.yaml",
        "{name: stg_rx_claims, sql: physician_dw/stg_rx_claims.sql}",
        "{name: stg_rx_claims, sql: physician_dw/stg_rx_claims.sql, materialized: incremental, "
        "unique_key: [nope]}",
    )
    (found,) = problems(project)
    assert found.startswith(
        "dag_configs/integrated/physician_dw.yaml:21:5: error: unique_key 'nope' of model 'stg_rx_claims' "
        "is not "
        "a column of what its SQL selects"
    )


def test_merge_keys_load_with_their_overrides(project: Path) -> None:
    edit(
        project,
        PRODUCT,
        "generic_name:     {type: varchar}",
        "generic_name:     &text {type: varchar, description: a text column}",
    )
    edit(
        project,
        PRODUCT,
        "manufacturer:     {type: varchar}",
        "manufacturer:     {<<: *text, description: who}",
    )

    loaded = load_project(project)

    assert loaded.diagnostics.errors == []
    column = loaded.domains["product"].outputs["product"].columns["manufacturer"]
    assert (column.type, column.description) == ("varchar", "who")


def test_a_utf8_byte_order_mark_is_not_part_of_a_config(project: Path) -> None:
    config = project / PRODUCT
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())
    assert problems(project) == []


DAGBAG = r"""
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
errors = {os.path.basename(k): v for k, v in bag.import_errors.items()}
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": errors}))
"""


@pytest.mark.e2e
def test_a_dagbag_of_a_project_with_a_broken_mesh_yaml_names_the_file_and_line(project: Path) -> None:
    edit(project, MESH, "mesh: pharma", "mesh: pharma\nmesh: again")
    done = subprocess.run(
        [sys.executable, "-c", DAGBAG, str(project / "dags")],
        env={**os.environ, "DAGMESH_PROJECT_DIR": str(project), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["dags"] == []
    assert sorted(result["errors"]) == sorted(p.name for p in (REPO / "dags" / "domains").glob("*.py"))
    for message in result["errors"].values():
        assert "dag_configs/mesh.yaml:4:1: error: duplicate key 'mesh' (first defined on line 3)" in message
        assert "AssertionError" not in message and "Traceback" not in message
