"""certify: the gate. Publish atomically only when the build is complete and every
blocking test passed; record the certification with its lineage either way.

The gate reads its evidence from the registry, not from Airflow task states: every
model of the domain must have a recorded build and every planned check a recorded
passing result for *this* build. A missing result (a task that never ran) blocks
certification just like a failed one.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagmesh.engines.base import Session
from dagmesh.mesh.access import domain_access
from dagmesh.quality.checks import plan_tests, result_line
from dagmesh.registry.store import Certification, ResolvedInput
from dagmesh.stages.check_inputs import merged_lineage
from dagmesh.stages.context import BuildContext, StageFailure


class NotCertified(StageFailure):
    pass


@dataclass(frozen=True)
class CertifiedBuild:
    certification: Certification
    inputs: list[ResolvedInput]
    #: False when an earlier try of this task had already published the build.
    published_now: bool


def certify(ctx: BuildContext) -> CertifiedBuild:
    """Publish and record the build, or record why not and raise :class:`NotCertified`.

    The refusal reads as a verdict: why, one line per failed blocking check, how many
    passed, and which version consumers keep reading.
    """
    registry = ctx.registry
    with ctx.session("certify") as session:
        inputs = _inputs(ctx, session)
        access = domain_access(ctx.domain, ctx.graph)
        done = registry.certification(session, ctx.build_id)
        if done is not None:  # an earlier try certified; its grants may not have been applied
            ctx.engine.apply_grants(session, access)
            return CertifiedBuild(done, inputs, published_now=False)
        ctx.check_config_unchanged(session)
        reasons, details = _reasons_not_to_certify(ctx, session)
        if reasons:
            message = "; ".join(reasons)
            registry.finish_build(session, ctx.build_id, "failed", message)
            published = registry.latest_certification(session, ctx.domain.name)
            kept = (
                f"{ctx.domain.name} v{published.version} (build {published.build_id}) stays published; "
                "nothing was changed"
                if published
                else f"nothing has been published for {ctx.domain.name} yet"
            )
            raise NotCertified(f"{ctx.domain.name} is not certified: {message}", [*details, kept])
        rows = {r["model"]: int(r["row_count"]) for r in registry.model_runs(session, ctx.build_id)}
        ports = {name: (port.version, rows[name]) for name, port in ctx.domain.outputs.items()}
        already_published = ctx.engine.published_build_id(session, ctx.domain.name) == ctx.build_id
        with session.transaction():
            if not already_published:
                ctx.engine.publish(
                    session, ctx.domain.name, list(ctx.domain.outputs), ctx.domain.state_models
                )
            certification = registry.certify(
                session, ctx.build_id, ctx.domain.name, ctx.run_id, merged_lineage(inputs), ports
            )
        # A Snowflake swap moves grants with the schema: re-grant every port's reader.
        ctx.engine.apply_grants(session, access)
    return CertifiedBuild(certification, inputs, published_now=not already_published)


def _inputs(ctx: BuildContext, session: Session) -> list[ResolvedInput]:
    return [
        ResolvedInput(
            port=r["port"],
            upstream_domain=r["upstream_domain"],
            upstream_build_id=r["upstream_build_id"],
            upstream_version=int(r["upstream_version"]),
            port_version=int(r["port_version"]),
            lineage=_lineage(r["lineage"]),
            triggered_by_build_id=r["triggered_by_build_id"],
        )
        for r in ctx.registry.inputs(session, ctx.build_id)
    ]


def _lineage(text: str | None) -> dict[str, int]:
    import json

    return {k: int(v) for k, v in json.loads(text or "{}").items()}


def _reasons_not_to_certify(ctx: BuildContext, session: Session) -> tuple[list[str], list[str]]:
    """Why this build cannot be certified (empty when it can), and the lines that show it."""
    registry = ctx.registry
    build = registry.build(session, ctx.build_id)
    if build is None:
        return ["the build was never started (check_inputs did not run)"], []
    if build["state"] == "failed":
        return [build["message"] or "the build failed"], []
    reasons = []
    if ctx.domain.consumes and len(registry.inputs(session, ctx.build_id)) < len(ctx.domain.consumes):
        reasons.append("upstream inputs were not resolved (check_inputs did not complete)")
    built = {r["model"] for r in registry.model_runs(session, ctx.build_id)}
    missing_models = [m.name for m in ctx.domain.models if m.name not in built]
    if missing_models:
        reasons.append(f"the build did not complete (models not built: {', '.join(missing_models)})")
    results = {r["test_id"]: r for r in registry.results(session, ctx.build_id)}
    planned = plan_tests(ctx.domain, ctx.mesh.policy).all()
    not_run = [c.test_id for c in planned if c.test_id not in results]
    failed = [r for r in results.values() if r["status"] == "fail"]
    details = [registry_line(r) for r in failed]
    if failed:
        reasons.append(f"{len(failed)} blocking check(s) failed: {', '.join(r['test_id'] for r in failed)}")
    if not_run and not missing_models:
        shown = ", ".join(not_run[:5]) + (f" and {len(not_run) - 5} more" if len(not_run) > 5 else "")
        reasons.append(f"{len(not_run)} test(s) did not run: {shown}")
    passed = sum(r["status"] == "pass" for r in results.values())
    warned = [r for r in results.values() if r["status"] == "warn"]
    if results:
        details.append(
            f"{passed} other check(s) passed"
            + (f"; {len(warned)} warned: " + "; ".join(registry_line(r) for r in warned) if warned else "")
        )
    return reasons, details


def registry_line(row: dict[str, object]) -> str:
    """A check's outcome as read back from the registry, as its log line said it."""
    return result_line(
        str(row["test_id"]),
        str(row["observed"]),
        str(row["threshold"]),
        str(row["message"] or ""),
        contract=row["test"] == "schema_matches_contract",
        sample=str(row.get("sample") or ""),
    )
