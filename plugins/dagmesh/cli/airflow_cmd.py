"""``dagmesh airflow``: a local Airflow with this mesh, for a person (``make airflow``).

Ctrl-C, SIGTERM and SIGHUP (a closed terminal) stop every component. A start that finds
components of an earlier start still running (its process was killed) says so and
stops; ``--stop`` stops them.
"""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

from dagmesh.airflow.dag_watch import DagWatch
from dagmesh.cli.airflow_env import airflow_home
from dagmesh.cli.common import CliError, Style, Terminated, open_project, require_dag_files
from dagmesh.cli.local_airflow import AirflowNotReady, LocalAirflow


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "airflow",
        parents=[shared],
        help="start a local Airflow (UI, scheduler, DAG processor, triggerer) with this mesh",
        description="Run Airflow's api-server, scheduler, DAG processor and triggerer (LocalExecutor, "
        "SQLite) on this project until Ctrl-C, with a warehouse server that holds a DuckDB "
        "warehouse open for the tasks. State lives in .dagmesh/airflow.",
    )
    parser.add_argument("--port", type=int, default=8080, help="UI and API port (default 8080)")
    parser.add_argument(
        "--stop", action="store_true", help="stop a local Airflow an earlier start left running, and exit"
    )


def run(args: argparse.Namespace) -> int:
    project, analysis = open_project(args.project)
    style = Style()
    local = LocalAirflow(project.root, airflow_home(project.root), port=args.port)
    if args.stop:
        stopped = local.stop_stale()
        print(
            f"stopped {', '.join(f'{n} (pid {p})' for n, p in stopped.items())}"
            if stopped
            else "no local Airflow of this project is running"
        )
        return 0
    assert project.mesh is not None
    require_dag_files(project)
    print(f"starting Airflow for mesh {project.mesh.name} in {project.relative(local.home)}")
    signal.signal(signal.SIGHUP, _hang_up)
    watch = DagWatch(project.root)  # a changed config or SQL file is re-parsed at once
    try:
        local.setup()
        local.start()
        local.wait_ready()
        broken = sorted(analysis.broken())
        print(style.good(f"\nAirflow is running at {local.url}"))
        print(f"  user:     {local.username}\n  password: {local.password}")
        print(f"  DAGs:     {len(analysis.buildable())} domains (paused until you unpause them in the UI)")
        if broken:
            print(style.warn(f"  not loaded (config errors, see DAG Import Errors): {', '.join(broken)}"))
        print(f"  logs:     {project.relative(local.logs)}\nPress Ctrl-C to stop.")
        while True:
            watch.look()
            for component, process in local.processes.items():
                if process.poll() is not None:
                    print(style.bad(f"{component} stopped:\n{local.component_log(component)}"))
                    return 1
            time.sleep(1)
    except AirflowNotReady as exc:
        raise CliError(str(exc), code=1) from exc
    except KeyboardInterrupt as exc:
        print("\nstopping Airflow", flush=True)
        if isinstance(exc, Terminated):
            raise
        return 0
    finally:
        local.stop()


def _hang_up(signum: int, frame: object) -> None:
    raise Terminated()
