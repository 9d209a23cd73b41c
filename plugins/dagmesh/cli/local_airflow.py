"""A real local Airflow for a project: api-server, scheduler, DAG processor, triggerer.

LocalExecutor on SQLite, the project's ``dags/`` and ``plugins/``, the Simple auth
manager with one admin user, the ``dagmesh_duckdb`` pool, and, when the active
environment is a DuckDB file, the warehouse server that holds it open for the tasks
(:mod:`dagmesh.engines.duckdb_server`). ``dagmesh airflow`` (``make airflow``) runs it
for a person; the live end-to-end test drives it through the REST API v2.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagmesh.cli.airflow_env import airflow_environment
from dagmesh.config.environments import DUCKDB_POOL, DUCKDB_POOL_SLOTS
from dagmesh.engines import duckdb_server
from dagmesh.private_files import write_private

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: The component that serves the DuckDB warehouse to the tasks, and the module it runs.
WAREHOUSE_SERVER = "warehouse-server"
SERVER_MODULE = duckdb_server.__name__


class AirflowNotReady(Exception):
    pass


#: Ports the scheduler's and triggerer's log servers listen on.
_LOG_SERVER_PORTS = {8793, 8794}


def free_port() -> int:
    """A free local port for the api-server (never one of Airflow's log-server ports)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _LOG_SERVER_PORTS:
            return port


@dataclass
class LocalAirflow:
    project_root: Path
    home: Path
    port: int = 8080
    username: str = "admin"
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: The DuckDB file the warehouse server holds open while the components run.
    served: Path | None = None
    _token: str | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def password(self) -> str:
        return str(json.loads(self.passwords_file.read_text())[self.username])

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def components_file(self) -> Path:
        """The pids of the running components, so a second start finds a stale one."""
        return self.home / "components.json"

    def environment(self) -> dict[str, str]:
        secrets_file = self.home / "secrets.json"
        keys = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
        if len(keys.get("jwt", "")) < 64 or "api" not in keys:  # Airflow warns below 64 bytes
            keys = {"jwt": secrets.token_urlsafe(64), "api": secrets.token_urlsafe(32)}
            write_private(secrets_file, json.dumps(keys))
        return {
            **os.environ,
            **airflow_environment(self.project_root),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__HOST": "localhost",  # a development server: not reachable from elsewhere
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt"],
            "AIRFLOW__API__SECRET_KEY": keys["api"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs),
            # New DAG files show within seconds (default: 5 min). A changed config or SQL file
            # re-parses the DAGs it decides at once (`dagmesh airflow` touches their files, see
            # dag_watch); every file is re-parsed each minute only as a fallback (default: 30 s),
            # which keeps the DAG processor off the cores the tasks use.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            # A task whose upstream just finished starts sooner (default: 1 s between idle loops).
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            **self.extra_env,
        }

    def _airflow(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.environment(),
            cwd=self.home,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise AirflowNotReady(f"airflow {' '.join(args)} failed:\n{tail}")

    def setup(self) -> None:
        """Metadata DB, the DuckDB pool and the admin's password (kept across restarts)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        if not self.passwords_file.exists():
            write_private(self.passwords_file, json.dumps({self.username: secrets.token_urlsafe(12)}))
        self._airflow("db", "migrate")
        self._airflow(
            "pools",
            "set",
            DUCKDB_POOL,
            str(DUCKDB_POOL_SLOTS),
            "dagmesh DuckDB warehouse: tasks take turns on the file",
        )

    def stale_components(self) -> dict[str, int]:
        """Components an earlier start left running (its process was killed before it stopped them)."""
        if not self.components_file.exists():
            return {}
        try:
            recorded = {str(k): int(v) for k, v in json.loads(self.components_file.read_text()).items()}
        except (ValueError, TypeError, AttributeError):
            return {}
        return {component: pid for component, pid in recorded.items() if _is_component(pid)}

    def stop_stale(self) -> dict[str, int]:
        """Stop what :meth:`stale_components` finds; returns what it stopped."""
        stale = self.stale_components()
        for pid in stale.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while any(_is_component(pid) for pid in stale.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in stale.values():
            if _is_component(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        self.components_file.unlink(missing_ok=True)
        return stale

    def start(self) -> None:
        stale = self.stale_components()
        if stale:
            running = ", ".join(f"{name} (pid {pid})" for name, pid in stale.items())
            raise AirflowNotReady(
                f"an earlier local Airflow of this project is still running: {running}. "
                "Stop it with `dagmesh airflow --stop`, then start again"
            )
        if not port_is_free(self.port):
            raise AirflowNotReady(f"port {self.port} is in use; choose another with --port")
        env = self.environment()
        commands = {component: [sys.executable, "-m", "airflow", component] for component in COMPONENTS}
        commands["api-server"] += ["--port", str(self.port)]
        self.served = self.warehouse(env)
        if self.served is not None:  # first: it opens the file before any task runs
            commands = {WAREHOUSE_SERVER: [sys.executable, "-m", SERVER_MODULE, str(self.served)], **commands}
        for component, args in commands.items():
            log = (self.logs / f"{component}.log").open("ab")
            self.processes[component] = subprocess.Popen(
                args, env=env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.components_file.write_text(
            json.dumps({name: process.pid for name, process in self.processes.items()})
        )

    def warehouse(self, env: dict[str, str]) -> Path | None:
        """The DuckDB file of the environment the tasks will use (``None``: not DuckDB, or a
        mesh.yaml that does not load, which the DAGs report)."""
        from dagmesh.config.environments import ENV_VAR, UnknownEnvironment, environment
        from dagmesh.config.project import load_project
        from dagmesh.engines.duckdb import DuckDBEngine

        project = load_project(self.project_root)
        if project.mesh is None:
            return None
        try:
            env_of_tasks = environment(project.mesh, self.project_root, env.get(ENV_VAR))
        except UnknownEnvironment:
            return None
        if env_of_tasks.engine != "duckdb":
            return None
        return DuckDBEngine(self.project_root, project.mesh, env_of_tasks).path

    def wait_ready(self, timeout: float = 180) -> None:
        """Until the api-server answers and scheduler, DAG processor and triggerer heartbeat."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for component, process in self.processes.items():
                if process.poll() is not None:
                    raise AirflowNotReady(
                        f"{component} exited with {process.returncode}:\n{self.component_log(component)}"
                    )
            try:
                health = self.request("GET", "/api/v2/monitor/health", auth=False)
                statuses = {k: (v or {}).get("status") for k, v in health.items()}
                served = self.served is None or duckdb_server.answers(self.served)
                if all(s == "healthy" for s in statuses.values()) and "dag_processor" in health and served:
                    self.warm_execution_api()
                    return
                last = str(statuses) + ("" if served else ", the warehouse server not answering yet")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last = str(exc)
            time.sleep(2)
        raise AirflowNotReady(f"Airflow not healthy after {timeout:.0f}s ({last})")

    def warm_execution_api(self) -> None:
        """The api-server builds its task execution API on the first request to it, taking
        3-4 s during which it answers nothing else: made now, not by the first task."""
        self.request("GET", "/execution/health", auth=False)

    def token(self) -> str:
        if self._token is None:
            answer = self.request(
                "POST", "/auth/token", {"username": self.username, "password": self.password}, auth=False
            )
            self._token = str(answer["access_token"])
        return self._token

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        """One REST call; returns the decoded JSON (raises for HTTP errors, with the body)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise urllib.error.HTTPError(
                exc.url, exc.code, f"{exc.reason}: {exc.read().decode()[:500]}", exc.headers, None
            ) from exc
        return json.loads(text) if text else None

    def component_log(self, component: str, lines: int = 40) -> str:
        path = self.logs / f"{component}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """Stop every component (and the processes each started: they share its process group)."""
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            # The component's own children (task processes, gunicorn workers) end with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self.processes:
            self.components_file.unlink(missing_ok=True)
        self.processes.clear()


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _is_component(pid: int) -> bool:
    """Whether ``pid`` is a live component (not a recycled pid of something else)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True  # no /proc (macOS): alive is the best we know
    return b"airflow" in command or SERVER_MODULE.encode() in command
