"""test: the standard pack, column, port and custom SQL tests, on the build schema.

All checks of one output port run as one fused query. Every result, passing or not,
is recorded with its observed value and threshold. The test stage measures; it does
not judge: a failed check is a result, and ``certify`` (the gate) refuses to publish
a build with a failed blocking check. So one failing test fails one task, the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dagmesh.quality.checks import CheckResult, custom_check, evaluate, plan_tests
from dagmesh.quality.fused import read_results
from dagmesh.sql import statements as sql
from dagmesh.sql.references import ConditionError
from dagmesh.stages.compile import DomainRelations, RefusedSql, compile_query
from dagmesh.stages.context import BuildContext, StageFailure


@dataclass(frozen=True)
class CheckSummary:
    """What a test task found, in the words its log uses."""

    results: Sequence[CheckResult]

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocks]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "warn"]

    def conclusion(self) -> str:
        failed, warned = len(self.blocking_failures), len(self.warnings)
        passed = sum(r.passed for r in self.results)
        counts = f"{passed} of {len(self.results)} check(s) passed" + (f", {warned} warned" if warned else "")
        if failed:
            return f"{counts}, {failed} blocking check(s) failed: certify will not publish this build"
        return counts


def run_port_checks(ctx: BuildContext, port_name: str) -> CheckSummary:
    """Run every check of one output port in a single query on its built table."""
    checks = plan_tests(ctx.domain, ctx.mesh.policy).by_port.get(port_name)
    if checks is None:
        raise StageFailure(f"domain {ctx.domain.name} has no output port '{port_name}'")
    engine = ctx.engine
    relation = engine.table(engine.build_schema(ctx.domain.name), port_name)
    results: list[CheckResult] = []
    measures = [c.measure for c in checks if c.measure is not None]
    with ctx.session("test") as session:
        ctx.check_config_unchanged(session)
        if measures:
            try:
                query = sql.check_query(relation, measures, engine.columns_listing(relation))
            except ConditionError as exc:
                raise StageFailure(
                    f"an expression test of port {ctx.domain.name}.{port_name} is refused: {exc}"
                ) from exc
            row = session.query(query)[0]
            results = read_results(checks, row)
        ctx.registry.record_results(session, ctx.build_id, ctx.domain.name, results)
    return CheckSummary(results)


def run_custom_test(ctx: BuildContext, test_name: str) -> CheckSummary:
    """Run one custom SQL test: it selects violating rows, and passes with none."""
    test = next((t for t in ctx.domain.tests if t.name == test_name), None)
    if test is None:
        raise StageFailure(f"domain {ctx.domain.name} has no test '{test_name}'")
    display = ctx.project.sql_display_path(test.sql)
    text = ctx.project.read_sql(test.sql)
    if text is None:
        raise StageFailure(f"{display} not found (test {test.name})")
    try:
        query = compile_query(display, text, DomainRelations(ctx.engine, ctx.domain))
    except RefusedSql as exc:
        raise StageFailure(str(exc)) from exc
    check = custom_check(ctx.domain, test)
    with ctx.session("test") as session:
        ctx.check_config_unchanged(session)
        count = session.query(sql.count_rows(query, alias="violations"))[0][0]
        result = evaluate(check, count)
        if not result.passed:
            result = CheckResult(check, result.observed, False, f"{display} returned violating rows")
        ctx.registry.record_results(session, ctx.build_id, ctx.domain.name, [result])
    return CheckSummary([result])
