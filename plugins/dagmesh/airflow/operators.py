"""Operators for the standard stages of a domain DAG.

Each operator is a thin shell: it builds the stage's context from the task's
context and calls one function of :mod:`dagmesh.stages`. Constructors only store
names, so DAG parsing stays as cheap as hand-written operators; the project config,
the engine and its driver are loaded when the task runs.

A :class:`~dagmesh.stages.context.StageFailure` (bad data, failed tests, missing
inputs) fails the task without retries; anything else (a lost connection) fails it
with the task's retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Asset, BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException

from dagmesh.stages.context import BuildContext, StageFailure


class MeshStageOperator(BaseOperator):
    """Base of every stage operator: knows its project and domain by name."""

    ui_color = "#e8f1fb"

    def __init__(self, *, project_dir: str, domain: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_dir = project_dir
        self.domain = domain

    def execute(self, context: Any) -> Any:
        from dagmesh.airflow.runtime import build_context

        try:
            ctx = build_context(self.project_dir, self.domain, context)
            return self.run_stage(ctx, context)
        except StageFailure as exc:
            raise AirflowFailException(str(exc)) from exc

    def run_stage(self, ctx: BuildContext, context: Any) -> Any:
        raise NotImplementedError


class CheckSourcesOperator(MeshStageOperator):
    """Declared raw sources exist, have rows and are fresh enough."""

    def __init__(self, *, opens_build: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.opens_build = opens_build

    def run_stage(self, ctx: BuildContext, context: Any) -> Any:
        from dagmesh.stages import check_inputs

        if self.opens_build:
            check_inputs.open_build(ctx)
        results = check_inputs.check_sources(ctx)
        for result in results:
            self.log.info("%s %s (observed %s)", result.status.upper(), result.check.test_id, result.observed)
        return {"build_id": ctx.build_id, "sources": len(ctx.domain.sources)}


class ResolveUpstreamsOperator(MeshStageOperator):
    """Upstream ports are certified and consistent; pins the builds this run reads."""

    def __init__(self, *, opens_build: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.opens_build = opens_build

    def run_stage(self, ctx: BuildContext, context: Any) -> Any:
        from dagmesh.stages import check_inputs

        if self.opens_build:
            check_inputs.open_build(ctx)
        try:
            inputs = check_inputs.resolve_upstreams(ctx)
        except check_inputs.InputsInconsistent as exc:
            with ctx.session("check_inputs") as session:
                raise ctx.fail(session, f"inconsistent inputs: {exc}") from exc
        for item in inputs:
            self.log.info(
                "reads %s from %s v%s (build %s)",
                item.port,
                item.upstream_domain,
                item.upstream_version,
                item.upstream_build_id,
            )
        return {i.port: {"build_id": i.upstream_build_id, "version": i.upstream_version} for i in inputs}


class PrepareBuildOperator(MeshStageOperator):
    """An empty build schema for this run."""

    def run_stage(self, ctx: BuildContext, context: Any) -> Any:
        from dagmesh.stages import build

        build.prepare(ctx)
        self.log.info("build schema %s ready", ctx.engine.build_schema(ctx.domain.name))


class BuildModelOperator(MeshStageOperator):
    """One SQL model into the domain's build schema."""

    def __init__(self, *, model: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model

    def run_stage(self, ctx: BuildContext, context: Any) -> Any:
        from dagmesh.stages import build

        rows = build.build_model(ctx, self.model)
        self.log.info("built %s: %s rows", self.model, rows)
        return rows


class PortChecksOperator(MeshStageOperator):
    """Every check of one output port, in one fused query."""

    def __init__(self, *, port: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.port = port

    def run_stage(self, ctx: BuildContext, context: Any) -> Any:
        from dagmesh.stages import test

        try:
            results = test.run_port_checks(ctx, self.port)
        except test.ChecksFailed as exc:
            _log_results(self, exc.failures)
            raise
        _log_results(self, results)
        return {
            "passed": sum(r.passed for r in results),
            "failed": sum(not r.passed for r in results),
        }


class CustomCheckOperator(MeshStageOperator):
    """One custom SQL test of the domain."""

    def __init__(self, *, test: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test

    def run_stage(self, ctx: BuildContext, context: Any) -> Any:
        from dagmesh.stages import test

        result = test.run_custom_test(ctx, self.test)
        _log_results(self, [result])
        return result.status


def _log_results(operator: BaseOperator, results: Sequence[Any]) -> None:
    for result in results:
        check = result.check
        line = f"{result.status.upper():4} {check.test_id}: observed {result.observed}, "
        line += f"expected {check.expect.describe()}"
        (operator.log.info if result.passed else operator.log.warning)(line)


class CertifyOperator(MeshStageOperator):
    """The gate: publish and emit the output ports' Asset events, or refuse.

    It runs whatever happened upstream (``all_done``) so that a failed build is
    recorded as not certified; it is the only task of a domain with Asset outlets.
    """

    ui_color = "#d7f5dd"

    def __init__(self, *, port_assets: dict[str, Asset], **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(outlets=list(port_assets.values()), **kwargs)
        self.port_assets = port_assets

    def run_stage(self, ctx: BuildContext, context: Any) -> Any:
        from dagmesh.stages import certify

        result = certify.certify(ctx)
        certification = result.certification
        consumed = {
            i.port: {"build_id": i.upstream_build_id, "version": i.upstream_version} for i in result.inputs
        }
        events = context["outlet_events"]
        for port, asset in self.port_assets.items():
            port_version, row_count = certification.ports[port]
            events[asset].extra = {
                "build_id": certification.build_id,
                "domain_version": certification.version,
                "port_version": port_version,
                "row_count": row_count,
                "consumed": consumed,
                "lineage": certification.lineage,
            }
        self.log.info(
            "certified %s v%s (build %s)%s",
            ctx.domain.name,
            certification.version,
            certification.build_id,
            "" if result.published_now else "; already published by an earlier try",
        )
        return {"version": certification.version, "build_id": certification.build_id}
