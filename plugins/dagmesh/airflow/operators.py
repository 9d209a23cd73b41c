"""Operators for the standard stages of a domain DAG.

Each operator is a thin shell: it builds the stage's context from the task's
context and calls one function of :mod:`dagmesh.stages`. Constructors only store
names, so DAG parsing stays as cheap as hand-written operators; the project config,
the engine and its driver are loaded when the task runs.

A :class:`~dagmesh.stages.context.StageFailure` (failed tests, stale sources, an
upstream not certified, a config that changed under the run) or a warehouse that is
misconfigured (unknown connection, missing role) is an expected outcome: the task
logs it as a verdict and fails without a traceback and without retries (see
:mod:`dagmesh.airflow.verdict`). Anything else (a lost connection, a bug) fails with
its traceback and the task's retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator, TriggerRule

from dagmesh.airflow.sensors import RUN_TIME
from dagmesh.airflow.triggers import WaitTrigger
from dagmesh.airflow.verdict import VERDICT_POLICY, Verdict

if TYPE_CHECKING:  # the stages (and the SQL and warehouse code below them) load when a task runs
    from dagmesh.stages.certify import CertifiedBuild
    from dagmesh.stages.context import BuildContext
    from dagmesh.stages.dag_spec import TaskSpec


class MeshStageOperator(BaseOperator):
    """Base of every stage operator: knows its project and domain by name."""

    ui_color = "#e8f1fb"

    def __init__(self, *, project_dir: str, domain: str, **kwargs: Any) -> None:
        kwargs.setdefault("retry_policy", VERDICT_POLICY)
        super().__init__(**kwargs)
        self.project_dir = project_dir
        self.domain = domain

    def execute(self, context: Any) -> Any:
        return self._run(context)

    def _run(self, context: Any, **resumed: Any) -> Any:
        from dagmesh.airflow.runtime import build_context
        from dagmesh.engines.base import WarehouseConfigError
        from dagmesh.stages.context import StageFailure

        try:
            ctx = build_context(self.project_dir, self.domain, context)
            return self.run_stage(ctx, context, **resumed)
        except StageFailure as exc:
            verdict = Verdict(str(exc), exc.details)
        except WarehouseConfigError as exc:
            verdict = Verdict(str(exc))
        verdict.log_to(self.log)
        raise verdict

    def run_stage(self, ctx: BuildContext, context: Any, **resumed: Any) -> Any:
        raise NotImplementedError


class CheckSourcesOperator(MeshStageOperator):
    """Declared raw sources exist, have rows and are fresh enough."""

    def __init__(self, *, opens_build: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.opens_build = opens_build

    def run_stage(self, ctx: BuildContext, context: Any, **resumed: Any) -> Any:
        from dagmesh.stages import check_inputs

        if self.opens_build:
            check_inputs.open_build(ctx)
        results = check_inputs.check_sources(ctx)
        for result in results:
            self.log.info("%s", check_inputs.source_line(result))
        return {"build_id": ctx.build_id, "sources": len(ctx.domain.sources)}


class DeferringOperator(MeshStageOperator):
    """An operator whose upstream check defers while the inputs are inconsistent."""

    def resolve(
        self, ctx: BuildContext, context: Any, opens_build: bool, waiting_since: datetime | None
    ) -> Any:
        """Upstream ports are certified and consistent: the inputs this run reads.

        When two inputs were built from different versions of a shared ancestor, the task
        defers (holding no worker or pool slot) and checks again every
        ``consistency.poll_interval``, until the lagging input re-certifies or
        ``consistency.max_wait`` has passed; then it fails naming the ancestor and versions.
        """
        from dagmesh.clock import utcnow
        from dagmesh.stages import check_inputs

        if opens_build and waiting_since is None:
            check_inputs.open_build(ctx)
        triggered = triggering_builds(ctx.mesh.name, context)
        try:
            inputs = check_inputs.resolve_upstreams(ctx, triggered)
        except check_inputs.InputsInconsistent as exc:
            since = waiting_since or utcnow()
            check_inputs.keep_waiting(ctx, exc, since)
            self.defer(
                trigger=WaitTrigger(since.isoformat(), ctx.mesh.consistency.poll_interval.total_seconds()),
                method_name="check_again",
            )
        for item in inputs:
            self.log.info("%s", check_inputs.reading(item))
        return inputs

    def check_again(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resumed by :class:`WaitTrigger`: resolve the inputs again."""
        since = datetime.fromisoformat(event["waiting_since"]) if event else None
        return self._run(context, waiting_since=since)


class ResolveUpstreamsOperator(DeferringOperator):
    """Upstream ports are certified and consistent; pins the builds this run reads
    (see :meth:`DeferringOperator.resolve`)."""

    def __init__(self, *, opens_build: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.opens_build = opens_build

    def run_stage(self, ctx: BuildContext, context: Any, **resumed: Any) -> Any:
        inputs = self.resolve(ctx, context, self.opens_build, resumed.get("waiting_since"))
        return {i.port: {"build_id": i.upstream_build_id, "version": i.upstream_version} for i in inputs}


class StageOperator(DeferringOperator):
    """Steps of the plan in one task, in plan order: a stage's (``task_granularity: stage``)
    or every step of a build, the gate last (``task_granularity: domain``).

    Each step calls the stage function its own operator would; a step whose upstream step
    failed is skipped, and the task fails (as a verdict) once every step had its turn, so
    the registry holds what each step found. With the gate among its steps the task has
    the output ports' Asset outlets; the gate runs whatever happened before it, and its
    refusal is the task's verdict. A crash fails the task at once, with its traceback and
    retries (on the last try the gate first records the build as not certified). The
    upstream check defers as :class:`ResolveUpstreamsOperator` does; resumed, the task goes
    on from that step.
    """

    def __init__(
        self, *, steps: list[TaskSpec], port_assets: dict[str, Asset] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(outlets=list((port_assets or {}).values()), **kwargs)
        self.steps = steps
        self.port_assets = port_assets or {}

    def run_stage(self, ctx: BuildContext, context: Any, **resumed: Any) -> Any:
        import threading

        from dagmesh.engines.base import WarehouseConfigError
        from dagmesh.stages.context import StageFailure
        from dagmesh.stages.local import run_step
        from dagmesh.stages.tasks import stage_task

        steps = [stage_task(step) for step in self.steps]
        waiting_since: datetime | None = resumed.get("waiting_since")
        if waiting_since is not None:  # the steps before the upstream check succeeded before it deferred
            steps = steps[[step.kind for step in steps].index("upstreams") :]
        never = threading.Event()
        succeeded: dict[str, bool] = {}
        failed: list[str] = []  # what failed, and its details
        for step in steps:
            if not step.runs_whatever_happened and not all(succeeded.get(u, True) for u in step.upstream):
                succeeded[step.task_id] = False
                self.log.warning("%s: skipped (a step it needs failed)", step.task_id)
                continue
            self.log.info("%s", step.task_id)
            succeeded[step.task_id] = True
            try:
                if step.kind == "upstreams":
                    self.resolve(ctx, context, step.opens_build, waiting_since)
                elif step.kind == "certify":  # the last step: its verdict is the task's
                    return announce_certified(self, certify_build(ctx), ctx, context)
                else:
                    for ok, line in run_step(ctx, step, never):
                        (self.log.info if ok else self.log.warning)("%s", line)
            except (StageFailure, WarehouseConfigError) as exc:
                if step.kind == "certify":  # the gate's refusal says what failed before it
                    raise
                succeeded[step.task_id] = False
                failed += [f"{step.task_id}: {exc}", *getattr(exc, "details", [])]
                self.log.warning("%s failed: %s", step.task_id, exc)
            except Exception:
                last_try = context["ti"].try_number > self.retries
                if self.port_assets and step.kind != "certify" and last_try:
                    self._record_not_certified(ctx)
                raise
        if failed:
            count = sum(1 for ok in succeeded.values() if not ok)
            raise StageFailure(
                f"{count} of {len(steps)} steps of {self.task_id} failed or were skipped", failed
            )
        return {"steps": len(steps)}

    def _record_not_certified(self, ctx: BuildContext) -> None:
        """The gate's record of a build a crash ended on the task's last try (what the gate
        task, running whatever happened, records with finer task granularities)."""
        from dagmesh.stages.context import StageFailure

        try:
            certify_build(ctx)
        except StageFailure as exc:
            self.log.warning("%s", exc)


def triggering_builds(mesh: str, context: Any) -> dict[str, Any]:
    """``domain.port`` -> the build named by the latest Asset event that triggered this run."""
    from dagmesh.stages.check_inputs import TriggeringBuild

    events = context.get("triggering_asset_events") or {}
    found: dict[str, TriggeringBuild] = {}
    prefix = f"mesh://{mesh}/"
    for asset in events:
        uri = getattr(asset, "uri", "") or ""
        if not uri.startswith(prefix) or not events[asset]:
            continue
        latest = max(events[asset], key=lambda e: e.timestamp)
        extra = latest.extra or {}
        if "build_id" in extra and "domain_version" in extra:
            domain, _, port = uri[len(prefix) :].partition("/")
            found[f"{domain}.{port}"] = TriggeringBuild(str(extra["build_id"]), int(extra["domain_version"]))
    return found


class PrepareBuildOperator(MeshStageOperator):
    """An empty build schema for this run."""

    def run_stage(self, ctx: BuildContext, context: Any, **resumed: Any) -> Any:
        from dagmesh.stages import build

        build.prepare(ctx)
        self.log.info("build schema %s ready", ctx.engine.build_schema(ctx.domain.name))


class BuildModelOperator(MeshStageOperator):
    """One SQL model into the domain's build schema."""

    def __init__(self, *, model: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model

    def run_stage(self, ctx: BuildContext, context: Any, **resumed: Any) -> Any:
        from dagmesh.stages import build

        rows = build.build_model(ctx, self.model)
        self.log.info("built %s: %s rows", self.model, rows)
        return rows


class PortChecksOperator(MeshStageOperator):
    """Every check of one output port (or of a model with column tests), in one fused query;
    ``certify`` judges the results."""

    def __init__(self, *, port: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.port = port

    def run_stage(self, ctx: BuildContext, context: Any, **resumed: Any) -> Any:
        from dagmesh.stages import test

        return _report(self, test.run_port_checks(ctx, self.port))


class CustomCheckOperator(MeshStageOperator):
    """One custom SQL test of the domain; ``certify`` judges the result."""

    def __init__(self, *, test: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test

    def run_stage(self, ctx: BuildContext, context: Any, **resumed: Any) -> Any:
        from dagmesh.stages import test

        return _report(self, test.run_custom_test(ctx, self.test))


def _report(operator: BaseOperator, summary: Any) -> dict[str, int]:
    """Log one line per check (failures as warnings), then what the results mean."""
    for ok, line in summary.log_lines():
        (operator.log.info if ok else operator.log.warning)("%s", line)
    return summary.counts()


class CertifyOperator(MeshStageOperator):
    """The gate: publish and emit the output ports' Asset events, or refuse.

    It runs whatever happened upstream (``all_done``) so that a failed build is
    recorded as not certified; it is the only task of a domain with Asset outlets
    (with ``task_granularity: domain`` the gate is the last step of the one
    :class:`StageOperator`, which then has them).
    """

    ui_color = "#d7f5dd"

    def __init__(self, *, port_assets: dict[str, Asset], **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(outlets=list(port_assets.values()), **kwargs)
        self.port_assets = port_assets

    def run_stage(self, ctx: BuildContext, context: Any, **resumed: Any) -> Any:
        return announce_certified(self, certify_build(ctx), ctx, context)


def certify_build(ctx: BuildContext) -> CertifiedBuild:
    """The gate on ``ctx``'s build: publish it, or raise the StageFailure that says why not."""
    from dagmesh.stages import certify

    return certify.certify(ctx)


def announce_certified(
    operator: CertifyOperator | StageOperator, result: CertifiedBuild, ctx: BuildContext, context: Any
) -> dict[str, Any]:
    """Give each output port's Asset event of ``operator`` (the task that certifies) what
    consumers read from it, and log the certification."""
    certification = result.certification
    consumed = {
        i.port: {"build_id": i.upstream_build_id, "version": i.upstream_version} for i in result.inputs
    }
    dag_run = context["dag_run"]
    events = context["outlet_events"]
    for port, asset in operator.port_assets.items():
        port_version, row_count = certification.ports[port]
        events[asset].extra = {
            "build_id": certification.build_id,
            "domain_version": certification.version,
            "port_version": port_version,
            "row_count": row_count,
            "consumed": consumed,
            "lineage": certification.lineage,
            # The period this certification is for: what cron consumers' sensors align on.
            RUN_TIME: (dag_run.logical_date or dag_run.run_after).isoformat(),
            "config_version": ctx.config_version,
        }
    operator.log.info(
        "certified %s v%s (build %s)%s",
        ctx.domain.name,
        certification.version,
        certification.build_id,
        "" if result.published_now else "; already published by an earlier try",
    )
    return {"version": certification.version, "build_id": certification.build_id}
