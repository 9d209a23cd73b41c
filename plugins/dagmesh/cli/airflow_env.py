"""A private Airflow for local runs: its home, metadata DB and output capture.

``dagmesh run`` runs domains through Airflow's own ``dag.test()``, which needs a
metadata DB and reads the DAGs from the configured dags folder. The CLI keeps that
Airflow under ``.dagmesh/airflow`` of the project (``DAGMESH_AIRFLOW_HOME``
overrides), so local runs never touch another Airflow's database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from dagmesh.cli.common import CliError

HOME_VAR = "DAGMESH_AIRFLOW_HOME"


def airflow_home(project_root: Path) -> Path:
    return Path(os.environ.get(HOME_VAR) or project_root / ".dagmesh" / "airflow")


def airflow_environment(project_root: Path) -> dict[str, str]:
    """Settings for an Airflow that sees this project's DAGs and plugins."""
    home = airflow_home(project_root)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project_root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(project_root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    }


def prepare_airflow(project_root: Path) -> Path:
    """Point this process at the project's private Airflow; create its DB once.

    Must run before ``airflow`` is imported: Airflow reads its settings at import.
    """
    if "airflow.settings" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(
        airflow_home(project_root)
    ):
        raise CliError("Airflow was imported before the local Airflow was set up", code=1)
    env = airflow_environment(project_root)
    os.environ.update(env)
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "airflow.db").exists():
        migrate(project_root)
    return home


def migrate(project_root: Path) -> None:
    """``airflow db migrate`` for the private Airflow (a few seconds, once)."""
    env = {**os.environ, **airflow_environment(project_root)}
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise CliError(f"could not create the local Airflow database:\n{tail}", code=1)


@contextmanager
def output_to(log_path: Path) -> Iterator[TextIO]:
    """Send everything written to stdout/stderr (Airflow's task logs) to ``log_path``.

    Yields a stream that still reaches the terminal, for progress lines.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()
