"""One domain's build run in this process, task by task, as its Airflow DAG runs it.

The tasks and their order come from :mod:`dagmesh.stages.tasks`, the plan the DAG is
built from; each task calls the same stage function its operator calls, so the
registry records, the gate and the published data are those of an Airflow run. What
differs is only what Airflow itself adds: a task here is a function call (no task
process, no API round trips), a failed task is not retried, and an input that is
inconsistent is polled in place instead of deferring to the triggerer.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from dagmesh.clock import utcnow
from dagmesh.config.model import Domain
from dagmesh.config.project import Project
from dagmesh.engines.base import Engine, WarehouseConfigError
from dagmesh.mesh.graph import MeshGraph
from dagmesh.stages import build, certify, check_inputs, test
from dagmesh.stages.context import BuildContext, StageFailure
from dagmesh.stages.tasks import StageTask

State = Literal["success", "failed", "upstream_failed"]
#: A line a task logged, and whether it reads as fine (False: a failure or a warning).
LogLine = tuple[bool, str]


@dataclass
class TaskDone:
    task: StageTask
    state: State
    seconds: float = 0.0
    #: What the task logged: checks measured, rows built, inputs read.
    lines: list[LogLine] = field(default_factory=list)
    #: The first line of why the task failed.
    error: str = ""
    #: For a failure that is not a verdict (a bug, a lost connection): the traceback.
    trace: str = ""


class Listener(Protocol):
    def started(self, task: StageTask) -> None: ...

    def finished(self, done: TaskDone) -> None: ...


class Stopped(Exception):
    """The run was asked to stop (SIGTERM) before the build finished."""


def local_context(
    project: Project, graph: MeshGraph, domain: Domain, engine: Engine, full_refresh: bool, now: datetime
) -> BuildContext:
    """The context of a manual run of ``domain`` started at ``now`` (its run id is Airflow's form)."""
    assert project.mesh is not None
    return BuildContext(
        project=project,
        mesh=project.mesh,
        graph=graph,
        domain=domain,
        engine=engine,
        dag_id=domain.name,
        run_id=f"manual__{now.isoformat()}",
        logical_date=now,
        full_refresh=full_refresh,
    )


def run_build(
    ctx: BuildContext, tasks: Sequence[StageTask], listener: Listener, stop: threading.Event
) -> dict[str, TaskDone]:
    """Run every task whose upstream tasks succeeded (and the gate in any case), in order."""
    done: dict[str, TaskDone] = {}
    try:
        for task in tasks:
            if stop.is_set():
                raise Stopped()
            ready = all(done[u].state == "success" for u in task.upstream)
            if not ready and not task.runs_whatever_happened:
                done[task.task_id] = TaskDone(task, "upstream_failed")
                continue
            listener.started(task)
            done[task.task_id] = _run_task(ctx, task, stop)
            listener.finished(done[task.task_id])
    except Stopped:
        _abandon(ctx)
        raise
    return done


def _run_task(ctx: BuildContext, task: StageTask, stop: threading.Event) -> TaskDone:
    started = time.monotonic()
    try:
        lines = run_step(ctx, task, stop)
        return TaskDone(task, "success", time.monotonic() - started, lines)
    except (StageFailure, WarehouseConfigError) as exc:  # a verdict: the data or the config said no
        details = getattr(exc, "details", [])
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return TaskDone(task, "failed", time.monotonic() - started, [(False, d) for d in details], error)
    except Stopped:
        raise
    except Exception as exc:  # a crash: fail this task with its traceback, the gate still runs
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        return TaskDone(task, "failed", time.monotonic() - started, [], error, traceback.format_exc())


def _abandon(ctx: BuildContext) -> None:
    """Close the record of a build this run stopped (if it was opened), so it never shows running."""
    with ctx.session("certify") as session:
        if ctx.registry.build(session, ctx.build_id) is not None:
            message = "abandoned: dagmesh run was stopped before the build finished"
            ctx.registry.finish_build(session, ctx.build_id, "abandoned", message)


def _sources(ctx: BuildContext, task: StageTask, stop: threading.Event) -> list[LogLine]:
    if task.opens_build:
        check_inputs.open_build(ctx)
    results = check_inputs.check_sources(ctx)
    return [(True, check_inputs.source_line(r)) for r in results]


def _upstreams(ctx: BuildContext, task: StageTask, stop: threading.Event) -> list[LogLine]:
    if task.opens_build:
        check_inputs.open_build(ctx)
    since: datetime | None = None
    while True:
        try:
            inputs = check_inputs.resolve_upstreams(ctx)
            return [(True, check_inputs.reading(item)) for item in inputs]
        except check_inputs.InputsInconsistent as exc:
            since = since or utcnow()
            check_inputs.keep_waiting(ctx, exc, since)
            if stop.wait(ctx.mesh.consistency.poll_interval.total_seconds()):
                raise Stopped() from exc


def _prepare(ctx: BuildContext, task: StageTask, stop: threading.Event) -> list[LogLine]:
    build.prepare(ctx)
    return [(True, f"build schema {ctx.engine.build_schema(ctx.domain.name)} ready")]


def _model(ctx: BuildContext, task: StageTask, stop: threading.Event) -> list[LogLine]:
    rows = build.build_model(ctx, task.name)
    return [(True, f"built {task.name}: {rows} rows")]


def _checks(ctx: BuildContext, task: StageTask, stop: threading.Event) -> list[LogLine]:
    return test.run_port_checks(ctx, task.name).log_lines()


def _custom(ctx: BuildContext, task: StageTask, stop: threading.Event) -> list[LogLine]:
    return test.run_custom_test(ctx, task.name).log_lines()


def _certify(ctx: BuildContext, task: StageTask, stop: threading.Event) -> list[LogLine]:
    result = certify.certify(ctx)
    certification = result.certification
    return [(True, f"certified {ctx.domain.name} v{certification.version} (build {certification.build_id})")]


def run_step(ctx: BuildContext, task: StageTask, stop: threading.Event) -> list[LogLine]:
    """Run one task of the plan (not a ``stage`` task: its steps); what it logged."""
    return _STAGES[task.kind](ctx, task, stop)


_STAGES: dict[str, Callable[[BuildContext, StageTask, threading.Event], list[LogLine]]] = {
    "sources": _sources,
    "upstreams": _upstreams,
    "prepare": _prepare,
    "model": _model,
    "checks": _checks,
    "custom": _custom,
    "certify": _certify,
}
