"""``dagmesh run``: run domains locally, in dependency order, through ``dag.test()``.

Each domain runs as its real Airflow DAG in a private local Airflow (see
:mod:`dagmesh.cli.airflow_env`). Sensors are marked successful instead of waiting:
the run itself orders the domains. A domain whose upstream (in this run) did not
certify is not run and is reported as blocked.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import pluggy

from dagmesh import progress
from dagmesh.cli.airflow_env import output_to, prepare_airflow
from dagmesh.cli.common import (
    CliError,
    Style,
    check_terminated,
    open_project,
    require_dag_files,
    select_domains,
    stop_on_sigterm,
    table,
    target_environment,
)
from dagmesh.cli.locks import domain_lock
from dagmesh.config.environments import ENV_VAR
from dagmesh.engines import Engine, engine_for
from dagmesh.engines.base import WarehouseError
from dagmesh.mesh.analysis import MeshAnalysis
from dagmesh.registry.store import Registry
from dagmesh.stages.certify import registry_line
from dagmesh.stages.context import build_id_for

#: Airflow's listener marker (pluggy's, so importing this module does not import Airflow).
hookimpl = pluggy.HookimplMarker("airflow")

#: Sensors only order runs in a live Airflow; a local run orders domains itself.
SENSOR_TASKS = r"wait_for_upstream\..+"


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "run",
        parents=[shared],
        help="run the mesh (or some domains) locally through Airflow's dag.test()",
        description="Run domains in dependency order as their real Airflow DAGs, then summarize.",
    )
    parser.add_argument("domains", nargs="*", metavar="DOMAIN", help="domains to run (default: all)")
    parser.add_argument("--env", help="environment to run against (default: the active one)")
    parser.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")


@dataclass
class Outcome:
    domain: str
    layer: str
    result: str  # certified | failed | blocked
    seconds: float = 0.0
    version: int | None = None
    #: For a domain that did not certify: the version consumers still read.
    published_version: int | None = None
    rows: int = 0
    passed: int = 0
    failed: int = 0
    warned: int = 0
    message: str = ""
    #: Every check that failed or warned, as its log line says it (with a sample).
    issues: list[str] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    project, analysis = open_project(args.project)
    selected = select_domains(analysis, args.domains)
    env = target_environment(project, args.env)
    assert project.mesh is not None
    os.environ[ENV_VAR] = env.name
    engine = engine_for(project.root, project.mesh, env)
    style = Style()
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    log_path = project.root / ".dagmesh" / "logs" / f"run-{stamp}.log"
    print(
        style.bold(
            f"dagmesh run: {len(selected)} domain(s) of mesh {project.mesh.name} on {engine.describe()}"
        )
    )
    print(style.dim(f"Airflow task logs: {project.relative(log_path)}"))
    require_dag_files(project)
    prepare_airflow(project.root)
    with progress.listening(lambda message: print(f"      {style.warn('…')} {message}", flush=True)):
        try:  # one clear message before anything runs (Snowflake: the connection and role)
            engine.check_connection()
        except WarehouseError as exc:
            raise CliError(str(exc).splitlines()[0], code=1) from exc
        outcomes = _run_in_order(analysis, selected, env.name, engine, log_path, style, args.full_refresh)
    print()
    print(summary(outcomes, style))
    certified = sum(o.result == "certified" for o in outcomes)
    print(style.bold(f"{certified}/{len(outcomes)} domains certified"))
    return 0 if certified == len(outcomes) else 1


def _run_in_order(
    analysis: MeshAnalysis,
    selected: list[str],
    environment: str,
    engine: Engine,
    log_path: Path,
    style: Style,
    full_refresh: bool,
) -> list[Outcome]:
    """Each selected domain in turn; a domain whose upstream did not certify here is blocked."""
    from dagmesh.airflow.factory import build_dags

    project = analysis.project
    dags = build_dags(analysis, environment)
    outcomes: dict[str, Outcome] = {}
    broken = analysis.broken()
    for index, name in enumerate(selected, start=1):
        layer = project.domains[name].layer if name in project.domains else "?"
        print(f"\n[{index}/{len(selected)}] {style.bold(name)} ({layer})", flush=True)
        done = {u: o.result for u, o in outcomes.items()}
        blockers = [u for u in analysis.graph.upstream(name) if done.get(u, "certified") != "certified"]
        if name in broken or name not in dags:
            problems = broken.get(name, [])
            message = "config errors: " + "; ".join(str(p) for p in problems[:3]) if problems else "no DAG"
            outcomes[name] = Outcome(name, layer, "failed", message=message)
            print(f"      {style.bad('not run')}: {message}")
        elif blockers:
            message = f"blocked: {', '.join(blockers)} did not certify"
            outcomes[name] = Outcome(name, layer, "blocked", message=message)
            print(f"      {style.warn(message)}")
        else:
            with domain_lock(project.root, environment, name):
                outcomes[name] = _run_domain(dags[name], layer, engine, log_path, style, full_refresh)
        check_terminated()
    return list(outcomes.values())


def _run_domain(
    dag: Any, layer: str, engine: Engine, log_path: Path, style: Style, full_refresh: bool
) -> Outcome:
    from airflow.sdk.listener import get_listener_manager

    for task in dag.tasks:
        task.retries = 0  # a local run fails fast; the log has the full story
    started = time.monotonic()
    listener = _Progress(style)
    error = ""
    run = None
    with output_to(log_path) as terminal:
        listener.out = terminal
        # Loading the listener manager loads plugins, which logs: keep it in the log file.
        manager = get_listener_manager()
        manager.add_listener(listener)
        try:
            with progress.listening(listener.waiting):  # stdout is the log file in here
                run = dag.test(run_conf={"full_refresh": full_refresh}, mark_success_pattern=SENSOR_TASKS)
        except Exception as exc:  # Airflow itself failed: report it, keep running other domains
            error = f"{type(exc).__name__}: {exc}"
        finally:
            manager.pm.unregister(listener)
            stop_on_sigterm()
    seconds = time.monotonic() - started
    outcome = Outcome(dag.dag_id, layer, "failed", seconds=seconds, message=error or listener.first_error)
    if run is not None:
        _read_registry(outcome, engine, build_id_for(dag.dag_id, run.run_id))
    if outcome.result == "certified":
        line = style.good(f"certified v{outcome.version}")
    else:
        kept = (
            f"v{outcome.published_version} stays published"
            if outcome.published_version
            else "nothing published"
        )
        line = style.bad("NOT certified") + f" ({kept}): {outcome.message}"
    print(f"      {line}  ({outcome.passed} tests passed, {outcome.failed} failed, {seconds:.1f}s)")
    return outcome


def _read_registry(outcome: Outcome, engine: Engine, build_id: str) -> None:
    registry = Registry(engine)
    try:
        with engine.session() as session:
            build = registry.build(session, build_id)
            certification = registry.certification(session, build_id)
            counts = registry.result_counts(session, build_id)
            published = registry.latest_certification(session, outcome.domain)
            results = registry.results(session, build_id)
    except WarehouseError as exc:
        outcome.message = outcome.message or f"cannot read the registry: {exc}"
        return
    outcome.passed, outcome.failed, outcome.warned = counts["pass"], counts["fail"], counts["warn"]
    outcome.issues = [f"{r['status'].upper():4} {registry_line(r)}" for r in results if r["status"] != "pass"]
    if certification is not None:
        outcome.result = "certified"
        outcome.version = certification.version
        outcome.rows = sum(rows for _, rows in certification.ports.values())
        outcome.message = ""
    else:
        outcome.published_version = published.version if published else None
        if build is not None and build["message"]:
            outcome.message = build["message"]


class _Progress:
    """An Airflow listener printing one line per finished task."""

    def __init__(self, style: Style) -> None:
        self.style = style
        self.out: TextIO | None = None
        self.started: dict[str, float] = {}
        self.first_error = ""

    def _print(self, line: str) -> None:
        if self.out is not None:
            self.out.write(line + "\n")

    def waiting(self, message: str) -> None:
        self._print(f"      {self.style.warn('…')} {message}")

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        # Airflow's task runner has just installed its own SIGTERM handler, which would
        # ignore a SIGTERM meant for this command: take it back.
        stop_on_sigterm()
        self.started[task_instance.task_id] = time.monotonic()

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        took = time.monotonic() - self.started.get(task_instance.task_id, time.monotonic())
        self._print(f"      {self.style.good('✓')} {task_instance.task_id:<40} {took:5.1f}s")

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        message = str(error).strip().splitlines()[0] if error else "failed"
        if not self.first_error:
            self.first_error = f"{task_instance.task_id}: {message}"
        self._print(f"      {self.style.bad('✗')} {task_instance.task_id:<40} {message[:200]}")


def summary(outcomes: list[Outcome], style: Style) -> str:
    rows = []
    for o in outcomes:
        rows.append(
            [
                o.domain,
                o.layer,
                style.state(o.result),
                f"v{o.version}" if o.version else "-",
                f"{o.rows:,}" if o.rows else "-",
                f"{o.passed}/{o.passed + o.failed + o.warned}" if (o.passed or o.failed) else "-",
                f"{o.seconds:.1f}s" if o.seconds else "-",
            ]
        )
    lines = [table(["DOMAIN", "LAYER", "RESULT", "VERSION", "ROWS PUBLISHED", "TESTS PASSED", "TIME"], rows)]
    for o in outcomes:
        if o.issues:
            said = [f"{o.failed} failed" if o.failed else "", f"{o.warned} warned" if o.warned else ""]
            lines.append(f"\n{o.domain}: {', '.join(w for w in said if w)}")
            lines += [f"  {style.bad(i) if i.startswith('FAIL') else style.warn(i)}" for i in o.issues]
    return "\n".join(lines)
