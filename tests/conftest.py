"""Shared test setup: a private Airflow for the whole session, and project copies.

Airflow reads its settings when first imported, so they are set here, before any test
module imports it: one metadata DB for the session (migrated once), DAGs from this
repository's ``dags/`` and ``DAGMESH_PROJECT_DIR`` choosing which project copy the
loader builds DAGs for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagmesh.cli.airflow_env import airflow_environment
from tests.helpers import REPO, copy_example, dagmesh

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="dagmesh-test-airflow-"))
# The CLI's private Airflow (subprocess runs) and this process share the session's DB.
os.environ["DAGMESH_AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ.update(airflow_environment(REPO))
os.environ["NO_COLOR"] = "1"
# Parsed DAG specs are kept outside projects (see dagmesh.airflow.dag_cache): here, per session.
os.environ["DAGMESH_DAG_CACHE"] = str(_AIRFLOW_HOME / "dag-cache")
os.environ.pop("DAGMESH_ENV", None)
os.environ.pop("DAGMESH_PROJECT_DIR", None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's Airflow metadata DB, migrated once."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return _AIRFLOW_HOME


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A private copy of the example project (no warehouse yet)."""
    return copy_example(tmp_path / "project")


@pytest.fixture
def project_env(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example copy, selected as the project the ``dags/`` loader builds."""
    monkeypatch.setenv("DAGMESH_PROJECT_DIR", str(project))
    return project


@pytest.fixture
def seeded(project: Path) -> Iterator[Path]:
    """The example copy with raw data at a small scale in its DuckDB warehouse."""
    done = dagmesh("seed", "--scale", "0.01", project=project)
    assert done.returncode == 0, done.stderr
    yield project
