"""test: the standard pack, column, port and custom SQL tests, on the build schema.

All checks of one output port run as one fused query. Every result, passing or not,
is recorded with its observed value and threshold. The test stage measures; it does
not judge: a failed check is a result, and ``certify`` (the gate) refuses to publish
a build with a failed blocking check. So one failing test fails one task, the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from dagmesh.engines.base import Session, WarehouseError
from dagmesh.quality.checks import CheckResult, custom_check, evaluate, plan_tests
from dagmesh.quality.fused import read_results
from dagmesh.sql import statements as sql
from dagmesh.sql.references import ConditionError
from dagmesh.sql.statements import Relation
from dagmesh.stages.compile import DomainRelations, RefusedSql, compile_query
from dagmesh.stages.context import BuildContext, StageFailure

#: The longest sample a result keeps.
SAMPLE_CHARS = 300


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

    def counts(self) -> dict[str, int]:
        return {
            "passed": sum(r.passed for r in self.results),
            "failed": len(self.blocking_failures),
            "warned": len(self.warnings),
        }

    def log_lines(self) -> list[tuple[bool, str]]:
        """One line per check, then what the results mean; each with whether it reads as fine."""
        lines = [(r.passed, f"{r.status.upper():4} {r.line}") for r in self.results]
        return [*lines, (not self.blocking_failures, self.conclusion())]

    def conclusion(self) -> str:
        failed, warned = len(self.blocking_failures), len(self.warnings)
        passed = sum(r.passed for r in self.results)
        counts = f"{passed} of {len(self.results)} check(s) passed" + (f", {warned} warned" if warned else "")
        if failed:
            return f"{counts}, {failed} blocking check(s) failed: certify will not publish this build"
        return counts


def run_port_checks(ctx: BuildContext, port_name: str) -> CheckSummary:
    """Run every check of one output port (or a model with column tests) in a single query
    on its built table."""
    checks = plan_tests(ctx.domain, ctx.mesh.policy).of_table(port_name)
    if checks is None:
        raise StageFailure(f"domain {ctx.domain.name} has no output port or tested model '{port_name}'")
    engine = ctx.engine
    relation = engine.table(engine.build_schema(ctx.domain.name), port_name)
    results: list[CheckResult] = []
    measures = [c.measure for c in checks if c.measure is not None]
    with ctx.session("test") as session:
        ctx.check_config_unchanged(session)
        if measures:
            parents = DomainRelations(engine, ctx.domain).parents(measures)
            try:
                query = sql.check_query(relation, measures, engine.columns_listing(relation), parents)
            except ConditionError as exc:
                raise StageFailure(
                    f"an expression test of port {ctx.domain.name}.{port_name} is refused: {exc}"
                ) from exc
            row = session.query(query)[0]
            port = ctx.domain.outputs.get(port_name)
            model = ctx.domain.model(port_name)
            keys = port.primary_key if port else (model.unique_key if model else ())
            results = [_sampled(session, relation, r, keys, parents) for r in read_results(checks, row)]
        ctx.registry.record_results(session, ctx.build_id, ctx.domain.name, results)
    return CheckSummary(results)


def _sampled(
    session: Session, relation: Relation, result: CheckResult, keys: Sequence[str], parents: sql.Parents
) -> CheckResult:
    """A check that did not pass, with a few of the values or rows it counted."""
    measure = result.check.measure
    if result.passed or measure is None:
        return result
    query = sql.sample_query(relation, measure, keys, parents)
    if query is None:
        return result
    try:
        rows = session.query(query)
    except WarehouseError:  # a sample is a courtesy: the result stands without it
        return result
    return replace(result, sample=describe_sample(query.named_selects, rows))


def describe_sample(names: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """``npi=1234567890 (3 rows); npi=...``: one part per row, within a few hundred characters."""
    parts = []
    for row in rows:
        if len(names) != len(row) or "*" in names:  # SELECT *: the values alone
            parts.append("(" + ", ".join(_short(v) for v in row) + ")")
            continue
        values = dict(zip(names, row, strict=True))
        count = values.pop(sql.SAMPLE_COUNT, None)
        shown = ", ".join(f"{name}={_short(value)}" for name, value in values.items())
        parts.append(f"{shown} ({count} rows)" if isinstance(count, int) and count > 1 else shown)
    text = "; ".join(parts)
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"


def _short(value: object) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


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
            first = session.query(query.limit(sql.SAMPLE_ROWS))
            sample = describe_sample(query.named_selects, first)
            result = CheckResult(check, result.observed, False, f"{display} returned violating rows", sample)
        ctx.registry.record_results(session, ctx.build_id, ctx.domain.name, [result])
    return CheckSummary([result])
