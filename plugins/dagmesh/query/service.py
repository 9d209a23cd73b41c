"""The domain query: was it built, tested, certified, and from what.

:class:`MeshQuery` answers from the project's configs (what each domain declares) and
the registry (what happened), through the active environment's engine. The REST API,
``dagmesh status`` and ``dagmesh show`` all ask it, so they state the same facts. Reads
go through :meth:`Engine.reader`: on DuckDB no lock is held longer than one query.

Only domains ``visible`` says may be seen are answered about (the REST API passes the
DAGs the caller may read); a domain that may not be seen is treated as unknown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from dagmesh.clock import utcnow
from dagmesh.config.model import Domain, PortRef
from dagmesh.config.project import Project
from dagmesh.engines.base import Engine, Session
from dagmesh.export.odcs import contract_id, port_contract
from dagmesh.mesh.analysis import MeshAnalysis
from dagmesh.mesh.schedules import aligned_upstream_tick
from dagmesh.quality.checks import plan_tests
from dagmesh.query import facts
from dagmesh.registry import store
from dagmesh.registry.store import Registry


class MeshQuery:
    def __init__(
        self,
        project: Project,
        analysis: MeshAnalysis,
        engine: Engine,
        visible: Collection[str] | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        assert project.mesh is not None
        self.project = project
        self.mesh = project.mesh
        self.analysis = analysis
        self.engine = engine
        self.registry = Registry(engine)
        self._visible = None if visible is None else set(visible)
        self._now = now

    # ------------------------------------------------------------------ which domains

    def names(self) -> list[str]:
        """Every domain the caller may see: valid ones in dependency order, then broken ones."""
        ordered = self.analysis.graph.order()
        broken = sorted(set(self.project.domain_files) - set(ordered))
        return [n for n in ordered + broken if self.visible(n)]

    def visible(self, name: str) -> bool:
        return name in self.project.domain_files and (self._visible is None or name in self._visible)

    @contextmanager
    def _session(self) -> Iterator[Session | None]:
        """A reading session, or ``None`` while there is no registry yet."""
        if not self.engine.has_warehouse():
            yield None
            return
        with self.engine.reader() as session:
            yield session if self.registry.exists(session) else None

    # ------------------------------------------------------------------ domains

    def domains(self) -> list[facts.DomainSummary]:
        with self._session() as session:
            snapshot = _Snapshot.read(self.registry, session)
        return [self._summary(name, snapshot) for name in self.names()]

    def domain(self, name: str) -> facts.DomainDetail | None:
        if not self.visible(name):
            return None
        with self._session() as session:
            snapshot = _Snapshot.read(self.registry, session)
        summary = self._summary(name, snapshot)
        domain = self.project.domains.get(name)
        published = snapshot.certifications.get(name)
        ports = []
        if domain is not None:
            plan = plan_tests(domain, self.mesh.policy)
            for port in domain.outputs.values():
                ports.append(
                    facts.Port(
                        name=port.name,
                        version=port.version,
                        description=port.description,
                        primary_key=list(port.primary_key),
                        columns=[
                            facts.Column(
                                name=column_name,
                                type=column.type,
                                description=column.description,
                                tests=[test.test for test in column.tests],
                            )
                            for column_name, column in port.columns.items()
                        ],
                        checks=[
                            f"{c.test_id}: {c.expect.describe()}" for c in plan.by_port.get(port.name, [])
                        ],
                        published=published.ports.get(port.name) if published else None,
                        contract_id=contract_id(self.mesh, PortRef(name, port.name)),
                    )
                )
        return facts.DomainDetail(
            **summary.model_dump(),
            tags=list(domain.tags) if domain else [],
            sources={n: s.table for n, s in domain.sources.items()} if domain else {},
            models=[m.name for m in domain.models] if domain else [],
            ports=ports,
            inputs=[
                facts.Input(port=str(e.consume.port), upstream_domain=e.upstream, via=e.via)
                for e in self.analysis.graph.edges_into(name)
                if self.visible(e.upstream)
            ],
            consumers=[d for d in self.analysis.graph.downstream(name) if self.visible(d)],
        )

    def _summary(self, name: str, snapshot: _Snapshot) -> facts.DomainSummary:
        domain = self.project.domains.get(name)
        build = snapshot.builds.get(name)
        health = self._health(name, domain, snapshot)
        return facts.DomainSummary(
            name=name,
            layer=domain.layer if domain else "",
            owner=domain.owner if domain else "",
            description=domain.description.strip() if domain else "",
            schedule=_schedule(domain),
            dag_id=name,
            state=health.state,
            latest_build=_build_summary(build, snapshot.counts.get(build["build_id"])) if build else None,
            published=snapshot.certifications.get(name),
            health=health,
            problems=[str(p) for p in self.analysis.broken().get(name, [])],
        )

    # ------------------------------------------------------------------ health

    def health(self) -> list[facts.Health]:
        with self._session() as session:
            snapshot = _Snapshot.read(self.registry, session)
        return [self._health(n, self.project.domains.get(n), snapshot) for n in self.names()]

    def _health(self, name: str, domain: Domain | None, snapshot: _Snapshot) -> facts.Health:
        build = snapshot.builds.get(name)
        certification = snapshot.certifications.get(name)
        certified_at = certification.certified_at if certification else None
        due = self._due_since(name, domain, certified_at, snapshot)
        overdue = due is not None and (certified_at is None or certified_at < due)
        behind = self._behind(name, certification, snapshot)
        running = bool(build and build["state"] == "running")
        failing = bool(build and build["state"] in ("failed", "abandoned"))
        state: facts.State
        if running:
            state = "running"
        elif failing:
            state = "failed"
        elif certification is None:
            state = "never_run"
        elif overdue:
            state = "stale"
        elif behind:
            state = "out_of_sync"
        else:
            state = "certified"
        return facts.Health(
            domain=name,
            state=state,
            schedule=_schedule(domain),
            last_certified_at=certified_at,
            due_since=due,
            overdue=overdue,
            behind=behind,
            running=running,
            failing=failing,
        )

    def _due_since(
        self, name: str, domain: Domain | None, certified_at: datetime | None, snapshot: _Snapshot
    ) -> datetime | None:
        """When the schedule promised a certification newer than ``certified_at``.

        A cron domain owes one for the tick before its latest (the latest tick's run may
        still be under way). A domain run on its upstreams owes one once every upstream it
        consumes has certified since its own last certification.
        """
        if domain is None:
            return None
        schedule = domain.schedule
        if schedule.kind == "cron" and schedule.cron:
            timezone = self.mesh.defaults.timezone
            latest = aligned_upstream_tick(schedule.cron, self._now(), timezone)
            return aligned_upstream_tick(schedule.cron, latest - timedelta(seconds=1), timezone)
        if schedule.kind == "on_upstream" and certified_at is not None:
            upstreams = {c.port.domain for c in domain.consumes}
            stamps = [snapshot.certifications.get(u) for u in upstreams]
            if upstreams and all(s is not None and s.certified_at > certified_at for s in stamps):
                return max(s.certified_at for s in stamps if s is not None)
        return None

    def _behind(
        self, name: str, certification: facts.Certification | None, snapshot: _Snapshot
    ) -> dict[str, int]:
        if certification is None:
            return {}
        behind = {}
        for ancestor in self.analysis.graph.shared_ancestors(name):
            published = snapshot.certifications.get(ancestor)
            used = certification.lineage.get(ancestor)
            if published is not None and used is not None and published.version > used:
                behind[ancestor] = published.version
        return behind

    # ------------------------------------------------------------------ builds

    def builds(
        self, name: str, state: str | None = None, limit: int = 20, offset: int = 0
    ) -> facts.Page[facts.BuildSummary] | None:
        if not self.visible(name):
            return None
        with self._session() as session:
            if session is None:
                return facts.Page(items=[], total=0, limit=limit, offset=offset)
            rows, total = self.registry.builds_of(session, name, state, limit, offset)
            counts = self.registry.results_counted(session, [r["build_id"] for r in rows])
        items = [_build_summary(r, counts.get(r["build_id"])) for r in rows]
        return facts.Page(items=items, total=total, limit=limit, offset=offset)

    def build(self, build_id: str) -> facts.BuildDetail | None:
        with self._session() as session:
            if session is None:
                return None
            row = self.registry.build(session, build_id)
            if row is None or not self.visible(row["domain"]):
                return None
            counts = self.registry.results_counted(session, [build_id])
            models = self.registry.model_runs(session, build_id)
            checks = self.registry.results(session, build_id)
            inputs = self.registry.inputs(session, build_id)
            certification = self.registry.certification(session, build_id)
        summary = _build_summary(row, counts.get(build_id))
        outcomes = [_check(c) for c in checks]
        reads = [_upstream_read(i) for i in inputs]
        failure = None
        if row["state"] in ("failed", "abandoned"):
            failed = [
                f"{c.test_id}: observed {c.observed}, expected {c.threshold}"
                for c in outcomes
                if c.status == "fail"
            ]
            failure = "\n".join([row["message"] or row["state"], *failed])
        return facts.BuildDetail(
            **summary.model_dump(),
            models=[
                facts.ModelRun(
                    model=m["model"],
                    materialized=m["materialized"],
                    row_count=int(m["row_count"] or 0),
                    seconds=float(m["seconds"] or 0.0),
                    built_at=m["built_at"],
                )
                for m in models
            ],
            checks=outcomes,
            inputs=reads,
            certification=_certification(certification, reads) if certification else None,
            failure=failure,
        )

    # ------------------------------------------------------------------ certifications

    def certifications(
        self, name: str, limit: int = 20, offset: int = 0
    ) -> facts.Page[facts.Certification] | None:
        if not self.visible(name):
            return None
        with self._session() as session:
            if session is None:
                return facts.Page(items=[], total=0, limit=limit, offset=offset)
            found, total = self.registry.certifications_of(session, name, limit, offset)
            items = [
                _certification(c, [_upstream_read(i) for i in self.registry.inputs(session, c.build_id)])
                for c in found
            ]
        return facts.Page(items=items, total=total, limit=limit, offset=offset)

    # ------------------------------------------------------------------ lineage

    def lineage(self) -> facts.Lineage:
        nodes = self.domains()
        by_name = {n.name: n for n in nodes}
        edges = [
            facts.LineageEdge(upstream=e.upstream, consumer=e.consumer, port=str(e.consume.port), via=e.via)
            for e in self.analysis.graph.edges
            if e.upstream in by_name and e.consumer in by_name
        ]
        sync = []
        for node in nodes:
            for ancestor in sorted(self.analysis.graph.shared_ancestors(node.name)):
                if ancestor not in by_name:
                    continue
                used = node.published.lineage.get(ancestor) if node.published else None
                upstream = by_name[ancestor].published
                published = upstream.version if upstream else None
                sync.append(
                    facts.SyncCheck(
                        consumer=node.name,
                        ancestor=ancestor,
                        used=used,
                        published=published,
                        in_sync=used is not None and used == published,
                    )
                )
        return facts.Lineage(nodes=nodes, edges=edges, sync=sync)

    # ------------------------------------------------------------------ contracts

    def contracts(self, name: str) -> list[dict[str, Any]] | None:
        """The ODCS data contract of each of the domain's output ports."""
        domain = self.project.domains.get(name)
        if domain is None or not self.visible(name):
            return None
        return [port_contract(self.mesh, domain, port) for port in domain.outputs.values()]


class _Snapshot:
    """What the registry says about every domain now, read in a few queries."""

    def __init__(
        self,
        builds: dict[str, dict[str, Any]],
        counts: dict[str, dict[str, int]],
        certifications: dict[str, facts.Certification],
    ) -> None:
        self.builds = builds
        self.counts = counts
        self.certifications = certifications

    @classmethod
    def read(cls, registry: Registry, session: Session | None) -> _Snapshot:
        if session is None:
            return cls({}, {}, {})
        builds = registry.latest_builds(session)
        counts = registry.results_counted(session, [b["build_id"] for b in builds.values()])
        certifications = {
            d: _certification(c, []) for d, c in registry.latest_certifications(session).items()
        }
        return cls(builds, counts, certifications)


def _schedule(domain: Domain | None) -> str:
    if domain is None:
        return ""
    schedule = domain.schedule
    return schedule.cron or "" if schedule.kind == "cron" else schedule.kind


def _build_summary(row: dict[str, Any], counts: dict[str, int] | None) -> facts.BuildSummary:
    counts = counts or {}
    started, finished = row["started_at"], row["finished_at"]
    return facts.BuildSummary(
        build_id=row["build_id"],
        domain=row["domain"],
        state=row["state"],
        dag_id=row["dag_id"] or "",
        run_id=row["run_id"] or "",
        environment=row["environment"] or "",
        logical_date=row["logical_date"],
        full_refresh=bool(row["full_refresh"]),
        config_version=row["config_version"] or "",
        started_at=started,
        finished_at=finished,
        seconds=(finished - started).total_seconds() if started and finished else None,
        message=row["message"] or "",
        tests=facts.TestCounts(
            passed=counts.get("pass", 0), failed=counts.get("fail", 0), warned=counts.get("warn", 0)
        ),
    )


def _check(row: dict[str, Any]) -> facts.CheckOutcome:
    return facts.CheckOutcome(
        test_id=row["test_id"],
        target=row["target"],
        test=row["test"],
        kind=row["kind"],
        column=row["column_name"],
        severity=row["severity"],
        status=row["status"],
        observed=row["observed"] or "",
        threshold=row["threshold"] or "",
        message=row["message"] or "",
        sample=row.get("sample") or "",
    )


def _upstream_read(row: dict[str, Any]) -> facts.UpstreamRead:
    return facts.UpstreamRead(
        port=row["port"],
        upstream_domain=row["upstream_domain"],
        upstream_build_id=row["upstream_build_id"],
        upstream_version=int(row["upstream_version"]),
        port_version=int(row["port_version"]),
        lineage={k: int(v) for k, v in json.loads(row["lineage"] or "{}").items()},
        triggered_by_build_id=row["triggered_by_build_id"],
    )


def _certification(found: store.Certification, inputs: list[facts.UpstreamRead]) -> facts.Certification:
    return facts.Certification(
        domain=found.domain,
        version=found.version,
        build_id=found.build_id,
        run_id=found.run_id,
        certified_at=found.certified_at,
        lineage=found.lineage,
        ports={p: facts.PublishedPort(port_version=v, row_count=n) for p, (v, n) in found.ports.items()},
        inputs=inputs,
    )
