"""A real Airflow api-server with the dagmesh plugin, over a registry the example mesh wrote.

The example runs once through the CLI (everything certifies), then physician runs again
on planted duplicate NPIs and fails its tests. The api-server's DB knows the six DAGs
(``airflow dags reserialize``); two users log in: ``admin`` reads every DAG, ``analyst``
only product, payer and payer_dw (an auth manager with per-DAG access, as FAB or
Keycloak give).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagmesh.cli.local_airflow import LocalAirflow, free_port
from tests.helpers import PLANT_DUPLICATE_NPIS, REPO, copy_example, dagmesh

WAREHOUSE = ".dagmesh/warehouse.duckdb"
PASSWORDS = {"admin": "admin-password", "analyst": "analyst-password"}
ANALYST_DAGS = ("product", "payer", "payer_dw")


@dataclass
class Served:
    project: Path
    airflow: LocalAirflow
    failed_build: str
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.airflow.url

    def get(
        self, path: str, user: str | None = "admin", base: str = "/dagmesh/api/v1"
    ) -> tuple[int, Any, dict[str, str]]:
        """``GET`` a dagmesh API path as ``user`` (None: without a token): status, body, headers
        (lower-case names)."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        request = urllib.request.Request(f"{self.url}{base}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read().decode()
                kind = response.headers.get("Content-Type", "")
                headers = {k.lower(): v for k, v in response.headers.items()}
                return response.status, json.loads(body) if "json" in kind else body, headers
        except urllib.error.HTTPError as exc:
            headers = {k.lower(): v for k, v in exc.headers.items()}
            return exc.code, json.loads(exc.read().decode() or "null"), headers


def token(url: str, user: str) -> str:
    body = json.dumps({"username": user, "password": PASSWORDS[user]}).encode()
    request = urllib.request.Request(
        f"{url}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["access_token"])


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("api")
    project = copy_example(root / "project")
    assert dagmesh("seed", "--scale", "0.01", project=project).returncode == 0
    first = dagmesh("run", project=project)
    assert first.returncode == 0, first.stdout + first.stderr
    with duckdb.connect(str(project / WAREHOUSE)) as con:
        con.execute(PLANT_DUPLICATE_NPIS)
    second = dagmesh("run", "physician", project=project)
    assert second.returncode == 1, second.stdout + second.stderr
    with duckdb.connect(str(project / WAREHOUSE), read_only=True) as con:
        found = con.execute(
            "SELECT build_id FROM mesh_meta.builds WHERE domain = 'physician' AND state = 'failed'"
        ).fetchall()
    assert len(found) == 1

    home = root / "airflow"
    home.mkdir()
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    airflow = LocalAirflow(
        project,
        home,
        port=free_port(),
        extra_env={
            "AIRFLOW__CORE__AUTH_MANAGER": "tests.support.auth_manager.PerDagAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,analyst:viewer",
            "DAGMESH_TEST_DAG_ACCESS": f"analyst={','.join(ANALYST_DAGS)}",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        },
    )
    airflow.setup()
    airflow._airflow("dags", "reserialize")
    log = (airflow.logs / "api-server.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--port", str(airflow.port)],
        env=airflow.environment(),
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, airflow.component_log("api-server")
            try:
                tokens = {user: token(airflow.url, user) for user in PASSWORDS}
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, airflow.component_log("api-server")
                time.sleep(1)
        yield Served(project, airflow, str(found[0][0]), tokens)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
