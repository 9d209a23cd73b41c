"""check_inputs: declared raw sources are there and fresh; upstream ports are certified
and were built from the same versions of every ancestor they share.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from dagmesh import progress
from dagmesh.clock import utcnow
from dagmesh.engines.base import Session, WarehouseError
from dagmesh.mesh.schedules import human
from dagmesh.quality.checks import Check, CheckResult, Expectation, evaluate
from dagmesh.registry.store import ResolvedInput
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation
from dagmesh.stages.context import BuildContext, StageFailure


def open_build(ctx: BuildContext) -> None:
    """Start the registry record of this build (the first task of every run does this)."""
    with ctx.session("check_inputs") as session:
        ctx.registry.open_build(session, ctx.build_record())


def check_sources(ctx: BuildContext) -> list[CheckResult]:
    """Each declared source exists, has rows, and is as fresh as its config demands."""
    results: list[CheckResult] = []
    with ctx.session("check_inputs") as session:
        ctx.check_config_unchanged(session)
        for source in ctx.domain.sources.values():
            results.extend(_check_source(ctx, session, source.name))
        ctx.registry.record_results(session, ctx.build_id, ctx.domain.name, results)
        failed = [r for r in results if r.blocks]
        if failed:
            raise ctx.fail(
                session,
                "raw sources not ready: " + "; ".join(r.message for r in failed),
                [r.line for r in failed],
            )
    return results


def source_line(result: CheckResult) -> str:
    """A source check's outcome, as the task log says it."""
    return f"{result.status.upper()} {result.check.test_id} (observed {result.observed})"


def _check_source(ctx: BuildContext, session: Session, name: str) -> list[CheckResult]:
    source = ctx.domain.sources[name]
    prefix = f"{ctx.domain.name}.sources.{name}"
    rows_check = Check(f"{prefix}:has_rows", name, "has_rows", "input", Expectation("ge", 1))
    relation = ctx.engine.source_relation(source.table)
    freshness = source.freshness
    try:
        count, latest = session.query(sql.freshness(relation, freshness.column if freshness else None))[0]
    except WarehouseError as exc:
        if freshness is not None and _readable(session, relation):
            where, column = freshness.where("column"), freshness.column
            message = f"{where}: freshness column '{column}' is not a column of source {source.table}"
            return [CheckResult(rows_check, "no such column", False, message)]
        reason = str(exc).splitlines()[0]
        hint = f"; load it from {source.path} with `dagmesh load`" if source.path else ""
        message = f"source {source.table} cannot be read: {reason}{hint}"
        return [CheckResult(rows_check, "missing", False, message)]
    results = [evaluate(rows_check, count)]
    if results[0].blocks:
        results[0] = CheckResult(rows_check, str(count), False, f"source {source.table} is empty")
    if freshness is None:
        return results
    age_hours = _age_hours(latest)
    limits: list[tuple[Literal["warn", "error"], timedelta | None]] = [
        ("warn", freshness.warn_after),
        ("error", freshness.error_after),
    ]
    for severity, limit in limits:
        if limit is None:
            continue
        hours = limit.total_seconds() / 3600
        check = Check(
            f"{prefix}:freshness_{severity}",
            name,
            f"freshness_{severity}",
            "input",
            Expectation("le", high=hours),
            severity=severity,
        )
        if age_hours is None:
            results.append(
                CheckResult(
                    check,
                    "no rows",
                    False,
                    f"source {source.table} has no {freshness.column} values",
                )
            )
            continue
        result = evaluate(check, round(age_hours, 2))
        if not result.passed:
            result = CheckResult(
                check,
                result.observed,
                False,
                f"source {source.table} was last loaded {age_hours:.1f}h ago "
                f"({freshness.column}); {severity} after {hours:g}h",
            )
        results.append(result)
    return results


def _readable(session: Session, relation: Relation) -> bool:
    """Whether the source table itself can be read (so a failed freshness query means its
    column is missing)."""
    try:
        session.query(sql.freshness(relation, None))
    except WarehouseError:
        return False
    return True


def _age_hours(latest: object) -> float | None:
    """Hours since ``latest`` (naive timestamps are UTC, as the registry's are)."""
    if not isinstance(latest, datetime):
        return None
    stamp = latest.astimezone(UTC).replace(tzinfo=None) if latest.tzinfo else latest
    return max((utcnow() - stamp).total_seconds() / 3600, 0.0)


@dataclass(frozen=True)
class Inconsistency:
    """Two inputs built from different versions of one shared ancestor."""

    ancestor: str
    #: ``{input domain: ancestor version it was built from (None: not recorded)}``
    versions: dict[str, int | None]

    def describe(self) -> str:
        seen = ", ".join(
            f"{name} was built from {self.ancestor} v{v}"
            if v is not None
            else f"{name} has no {self.ancestor} version"
            for name, v in sorted(self.versions.items())
        )
        return f"inputs disagree on {self.ancestor}: {seen}"


class InputsInconsistent(StageFailure):
    def __init__(self, inconsistencies: list[Inconsistency]) -> None:
        self.inconsistencies = inconsistencies
        super().__init__("; ".join(i.describe() for i in inconsistencies))


@dataclass(frozen=True)
class TriggeringBuild:
    """What an upstream's Asset event said it certified (the run it triggered reads it)."""

    build_id: str
    version: int


#: How many times, and how far apart, the upstreams are read while one's published tables and
#: its latest certification name different builds: its certify is committing right now (a
#: Snowflake swap commits before the registry row does). A disagreement that outlasts them fails.
SETTLE_READS, SETTLE_PAUSE_SECONDS = 5, 0.5


def resolve_upstreams(
    ctx: BuildContext, triggered: Mapping[str, TriggeringBuild] | None = None
) -> list[ResolvedInput]:
    """The certified build of every consumed port, checked for consistency and recorded.

    ``triggered`` maps ``domain.port`` to the build its triggering Asset event named.
    The run reads what is published now, which is that build or a newer one; both are
    recorded. Raises :class:`StageFailure` when an upstream is not certified, and
    :class:`InputsInconsistent` when inputs disagree on a shared ancestor (the Airflow
    layer decides how long to wait for the lagging input).
    """
    with ctx.session("check_inputs") as session:
        ctx.check_config_unchanged(session)
        for attempt in range(1, SETTLE_READS + 1):
            inputs, problems, publishing = _resolve(ctx, session, triggered or {})
            if not publishing or attempt == SETTLE_READS:
                break
            time.sleep(SETTLE_PAUSE_SECONDS)
        if problems:
            raise ctx.fail(session, "upstream inputs not ready: " + "; ".join(problems))
        ctx.registry.record_inputs(session, ctx.build_id, ctx.domain.name, inputs)
        inconsistencies = find_inconsistencies(ctx, inputs)
        if inconsistencies:
            raise InputsInconsistent(inconsistencies)
    return inputs


def _resolve(
    ctx: BuildContext, session: Session, triggered: Mapping[str, TriggeringBuild]
) -> tuple[list[ResolvedInput], list[str], bool]:
    """The inputs, the problems, and whether an upstream's publish looked under way."""
    inputs: list[ResolvedInput] = []
    problems: list[str] = []
    publishing = False
    for consume in ctx.domain.consumes:
        upstream = consume.port.domain
        certification = ctx.registry.latest_certification(session, upstream)
        if certification is None:
            problems.append(f"{consume.port}: domain {upstream} has never been certified")
            continue
        if consume.port.port not in certification.ports:
            published = ", ".join(sorted(certification.ports)) or "nothing"
            problems.append(
                f"{consume.port}: {upstream} v{certification.version} does not publish port "
                f"'{consume.port.port}' (it publishes {published})"
            )
            continue
        published_build = ctx.engine.published_build_id(session, upstream)
        if published_build != certification.build_id:
            publishing = True
            problems.append(
                f"{consume.port}: the published tables of {upstream} hold build {published_build}, "
                f"not its latest certification {certification.build_id}"
            )
            continue
        event = triggered.get(str(consume.port))
        if event is not None and event.version > certification.version:
            problems.append(
                f"{consume.port}: triggered by {upstream} v{event.version} (build {event.build_id}), but the "
                f"registry's latest certification of {upstream} is v{certification.version}"
            )
            continue
        port_version, _ = certification.ports[consume.port.port]
        inputs.append(
            ResolvedInput(
                port=str(consume.port),
                upstream_domain=upstream,
                upstream_build_id=certification.build_id,
                upstream_version=certification.version,
                port_version=port_version,
                lineage=certification.lineage,
                triggered_by_build_id=event.build_id if event else None,
            )
        )
    return inputs, problems, publishing


def reading(item: ResolvedInput) -> str:
    """What a build reads from one upstream port, as its log says it."""
    trigger = f", triggered by build {item.triggered_by_build_id}" if item.triggered_by_build_id else ""
    return (
        f"reads {item.port} from {item.upstream_domain} v{item.upstream_version} "
        f"(build {item.upstream_build_id}{trigger})"
    )


def keep_waiting(ctx: BuildContext, inconsistent: InputsInconsistent, since: datetime) -> None:
    """Record that this build waits (since ``since``) for a lagging input to re-certify and say so;
    raise :class:`StageFailure` instead once ``consistency.max_wait`` has passed."""
    waited = utcnow() - since
    limits = ctx.mesh.consistency
    with ctx.session("check_inputs") as session:
        if waited >= limits.max_wait:
            raise ctx.fail(
                session,
                f"inconsistent inputs: {inconsistent}; waited {human(waited)} (consistency.max_wait is "
                f"{human(limits.max_wait)}) for the lagging input to re-certify",
            ) from inconsistent
        ctx.registry.note(
            session, ctx.build_id, f"waiting since {since:%Y-%m-%d %H:%M:%S} UTC: {inconsistent}"
        )
    progress.waiting(
        f"the lagging input to re-certify ({inconsistent}; {human(waited)} so far, "
        f"checking every {human(limits.poll_interval)})",
        until=since + limits.max_wait,
    )


def lineage_of(inputs: list[ResolvedInput]) -> dict[str, dict[str, int]]:
    """For each input domain, the versions it was built from, itself included."""
    result: dict[str, dict[str, int]] = {}
    for item in inputs:
        result[item.upstream_domain] = {**item.lineage, item.upstream_domain: item.upstream_version}
    return result


def merged_lineage(inputs: list[ResolvedInput]) -> dict[str, int]:
    """The lineage a build records: every ancestor's version (consistent by then)."""
    merged: dict[str, int] = {}
    for versions in lineage_of(inputs).values():
        merged.update(versions)
    return merged


def find_inconsistencies(ctx: BuildContext, inputs: list[ResolvedInput]) -> list[Inconsistency]:
    """Ancestors the inputs were built from in different versions.

    An ancestor is shared when the mesh graph reaches it through two inputs, or when
    the recorded lineage of two inputs names it: the registry knows what each input
    was built from even while an upstream's config is broken.
    """
    lineages = lineage_of(inputs)
    shared = {a: set(through) for a, through in ctx.graph.shared_ancestors(ctx.domain.name).items()}
    recorded: dict[str, set[str]] = {}
    for name, versions in lineages.items():
        for ancestor in versions:
            recorded.setdefault(ancestor, set()).add(name)
    for ancestor, through in recorded.items():
        if len(through) > 1:
            shared.setdefault(ancestor, set()).update(through)
    found = []
    for ancestor, through in sorted(shared.items()):
        seen: dict[str, int | None] = {n: lineages.get(n, {}).get(ancestor) for n in sorted(through)}
        if len(set(seen.values())) > 1 or None in seen.values():
            found.append(Inconsistency(ancestor, seen))
    return found
