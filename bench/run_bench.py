"""``make bench``: ``dagmesh run`` (stages in-process) against ``dagmesh run --airflow``
(each domain through Airflow's ``dag.test()``) on the example mesh.

Both run a fresh copy of the example seeded at the same scale, as a user runs them: the
installed command in a new process, bytecode caching on (``BENCH_BYTECODE=0``: off).
Each is run once to warm up, then timed; the median is reported, with the time of the
SQL itself (the sum of the models' build times the registry recorded) for scale.
Usage: ``python bench/run_bench.py [SCALE] [RUNS]``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.helpers import copy_example  # noqa: E402  (the example as a user's copy has it)

BYTECODE = os.environ.get("BENCH_BYTECODE", "1") != "0"


def command_seconds(command: list[str], cwd: Path, **env: str) -> float:
    """Seconds ``command`` took in ``cwd`` (bytecode caching as ``BENCH_BYTECODE`` says, ``env``
    added); stops the bench when it fails."""
    env = {**os.environ, **env}
    if BYTECODE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        name = " ".join([Path(command[0]).name, *command[1:]])
        raise SystemExit(f"{name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds


def dagmesh(project: Path, *args: str) -> float:
    """Seconds the installed command took; stops the bench when it fails."""
    dagmesh_command = [str(REPO / ".venv" / "bin" / "dagmesh"), *args]
    return command_seconds(dagmesh_command, project, DAGMESH_AIRFLOW_HOME=str(project / ".airflow"))


def timed(project: Path, runs: int, *args: str) -> float:
    dagmesh(project, "run", *args)  # warm-up: bytecode, and Airflow's database for --airflow
    return statistics.median(dagmesh(project, "run", *args) for _ in range(runs))


def sql_seconds(project: Path) -> float:
    """The models' build time of the latest build of every domain, summed (the SQL's share)."""
    with duckdb.connect(str(project / ".dagmesh" / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT SUM(seconds) FROM mesh_meta.model_runs WHERE build_id IN ("
            " SELECT arg_max(build_id, started_at) FROM mesh_meta.builds GROUP BY domain)"
        ).fetchone()
    return float(row[0] or 0.0) if row else 0.0


def main(scale: str, runs: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="dagmesh-run-bench-"))
    try:
        project = copy_example(work / "example")
        dagmesh(project, "seed", "--scale", scale)
        direct = timed(project, runs)
        direct_sql = sql_seconds(project)
        one_thread = timed(project, runs, "--threads", "1")
        through_airflow = timed(project, runs, "--airflow")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cached = "on" if BYTECODE else "off"
    print(
        f"\n(example mesh, 6 domains, seed scale {scale}; bytecode caching {cached}; median of {runs} runs)"
    )
    print("| dagmesh run | dagmesh run --threads 1 | dagmesh run --airflow | speed-up | SQL (model builds) |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {direct:.1f} s | {one_thread:.1f} s | {through_airflow:.1f} s | {through_airflow / direct:.1f}x "
        f"| {direct_sql:.1f} s |"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "1", int(sys.argv[2]) if len(sys.argv) > 2 else 3)
