"""The registry: every build, test result, input and certification, in the warehouse.

It lives in the ``mesh_meta`` schema of the environment's warehouse, as plain tables
anyone can query (``SELECT * FROM mesh_meta.certifications``). Stages write it; the
CLI, the consistency gate and Asset metadata read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlglot import exp

from dagmesh.clock import utcnow
from dagmesh.engines.base import Engine, Session
from dagmesh.quality.checks import CheckResult
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation

#: Registry tables and their columns; types are portable between DuckDB and Snowflake.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "builds": (
        ("build_id", "VARCHAR"),
        ("domain", "VARCHAR"),
        ("layer", "VARCHAR"),
        ("environment", "VARCHAR"),
        ("dag_id", "VARCHAR"),
        ("run_id", "VARCHAR"),
        ("logical_date", "TIMESTAMP"),
        ("full_refresh", "BOOLEAN"),
        ("state", "VARCHAR"),
        ("message", "VARCHAR"),
        ("started_at", "TIMESTAMP"),
        ("finished_at", "TIMESTAMP"),
        ("config_version", "VARCHAR"),
    ),
    "model_runs": (
        ("build_id", "VARCHAR"),
        ("domain", "VARCHAR"),
        ("model", "VARCHAR"),
        ("materialized", "VARCHAR"),
        ("row_count", "BIGINT"),
        ("seconds", "DOUBLE"),
        ("built_at", "TIMESTAMP"),
    ),
    "test_results": (
        ("build_id", "VARCHAR"),
        ("domain", "VARCHAR"),
        ("test_id", "VARCHAR"),
        ("target", "VARCHAR"),
        ("test", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("column_name", "VARCHAR"),
        ("severity", "VARCHAR"),
        ("status", "VARCHAR"),
        ("observed", "VARCHAR"),
        ("threshold", "VARCHAR"),
        ("message", "VARCHAR"),
        ("executed_at", "TIMESTAMP"),
        #: A few offending values or rows of a check that did not pass.
        ("sample", "VARCHAR"),
    ),
    "inputs": (
        ("build_id", "VARCHAR"),
        ("domain", "VARCHAR"),
        ("port", "VARCHAR"),
        ("upstream_domain", "VARCHAR"),
        ("upstream_build_id", "VARCHAR"),
        ("upstream_version", "INTEGER"),
        ("port_version", "INTEGER"),
        ("lineage", "VARCHAR"),
        ("triggered_by_build_id", "VARCHAR"),
        ("resolved_at", "TIMESTAMP"),
    ),
    "certifications": (
        ("build_id", "VARCHAR"),
        ("domain", "VARCHAR"),
        ("version", "INTEGER"),
        ("run_id", "VARCHAR"),
        ("lineage", "VARCHAR"),
        ("certified_at", "TIMESTAMP"),
    ),
    "port_versions": (
        ("build_id", "VARCHAR"),
        ("domain", "VARCHAR"),
        ("port", "VARCHAR"),
        ("port_version", "INTEGER"),
        ("row_count", "BIGINT"),
        ("certified_at", "TIMESTAMP"),
    ),
}


@dataclass(frozen=True)
class Build:
    build_id: str
    domain: str
    layer: str
    environment: str
    dag_id: str
    run_id: str
    logical_date: datetime | None
    full_refresh: bool
    #: The fingerprint of the domain's config and SQL the run started with.
    config_version: str = ""
    state: str = "running"
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class ResolvedInput:
    """Which certified build of an upstream port a build reads."""

    port: str
    upstream_domain: str
    upstream_build_id: str
    upstream_version: int
    port_version: int
    #: The upstream's own lineage: ``{ancestor domain: version}``.
    lineage: dict[str, int] = field(default_factory=dict)
    #: The build whose Asset event triggered this run, when one did.
    triggered_by_build_id: str | None = None


@dataclass(frozen=True)
class Certification:
    build_id: str
    domain: str
    version: int
    run_id: str
    lineage: dict[str, int]
    certified_at: datetime
    #: ``{port: (port_version, row_count)}``
    ports: dict[str, tuple[int, int]] = field(default_factory=dict)


class Registry:
    """Reads and writes the registry tables through an engine's sessions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.schema = engine.registry_schema

    def table(self, name: str) -> Relation:
        return self.engine.table(self.schema, name)

    def _insert(self, session: Session, table: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            session.execute(sql.insert_rows(self.table(table), [n for n, _ in TABLES[table]], rows))

    def _select(
        self,
        session: Session,
        table: str,
        where: Mapping[str, Any] | None = None,
        order: str = "",
        query: exp.Select | None = None,
    ) -> list[dict[str, Any]]:
        names = [name for name, _ in TABLES[table]]
        where_clause = sql.equals(where) if where else None
        statement = query or sql.select(self.table(table), names, where_clause, [order] if order else ())
        return [dict(zip(names, row, strict=True)) for row in session.query(statement)]

    # ------------------------------------------------------------------ schema

    def ensure(self, session: Session) -> None:
        """Create the registry schema and tables, and add columns a newer dagmesh needs."""
        session.execute(sql.create_schema(self.schema))
        existing: dict[str, set[str]] = {}
        for table, column_name in session.query(sql.column_names(self.engine.catalog, self.schema.schema)):
            existing.setdefault(str(table), set()).add(str(column_name))
        for table, columns in TABLES.items():
            if table not in existing:
                session.execute(sql.create_table(self.table(table), columns))
                continue
            for name, kind in columns:
                if name not in existing[table]:
                    session.execute(sql.add_column(self.table(table), name, kind))

    # ------------------------------------------------------------------ writes

    def open_build(self, session: Session, build: Build) -> None:
        """Start (or restart, when a run is cleared and re-run) the record of a build.

        A build of the same domain still marked running belongs to a run that was killed
        or stopped before it finished (a domain runs one build at a time): it is marked
        abandoned, so the registry never shows it running forever.
        """
        self.ensure(session)
        for table in ("builds", "model_runs", "test_results", "inputs"):
            session.execute(sql.delete(self.table(table), sql.equals({"build_id": build.build_id})))
        now = utcnow()
        session.execute(
            sql.update(
                self.table("builds"),
                {
                    "state": "abandoned",
                    "message": f"abandoned: its run stopped before finishing; build {build.build_id} "
                    "started after it",
                    "finished_at": now,
                },
                sql.equals({"domain": build.domain, "state": "running"}),
            )
        )
        row = (
            build.build_id,
            build.domain,
            build.layer,
            build.environment,
            build.dag_id,
            build.run_id,
            build.logical_date,
            build.full_refresh,
            "running",
            "",
            now,
            None,
            build.config_version,
        )
        self._insert(session, "builds", [row])

    def record_inputs(
        self, session: Session, build_id: str, domain: str, inputs: Sequence[ResolvedInput]
    ) -> None:
        session.execute(sql.delete(self.table("inputs"), sql.equals({"build_id": build_id})))
        now = utcnow()
        self._insert(
            session,
            "inputs",
            [
                (
                    build_id,
                    domain,
                    i.port,
                    i.upstream_domain,
                    i.upstream_build_id,
                    i.upstream_version,
                    i.port_version,
                    json.dumps(i.lineage, sort_keys=True),
                    i.triggered_by_build_id,
                    now,
                )
                for i in inputs
            ],
        )

    def record_model(
        self,
        session: Session,
        build_id: str,
        domain: str,
        model: str,
        materialized: str,
        rows: int,
        seconds: float,
    ) -> None:
        session.execute(
            sql.delete(self.table("model_runs"), sql.equals({"build_id": build_id, "model": model}))
        )
        self._insert(
            session,
            "model_runs",
            [(build_id, domain, model, materialized, rows, seconds, utcnow())],
        )

    def record_results(
        self, session: Session, build_id: str, domain: str, results: Sequence[CheckResult]
    ) -> None:
        """Store every check's outcome with its observed value and threshold."""
        if not results:
            return
        ids = [r.check.test_id for r in results]
        session.execute(
            sql.delete(self.table("test_results"), sql.equals({"build_id": build_id, "test_id": ids}))
        )
        now = utcnow()
        self._insert(
            session,
            "test_results",
            [
                (
                    build_id,
                    domain,
                    r.check.test_id,
                    r.check.target,
                    r.check.test,
                    r.check.kind,
                    r.check.column,
                    r.check.severity,
                    r.status,
                    r.observed,
                    r.check.expect.describe(),
                    r.message,
                    now,
                    r.sample or None,
                )
                for r in results
            ],
        )

    def note(self, session: Session, build_id: str, message: str) -> None:
        """Say what a running build is doing (e.g. waiting for an input), for ``dagmesh status``."""
        session.execute(
            sql.update(self.table("builds"), {"message": message}, sql.equals({"build_id": build_id}))
        )

    def finish_build(self, session: Session, build_id: str, state: str, message: str = "") -> None:
        session.execute(
            sql.update(
                self.table("builds"),
                {"state": state, "message": message, "finished_at": utcnow()},
                sql.equals({"build_id": build_id}),
            )
        )

    def certify(
        self,
        session: Session,
        build_id: str,
        domain: str,
        run_id: str,
        lineage: dict[str, int],
        ports: dict[str, tuple[int, int]],
    ) -> Certification:
        """Record a certification with the next version number of the domain."""
        rows = session.query(
            sql.next_number(self.table("certifications"), "version", sql.equals({"domain": domain}))
        )
        version = int(rows[0][0])
        now = utcnow()
        self._insert(
            session,
            "certifications",
            [(build_id, domain, version, run_id, json.dumps(lineage, sort_keys=True), now)],
        )
        self._insert(
            session,
            "port_versions",
            [(build_id, domain, port, pv, count, now) for port, (pv, count) in ports.items()],
        )
        self.finish_build(session, build_id, "certified")
        return Certification(build_id, domain, version, run_id, lineage, now, ports)

    # ------------------------------------------------------------------ reads

    def build(self, session: Session, build_id: str) -> dict[str, Any] | None:
        rows = self._select(session, "builds", {"build_id": build_id})
        return rows[0] if rows else None

    def model_runs(self, session: Session, build_id: str) -> list[dict[str, Any]]:
        return self._select(session, "model_runs", {"build_id": build_id}, "built_at")

    def results(self, session: Session, build_id: str) -> list[dict[str, Any]]:
        return self._select(session, "test_results", {"build_id": build_id}, "test_id")

    def inputs(self, session: Session, build_id: str) -> list[dict[str, Any]]:
        return self._select(session, "inputs", {"build_id": build_id}, "port")

    def certification(self, session: Session, build_id: str) -> Certification | None:
        rows = self._select(session, "certifications", {"build_id": build_id})
        return self._certification(session, rows[0]) if rows else None

    def latest_certification(self, session: Session, domain: str) -> Certification | None:
        names = [name for name, _ in TABLES["certifications"]]
        query = sql.select(
            self.table("certifications"),
            names,
            sql.equals({"domain": domain}),
            ["version"],
            descending=True,
            limit=1,
        )
        rows = self._select(session, "certifications", query=query)
        return self._certification(session, rows[0]) if rows else None

    def _certification(self, session: Session, row: dict[str, Any]) -> Certification:
        return self._certifications(session, [row])[0]

    def latest_builds(self, session: Session) -> dict[str, dict[str, Any]]:
        """The most recently started build of every domain that has one."""
        names = [name for name, _ in TABLES["builds"]]
        query = sql.latest_per(self.table("builds"), names, partition="domain", order="started_at")
        return {row["domain"]: row for row in self._select(session, "builds", query=query)}

    def result_counts(self, session: Session, build_id: str) -> dict[str, int]:
        return self.results_counted(session, [build_id]).get(build_id, dict(_NO_RESULTS))

    def results_counted(self, session: Session, build_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """``{build_id: {"pass": n, "fail": n, "warn": n}}`` for the given builds, in one query."""
        counts: dict[str, dict[str, int]] = {b: dict(_NO_RESULTS) for b in build_ids}
        if not build_ids:
            return counts
        query = sql.count_by(
            self.table("test_results"), ["build_id", "status"], sql.equals({"build_id": list(build_ids)})
        )
        for build_id, status, count in session.query(query):
            counts[str(build_id)][str(status)] = int(count)
        return counts

    def builds_of(
        self, session: Session, domain: str, state: str | None = None, limit: int = 20, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of a domain's builds, newest first, and how many there are in all."""
        where = sql.equals({"domain": domain, **({"state": state} if state else {})})
        names = [name for name, _ in TABLES["builds"]]
        page = sql.select(self.table("builds"), names, where, ["started_at"], True, limit, offset)
        total = session.query(sql.count_rows(sql.select(self.table("builds"), ["build_id"], where)))
        return self._select(session, "builds", query=page), int(total[0][0])

    def certifications_of(
        self, session: Session, domain: str, limit: int = 20, offset: int = 0
    ) -> tuple[list[Certification], int]:
        """A page of a domain's certifications, newest first, and how many there are in all."""
        where = sql.equals({"domain": domain})
        names = [name for name, _ in TABLES["certifications"]]
        page = sql.select(self.table("certifications"), names, where, ["version"], True, limit, offset)
        rows = self._select(session, "certifications", query=page)
        total = session.query(sql.count_rows(sql.select(self.table("certifications"), ["build_id"], where)))
        return self._certifications(session, rows), int(total[0][0])

    def latest_certifications(self, session: Session) -> dict[str, Certification]:
        """The current certification of every domain that has one, in two queries."""
        names = [name for name, _ in TABLES["certifications"]]
        query = sql.latest_per(self.table("certifications"), names, partition="domain", order="version")
        rows = self._select(session, "certifications", query=query)
        return {c.domain: c for c in self._certifications(session, rows)}

    def _certifications(self, session: Session, rows: list[dict[str, Any]]) -> list[Certification]:
        ports: dict[str, list[dict[str, Any]]] = {}
        if rows:
            for port in self._select(session, "port_versions", {"build_id": [r["build_id"] for r in rows]}):
                ports.setdefault(port["build_id"], []).append(port)
        return [_certification(row, ports.get(row["build_id"], [])) for row in rows]

    def exists(self, session: Session) -> bool:
        return self.engine.table_exists(session, self.schema, "builds")


_NO_RESULTS = {"pass": 0, "fail": 0, "warn": 0}


def _certification(row: dict[str, Any], ports: list[dict[str, Any]]) -> Certification:
    return Certification(
        build_id=row["build_id"],
        domain=row["domain"],
        version=int(row["version"]),
        run_id=row["run_id"],
        lineage={k: int(v) for k, v in json.loads(row["lineage"] or "{}").items()},
        certified_at=row["certified_at"],
        ports={p["port"]: (int(p["port_version"]), int(p["row_count"])) for p in ports},
    )
