"""Airflow's real DAG processor on a project, and what it wrote to its metadata DB.

``airflow dag-processor -n 1`` parses every file of the project's ``dags/`` once, in
the DAG processor's own subprocesses, and records DAGs, DAG versions and import errors
exactly as a running Airflow does. Promises about DAG files (isolation, versions) are
checked against it, not against a DagBag (which keeps DAGs the processor deactivates).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ParsedDag:
    is_stale: bool
    has_import_errors: bool
    fileloc: str


class DagProcessor:
    """A private Airflow home whose DAG processor parses ``project``'s ``dags/``."""

    def __init__(self, project: Path, home: Path) -> None:
        self.project = project
        self.home = home
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            # Write every changed DAG at once (the default waits 30 s between updates of one DAG).
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
        }
        self.env.pop("DAGMESH_PROJECT_DIR", None)  # each DAG file finds its project itself
        home.mkdir(parents=True, exist_ok=True)
        self._airflow("db", "migrate")

    def _airflow(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def parse(self) -> None:
        """Parse every DAG file once, as the running DAG processor does every few seconds."""
        self._airflow("dag-processor", "--num-runs", "1")

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The DAG processor running until the block ends, as in a running Airflow."""
        with (self.home / "dag-processor.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow", "dag-processor"],
                env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def trigger(self, *dag_ids: str) -> None:
        """Create a queued run of each DAG (nothing runs it): the next change is a new DAG version."""
        for dag_id in dag_ids:
            self._airflow("dags", "trigger", dag_id)

    def _rows(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.home / "airflow.db") as con:
            return con.execute(sql).fetchall()

    def dags(self) -> dict[str, ParsedDag]:
        rows = self._rows("SELECT dag_id, is_stale, has_import_errors, relative_fileloc FROM dag")
        return {str(d): ParsedDag(bool(stale), bool(errors), str(f)) for d, stale, errors, f in rows}

    def last_parsed(self) -> dict[str, str]:
        """When the DAG processor last parsed each DAG's file."""
        return {str(d): str(t) for d, t in self._rows("SELECT dag_id, last_parsed_time FROM dag")}

    def active(self) -> list[str]:
        return sorted(d for d, parsed in self.dags().items() if not parsed.is_stale)

    def import_errors(self) -> dict[str, str]:
        return {str(f): str(t) for f, t in self._rows("SELECT filename, stacktrace FROM import_error")}

    def versions(self) -> dict[str, int]:
        rows = self._rows("SELECT dag_id, MAX(version_number) FROM dag_version GROUP BY dag_id")
        return {str(d): int(str(v)) for d, v in rows}

    def hashes(self) -> dict[str, str]:
        return {str(d): str(h) for d, h in self._rows("SELECT dag_id, dag_hash FROM serialized_dag")}

    def schedule_of(self, dag_id: str) -> str:
        (summary,) = self._rows(f"SELECT timetable_summary FROM dag WHERE dag_id = '{dag_id}'")[0]
        return str(summary)

    def asset_expression(self, dag_id: str) -> str:
        (expression,) = self._rows(f"SELECT asset_expression FROM dag WHERE dag_id = '{dag_id}'")[0]
        return str(expression)
