"""``make bench``: the live chain — trigger the mastered domains in a local Airflow (the
settings ``make airflow`` ships) until launch_analytics certified — against ``dagmesh run``
of the same mesh and data, with where the live time goes.

A fresh copy of the example, seeded at the given scale, in a real api-server, scheduler,
DAG processor and triggerer (:class:`dagmesh.cli.local_airflow.LocalAirflow`). The crons
are moved so that no scheduled tick falls inside the measurement (as the live test does).
Each measurement (the CLI's, and the chain's with each ``task_granularity``) starts from
its own copy of the seeded project, nothing built yet; the medians of ``RUNS`` are
reported, with the critical path of launch_analytics's certification.
Usage: ``python bench/live_bench.py [SCALE] [RUNS] [GRANULARITY,...]``.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run_bench import BYTECODE, dagmesh  # noqa: E402
from tests.airflow.test_live import DOMAINS, MASTERED, shift_schedules  # noqa: E402
from tests.helpers import copy_example  # noqa: E402

from dagmesh.cli.local_airflow import LocalAirflow, free_port  # noqa: E402
from dagmesh.config.project import load_project  # noqa: E402
from dagmesh.mesh.analysis import analyze  # noqa: E402

FINAL = "launch_analytics"
GRANULARITIES = ("model", "stage", "domain")
#: How often the bench asks for the runs' states (one request for every domain; the chain's
#: end is read from its last task, so this only has to be light, as the UI's refresh is).
POLL_SECONDS = 2.0


def upstream_domains(project: Path) -> dict[str, tuple[str, ...]]:
    """The domains each domain's first task waits for (through Assets or sensors)."""
    analysis = analyze(load_project(project))
    domains = analysis.project.domains
    return {
        name: tuple(dict.fromkeys(e.upstream for e in analysis.graph.edges_into(name))) for name in domains
    }


@dataclass
class Chain:
    """One trigger of the mastered domains until launch_analytics certified."""

    seconds: float
    #: (dag_id, task_id) -> the task instance of the chain's run, as the REST API returns it.
    tasks: dict[tuple[str, str], dict[str, Any]]
    #: (dag_id, task_id) -> its upstream task ids.
    upstream: dict[tuple[str, str], set[str]]
    #: dag_id -> the domains it consumes.
    domains: dict[str, tuple[str, ...]]
    triggered: datetime

    def critical_path(self) -> list[tuple[str, float, float]]:
        """What launch_analytics's certification waited for, from the trigger on: each task on
        the path, the seconds before it started (since what it waited for ended) and running."""
        path = []
        at: tuple[str, str] | None = (FINAL, gate(self.upstream, FINAL))
        while at is not None:
            ti = self.tasks[at]
            before = [self.tasks[(at[0], u)] for u in self.upstream[at] if (at[0], u) in self.tasks]
            if not before:  # a run's first task waited for its upstreams' gates
                before = [self.tasks[(u, gate(self.upstream, u))] for u in self.domains[at[0]]]
            previous = max(before, key=lambda t: _at(t["end_date"])) if before else None
            since = _at(previous["end_date"]) if previous else self.triggered
            # A sensor starts before what it waits for ends: its share is from then on.
            start, end = max(_at(ti["start_date"]), since), _at(ti["end_date"])
            waited, ran = (start - since).total_seconds(), (end - start).total_seconds()
            path.append((f"{ti['dag_id']}.{ti['task_id']}", waited, ran))
            at = (previous["dag_id"], previous["task_id"]) if previous else None
        return path[::-1]


def gate(upstream: dict[tuple[str, str], set[str]], dag_id: str) -> str:
    """A domain's gate: its one task nothing waits for (``certify.publish``, or ``stages.all``
    with ``task_granularity: domain``)."""
    tasks = {task for dag, task in upstream if dag == dag_id}
    waited_for = set().union(*(before for (dag, _), before in upstream.items() if dag == dag_id))
    (last,) = tasks - waited_for
    return last


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def chain(airflow: LocalAirflow, timeout: float = 1800) -> Chain:
    """The README's recipe: unpause every domain, trigger the mastered ones (as the UI does),
    until every domain's run succeeded (payer_dw runs its latest tick when unpaused). The
    chain is timed from the first trigger: unpausing is setting up."""
    for dag_id in DOMAINS:
        airflow.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    triggered = datetime.now().astimezone()
    started = time.monotonic()
    for dag_id in MASTERED:
        airflow.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
    while True:
        runs = _runs(airflow)
        failed = [d for d, found in runs.items() if any(r["state"] == "failed" for r in found)]
        if failed:
            raise SystemExit(f"runs failed: {failed}")
        if all(found and all(r["state"] == "success" for r in found) for found in runs.values()):
            break
        if time.monotonic() - started > timeout:
            raise SystemExit(f"the chain did not finish in {timeout:.0f}s: {runs}")
        time.sleep(POLL_SECONDS)
    tasks: dict[tuple[str, str], dict[str, Any]] = {}
    upstream: dict[tuple[str, str], set[str]] = {}
    for dag_id, (run,) in runs.items():
        for task in airflow.request("GET", f"/api/v2/dags/{dag_id}/tasks")["tasks"]:
            for downstream in task["downstream_task_ids"]:
                upstream.setdefault((dag_id, downstream), set()).add(task["task_id"])
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances?limit=100"
        for ti in airflow.request("GET", path)["task_instances"]:
            tasks[(dag_id, ti["task_id"])] = ti
            upstream.setdefault((dag_id, ti["task_id"]), set())
    end = _at(tasks[(FINAL, gate(upstream, FINAL))]["end_date"])
    return Chain(
        (end - triggered).total_seconds(), tasks, upstream, upstream_domains(airflow.project_root), triggered
    )


def _runs(airflow: LocalAirflow) -> dict[str, list[dict[str, Any]]]:
    """Every domain's runs, in one request: the chain's end is read from its last task's
    ``end_date``, so polling only has to be light (the api-server shares the two cores)."""
    body = {"dag_ids": list(DOMAINS), "page_limit": 100}
    found = airflow.request("POST", "/api/v2/dags/~/dagRuns/list", body)["dag_runs"]
    return {d: [r for r in found if r["dag_id"] == d] for d in DOMAINS}


def live_chain(project: Path, home: Path) -> Chain:
    """The chain in a new local Airflow (a new metadata database) on ``project``."""
    airflow = LocalAirflow(project, home, port=free_port())
    try:
        airflow.setup()
        airflow.start()
        airflow.wait_ready()
        deadline = time.monotonic() + 300
        while airflow.request("GET", "/api/v2/dags?tags=mesh&limit=100")["total_entries"] < len(DOMAINS):
            if time.monotonic() > deadline:
                raise SystemExit("the DAG processor did not list every domain in 300s")
            time.sleep(1)
        return chain(airflow)
    finally:
        airflow.stop()


def granularity(project: Path, value: str) -> None:
    """Set the mesh's ``defaults.task_granularity`` (every domain of the example inherits it)."""
    mesh = project / "dag_configs" / "mesh.yaml"
    text = re.sub(r"\n  task_granularity: \w+", "", mesh.read_text())
    mesh.write_text(
        text.replace("\n  timezone: UTC\n", f"\n  timezone: UTC\n  task_granularity: {value}\n", 1)
    )


def main(scale: str, runs: int, granularities: tuple[str, ...] = GRANULARITIES) -> None:
    # The CLI and every Airflow component (and so every task process) inherit this.
    if BYTECODE:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    work = Path(tempfile.mkdtemp(prefix="dagmesh-live-bench-"))
    chains: dict[str, Chain] = {}
    every: dict[str, list[float]] = {}
    try:
        seeded = copy_example(work / "seeded")
        shift_schedules(seeded)
        dagmesh(seeded, "seed", "--scale", scale)
        copies = itertools.count()

        def fresh() -> Path:
            """A copy of the seeded project: nothing built, nothing certified yet (each
            measurement starts there: a cron consumer's sensors would otherwise count the
            certifications of an earlier measurement in the same period)."""
            project = work / f"project-{next(copies)}"
            shutil.copytree(seeded, project)
            return project

        dagmesh(fresh(), "run")  # warm-up
        cli_runs = [dagmesh(fresh(), "run") for _ in range(runs)]
        cli = statistics.median(cli_runs)
        for value in granularities:
            measured = []
            for _ in range(runs):
                project = fresh()
                granularity(project, value)
                measured.append(live_chain(project, project / ".airflow"))
            chains[value] = sorted(measured, key=lambda c: c.seconds)[len(measured) // 2]
            every[value] = [c.seconds for c in measured]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cached = "on" if BYTECODE else "off"
    print(
        f"\n(example mesh, 6 domains, seed scale {scale}; bytecode caching {cached}; "
        f"medians of {runs}; `dagmesh run`: {cli:.1f} s, every run "
        f"{' / '.join(f'{s:.1f}' for s in cli_runs)})"
    )
    print(
        "| task_granularity | live chain | vs dagmesh run | every run "
        "| critical path: tasks | running | waiting |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for value, typical in chains.items():
        path = typical.critical_path()
        waiting, running = sum(w for _, w, _ in path), sum(r for _, _, r in path)
        print(
            f"| {value} | {typical.seconds:.1f} s | {typical.seconds / cli:.2f}x "
            f"| {' / '.join(f'{s:.1f}' for s in every[value])} | {len(path)} "
            f"| {running:.1f} s | {waiting:.1f} s |"
        )
    for value, typical in chains.items():
        print(f"\ncritical path with task_granularity {value} (seconds waiting to start, running):")
        for task, waited, ran in typical.critical_path():
            print(f"  {task:<48} {waited:6.1f} {ran:6.1f}")


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "1",
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
        tuple(sys.argv[3].split(",")) if len(sys.argv) > 3 else GRANULARITIES,
    )
