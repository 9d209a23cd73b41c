"""The example mesh on Snowflake (emulated), through the CLI, equals the DuckDB run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, dagmesh
from tests.support.fake_snowflake import CONNECTION, add_environment

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]


def on_snowflake(project: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``dagmesh ARGS`` with the emulated Snowflake account (real hook and connector)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.run_on_emulated_snowflake",
            str(state),
            "--project",
            str(project),
            *args,
        ],
        cwd=REPO,
        env={**os.environ, "AIRFLOW_CONN_SNOWFLAKE_FAKE": CONNECTION},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def published(status_json: str) -> dict[str, dict[str, int]]:
    return {
        d["name"]: {p: v["row_count"] for p, v in d["published"]["ports"].items()}
        for d in json.loads(status_json)
    }


def test_the_example_mesh_certifies_on_snowflake_with_the_same_row_counts_as_on_duckdb(
    project: Path, tmp_path: Path
) -> None:
    add_environment(project)
    state = tmp_path / "snowflake"

    assert dagmesh("seed", "--scale", "0.01", project=project).returncode == 0
    duckdb_run = dagmesh("run", project=project)
    assert duckdb_run.returncode == 0, duckdb_run.stdout
    seeded = on_snowflake(project, state, "seed", "--scale", "0.01", "--env", "fake")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert (
        "seeding Snowflake database MESH (environment 'fake', connection 'snowflake_fake')" in seeded.stdout
    )

    snowflake_run = on_snowflake(project, state, "run", "--env", "fake")

    assert snowflake_run.returncode == 0, snowflake_run.stdout + snowflake_run.stderr
    assert snowflake_run.stdout.strip().splitlines()[-1] == "6/6 domains certified"
    on_duckdb = published(dagmesh("status", "--json", project=project).stdout)
    on_snowflake_status = on_snowflake(project, state, "status", "--json", "--env", "fake")
    assert on_snowflake_status.returncode == 0, on_snowflake_status.stderr
    assert published(on_snowflake_status.stdout) == on_duckdb
    assert sum(rows for ports in on_duckdb.values() for rows in ports.values()) > 10_000


def test_a_mesh_named_with_sql_keywords_certifies_on_duckdb_and_on_snowflake(tmp_path: Path) -> None:
    # Domains `order` and `group`, ports `select` and `from`, columns `table`, `group`, `from`.
    project = shutil.copytree(REPO / "tests" / "fixtures" / "keywords", tmp_path / "keywords")
    add_environment(project)
    state = tmp_path / "snowflake"
    assert dagmesh("dags", project=project).returncode == 0

    assert dagmesh("seed", project=project).returncode == 0
    duckdb_run = dagmesh("run", project=project)
    seeded = on_snowflake(project, state, "seed", "--env", "fake")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    snowflake_run = on_snowflake(project, state, "run", "--env", "fake")
    again = on_snowflake(project, state, "run", "--env", "fake")  # incremental `from` merges by "group"

    for run in (duckdb_run, snowflake_run, again):
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stdout.strip().splitlines()[-1] == "2/2 domains certified"
    on_duckdb = published(dagmesh("status", "--json", project=project).stdout)
    assert on_duckdb == {"order": {"select": 3}, "group": {"from": 2}}
    on_snowflake_status = on_snowflake(project, state, "status", "--json", "--env", "fake")
    assert published(on_snowflake_status.stdout) == on_duckdb


def test_running_on_an_environment_with_a_bad_connection_stops_with_one_message(
    project: Path, tmp_path: Path
) -> None:
    add_environment(project, "typo", conn_id="snowflake_tpyo")
    done = on_snowflake(project, tmp_path / "snowflake", "run", "--env", "typo")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "dagmesh run: error: environment 'typo' uses the Airflow connection 'snowflake_tpyo', which does not "
        "exist; create it (airflow connections add snowflake_tpyo --conn-type snowflake ...) or set "
        "AIRFLOW_CONN_SNOWFLAKE_TPYO"
    )
