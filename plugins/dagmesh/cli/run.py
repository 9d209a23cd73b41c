"""``dagmesh run``: run domains locally, in dependency order, then summarize.

By default each domain's build runs in this process: the tasks of its DAG's plan
(:mod:`dagmesh.stages.tasks`) call their stages directly (:mod:`dagmesh.stages.local`),
and domains that do not depend on each other build at the same time (``--threads``).
``--airflow`` runs each domain as its real Airflow DAG through ``dag.test()`` in a
private local Airflow instead (see :mod:`dagmesh.cli.airflow_env`), one at a time.
Either way the registry records, the gate and the exit code are the same; sensors are
not run (the run itself orders the domains), and a domain whose upstream (in this run)
did not certify is not run and is reported as blocked.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pluggy

from dagmesh import progress
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
from dagmesh.stages.domain_dag import dag_spec
from dagmesh.stages.local import TaskDone, local_context, run_build
from dagmesh.stages.tasks import StageTask, domain_tasks

#: Airflow's listener marker (pluggy's, so importing this module does not import Airflow).
hookimpl = pluggy.HookimplMarker("airflow")

#: Sensors only order runs in a live Airflow; a local run orders domains itself.
SENSOR_TASKS = r"wait_for_upstream\..+"

#: Domains built at the same time by default (each is mostly waiting on its warehouse).
DEFAULT_THREADS = 4


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "run",
        parents=[shared],
        help="run the mesh (or some domains) locally",
        description="Build, test and certify domains in dependency order in this process, then summarize.",
    )
    parser.add_argument("domains", nargs="*", metavar="DOMAIN", help="domains to run (default: all)")
    parser.add_argument("--env", help="environment to run against (default: the active one)")
    parser.add_argument("--full-refresh", action="store_true", help="rebuild incremental models from scratch")
    parser.add_argument(
        "--threads",
        type=_positive,
        default=DEFAULT_THREADS,
        metavar="N",
        help="domains built at the same time when they do not depend on each other "
        f"(default: {DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--airflow",
        action="store_true",
        help="run each domain as its Airflow DAG through dag.test(), one at a time (slower; Airflow's own "
        "task runner, listeners and logs)",
    )


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


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


#: Runs one domain's build; given its name and layer, says how it went.
DomainRunner = Callable[[str, str], Outcome]


def run(args: argparse.Namespace) -> int:
    project, analysis = open_project(args.project)
    selected = select_domains(analysis, args.domains)
    env = target_environment(project, args.env)
    assert project.mesh is not None
    os.environ[ENV_VAR] = env.name
    engine = engine_for(project.root, project.mesh, env)
    console = Console(Style())
    style = console.style
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    log_path = project.root / ".dagmesh" / "logs" / f"run-{stamp}.log"
    how = "through Airflow's dag.test()" if args.airflow else f"up to {args.threads} at a time"
    what = f"{len(selected)} domain(s) of mesh {project.mesh.name} on {engine.describe()}"
    print(style.bold(f"dagmesh run: {what}, {how}"))
    print(style.dim(f"Task logs: {project.relative(log_path)}"))
    if args.airflow:
        require_dag_files(project)
        from dagmesh.cli.airflow_env import prepare_airflow

        prepare_airflow(project.root)
    with progress.listening(console.waiting):
        try:  # one clear message before anything runs (Snowflake: the connection and role)
            engine.check_connection()
        except WarehouseError as exc:
            raise CliError(str(exc).splitlines()[0], code=1) from exc
        if args.airflow:
            runner: DomainRunner = _AirflowRunner(
                analysis, env.name, engine, log_path, console, args.full_refresh
            )
            outcomes = _in_order(analysis, selected, env.name, runner, console, threads=1)
        else:
            with _DirectRunner(analysis, engine, log_path, console, args.full_refresh) as direct:
                outcomes = _in_order(analysis, selected, env.name, direct, console, threads=args.threads)
    print()
    print(summary(outcomes, style))
    certified = sum(o.result == "certified" for o in outcomes)
    print(style.bold(f"{certified}/{len(outcomes)} domains certified"))
    return 0 if certified == len(outcomes) else 1


def _in_order(
    analysis: MeshAnalysis,
    selected: list[str],
    environment: str,
    runner: DomainRunner,
    console: Console,
    threads: int,
) -> list[Outcome]:
    """Every selected domain once its upstreams in this run are done; up to ``threads`` at a time.

    A domain whose upstream did not certify here is blocked; one whose config is broken is
    not run. With one thread the domains run in this (the main) thread, as dag.test() needs.
    """
    project = analysis.project
    broken = analysis.broken()
    outcomes: dict[str, Outcome] = {}
    waiting = list(selected)  # in dependency order
    started = 0

    def locked(name: str, layer: str) -> Outcome:
        with domain_lock(project.root, environment, name), console.about(name):
            return runner(name, layer)

    builds = _Builds(locked) if threads > 1 else None
    try:
        while waiting or (builds is not None and builds.running):
            for name in list(waiting):
                upstreams = [u for u in analysis.graph.upstream(name) if u in selected]
                if any(u not in outcomes for u in upstreams):
                    continue
                if builds is not None and len(builds.running) >= threads:
                    break
                waiting.remove(name)
                started += 1
                layer = project.domains[name].layer if name in project.domains else "?"
                console.line(f"[{started}/{len(selected)}] {console.style.bold(name)} ({layer})")
                blockers = [u for u in upstreams if outcomes[u].result != "certified"]
                if name in broken or name not in project.domains:
                    problems = broken.get(name, [])
                    message = (
                        "config errors: " + "; ".join(str(p) for p in problems[:3]) if problems else "no DAG"
                    )
                    outcomes[name] = Outcome(name, layer, "failed", message=message)
                    console.line(f"      {console.style.bad('not run')}: {message}")
                elif blockers:
                    message = f"blocked: {', '.join(blockers)} did not certify"
                    outcomes[name] = Outcome(name, layer, "blocked", message=message)
                    console.line(f"      {console.style.warn(message)}")
                elif builds is None:
                    outcomes[name] = locked(name, layer)
                    check_terminated()
                else:
                    builds.start(name, layer)
            if builds is not None and builds.running:
                name, outcome = builds.next_done()
                outcomes[name] = outcome
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (Terminated)
        console.stop.set()  # builds stop at their next task (each records itself abandoned)
        if builds is not None:
            builds.wait_a_little()
        raise
    return [outcomes[name] for name in selected]


class _Builds:
    """Domain builds running in their own (daemon) threads; a stopped run does not wait for a
    build stuck in a long wait (a lock): the next run marks that build abandoned."""

    #: How long a stopped run gives its builds to reach the end of their current task.
    GRACE_SECONDS = 10.0

    def __init__(self, build: Callable[[str, str], Outcome]) -> None:
        self.build = build
        self.running: set[str] = set()
        self.done: queue.Queue[tuple[str, Outcome | BaseException]] = queue.Queue()

    def start(self, name: str, layer: str) -> None:
        def work() -> None:
            try:
                self.done.put((name, self.build(name, layer)))
            except BaseException as exc:  # handed to the main thread, which raises it
                self.done.put((name, exc))

        self.running.add(name)
        threading.Thread(target=work, name=f"dagmesh-run-{name}", daemon=True).start()

    def next_done(self) -> tuple[str, Outcome]:
        name, outcome = self.done.get()
        self.running.discard(name)
        if isinstance(outcome, BaseException):
            raise outcome
        return name, outcome

    def wait_a_little(self) -> None:
        deadline = time.monotonic() + self.GRACE_SECONDS
        while self.running and time.monotonic() < deadline:
            try:
                name, _ = self.done.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            self.running.discard(name)


class Console:
    """What ``dagmesh run`` prints while it runs: one line per task, the verdict of each domain.

    Domains may run at the same time, so every line names its domain; a wait reported by a
    stage or an engine is printed under the domain of the thread that reported it.
    """

    def __init__(self, style: Style) -> None:
        self.style = style
        self.out: TextIO | None = None  # the terminal, while stdout is a log file (--airflow)
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._domain = threading.local()

    @contextmanager
    def about(self, domain: str) -> Iterator[None]:
        self._domain.name = domain
        try:
            yield
        finally:
            self._domain.name = None

    def line(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)

    def waiting(self, message: str) -> None:
        domain = getattr(self._domain, "name", None)
        self.line(f"      {self.style.warn('…')} {domain + ': ' if domain else ''}{message}")

    def task(self, domain: str, task_id: str, ok: bool, seconds: float, error: str = "") -> None:
        label = f"{domain}: {task_id}"
        if ok:
            self.line(f"      {self.style.good('✓')} {label:<48} {seconds:5.1f}s")
        else:
            self.line(f"      {self.style.bad('✗')} {label:<48} {error[:200]}")

    def verdict(self, outcome: Outcome) -> None:
        if outcome.result == "certified":
            line = self.style.good(f"certified v{outcome.version}")
        else:
            kept = (
                f"v{outcome.published_version} stays published"
                if outcome.published_version
                else "nothing published"
            )
            line = self.style.bad("NOT certified") + f" ({kept}): {outcome.message}"
        self.line(
            f"      {outcome.domain}: {line}  ({outcome.passed} tests passed, {outcome.failed} failed, "
            f"{outcome.seconds:.1f}s)"
        )


class _DirectRunner:
    """Builds a domain in this process, with the stages its DAG's tasks call."""

    def __init__(
        self, analysis: MeshAnalysis, engine: Engine, log_path: Path, console: Console, full_refresh: bool
    ) -> None:
        self.analysis = analysis
        self.engine = engine
        self.console = console
        self.full_refresh = full_refresh
        self.log_path = log_path

    def __enter__(self) -> _DirectRunner:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = self.log_path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        # What the stages and engines log (waits, retries) goes to the log file as well.
        self._handler = logging.StreamHandler(self.log)
        self._handler.setFormatter(
            logging.Formatter("[%(asctime)s] %(threadName)s %(levelname)s %(message)s")
        )
        logging.getLogger("dagmesh").addHandler(self._handler)
        # Domains build at the same time: create or upgrade the registry once, first.
        with self.engine.session() as session:
            Registry(self.engine).ensure(session)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("dagmesh").removeHandler(self._handler)
        self.log.close()

    def write(self, domain: str, task_id: str, text: str) -> None:
        with self._lock:
            self.log.write(f"[{datetime.now(UTC):%Y-%m-%d %H:%M:%S}] {domain} {task_id}: {text}\n")

    def __call__(self, name: str, layer: str) -> Outcome:
        analysis = self.analysis
        project = analysis.project
        domain = project.domains[name]
        started = time.monotonic()
        ctx = local_context(
            project, analysis.graph, domain, self.engine, self.full_refresh, datetime.now(UTC)
        )
        tasks = domain_tasks(domain, analysis.model_order[name], analysis.model_refs[name])
        listener = _TaskPrinter(self, name)
        with self.engine.held():  # one build's tasks share the warehouse connection
            run_build(ctx, tasks, listener, self.console.stop)
        outcome = Outcome(
            name, layer, "failed", seconds=time.monotonic() - started, message=listener.first_error
        )
        _read_registry(outcome, self.engine, ctx.build_id)
        self.console.verdict(outcome)
        return outcome


class _TaskPrinter:
    """Prints each finished task of one domain and writes what it logged to the log file."""

    def __init__(self, runner: _DirectRunner, domain: str) -> None:
        self.runner = runner
        self.domain = domain
        self.first_error = ""

    def started(self, task: StageTask) -> None:
        self.runner.write(self.domain, task.task_id, "started")

    def finished(self, done: TaskDone) -> None:
        task_id = done.task.task_id
        for ok, text in done.lines:
            self.runner.write(self.domain, task_id, ("" if ok else "WARNING ") + text)
        if done.trace:
            self.runner.write(self.domain, task_id, done.trace)
        ok = done.state == "success"
        if not ok:
            self.runner.write(self.domain, task_id, f"FAILED: {done.error}")
            if not self.first_error:
                self.first_error = f"{task_id}: {done.error}"
        self.runner.console.task(self.domain, task_id, ok, done.seconds, done.error)


class _AirflowRunner:
    """Runs a domain as its Airflow DAG through ``dag.test()`` (in the main thread)."""

    def __init__(
        self,
        analysis: MeshAnalysis,
        environment: str,
        engine: Engine,
        log_path: Path,
        console: Console,
        full_refresh: bool,
    ) -> None:
        from dagmesh.airflow.factory import build_dag

        root = str(analysis.project.root)
        self.dags = {
            name: build_dag(dag_spec(analysis, name, environment), root) for name in analysis.buildable()
        }
        self.engine = engine
        self.log_path = log_path
        self.console = console
        self.full_refresh = full_refresh

    def __call__(self, name: str, layer: str) -> Outcome:
        from airflow.sdk.listener import get_listener_manager

        from dagmesh.cli.airflow_env import output_to

        dag = self.dags[name]
        for task in dag.tasks:
            task.retries = 0  # a local run fails fast; the log has the full story
        started = time.monotonic()
        listener = _AirflowProgress(self.console)
        error = ""
        run = None
        with output_to(self.log_path) as terminal:
            self.console.out = terminal
            # Loading the listener manager loads plugins, which logs: keep it in the log file.
            manager = get_listener_manager()
            manager.add_listener(listener)
            try:
                run = dag.test(
                    run_conf={"full_refresh": self.full_refresh}, mark_success_pattern=SENSOR_TASKS
                )
            except Exception as exc:  # Airflow itself failed: report it, keep running other domains
                error = f"{type(exc).__name__}: {exc}"
            finally:
                manager.pm.unregister(listener)
                stop_on_sigterm()
                self.console.out = None
        seconds = time.monotonic() - started
        outcome = Outcome(dag.dag_id, layer, "failed", seconds=seconds, message=error or listener.first_error)
        if run is not None:
            _read_registry(outcome, self.engine, build_id_for(dag.dag_id, run.run_id))
        self.console.verdict(outcome)
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


class _AirflowProgress:
    """An Airflow listener printing one line per finished task."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started: dict[str, float] = {}
        self.first_error = ""

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        # Airflow's task runner has just installed its own SIGTERM handler, which would
        # ignore a SIGTERM meant for this command: take it back.
        stop_on_sigterm()
        self.started[task_instance.task_id] = time.monotonic()

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        took = time.monotonic() - self.started.get(task_instance.task_id, time.monotonic())
        self.console.task(task_instance.dag_id, task_instance.task_id, True, took)

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        message = str(error).strip().splitlines()[0] if error else "failed"
        if not self.first_error:
            self.first_error = f"{task_instance.task_id}: {message}"
        self.console.task(task_instance.dag_id, task_instance.task_id, False, 0.0, message)


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
