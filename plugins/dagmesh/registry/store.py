"""The registry: every build, test result, input and certification, in the warehouse.

It lives in the ``mesh_meta`` schema of the environment's warehouse, as plain tables
anyone can query (``SELECT * FROM mesh_meta.certifications``). Stages write it; the
CLI, the consistency gate and Asset metadata read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dagmesh.engines.base import Engine, Session
from dagmesh.quality.checks import CheckResult

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


def utcnow() -> datetime:
    """Registry timestamps are naive UTC (``TIMESTAMP``/``TIMESTAMP_NTZ``)."""
    return datetime.now(UTC).replace(tzinfo=None)


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

    def table(self, name: str) -> str:
        return self.engine.qualify(self.schema, name)

    def _insert(self, session: Session, table: str, rows: Iterable[Sequence[Any]]) -> None:
        columns = TABLES[table]
        marks = ", ".join(self.engine.placeholder for _ in columns)
        names = ", ".join(name for name, _ in columns)
        session.executemany(f"INSERT INTO {self.table(table)} ({names}) VALUES ({marks})", list(rows))

    def _select(
        self,
        session: Session,
        table: str,
        where: str = "",
        params: Sequence[Any] = (),
        order: str = "",
    ) -> list[dict[str, Any]]:
        names = [name for name, _ in TABLES[table]]
        sql = f"SELECT {', '.join(names)} FROM {self.table(table)}"
        if where:
            sql += f" WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        return [dict(zip(names, row, strict=True)) for row in session.query(sql, params)]

    def _mark(self) -> str:
        return self.engine.placeholder

    # ------------------------------------------------------------------ schema

    def ensure(self, session: Session) -> None:
        """Create the registry schema and tables, and add columns a newer dagmesh needs."""
        session.execute(f"CREATE SCHEMA IF NOT EXISTS {self.engine.schema_ref(self.schema)}")
        engine = self.engine
        rows = session.query(
            f"SELECT LOWER(table_name), LOWER(column_name) FROM {engine.information_schema()}.columns "
            f"WHERE table_schema = {self._mark()}",
            [engine.schema_literal(self.schema)],
        )
        existing: dict[str, set[str]] = {}
        for table, column in rows:
            existing.setdefault(str(table), set()).add(str(column))
        for table, columns in TABLES.items():
            if table not in existing:
                spec = ", ".join(f"{name} {kind}" for name, kind in columns)
                session.execute(f"CREATE TABLE IF NOT EXISTS {self.table(table)} ({spec})")
                continue
            for name, kind in columns:
                if name not in existing[table]:
                    session.execute(f"ALTER TABLE {self.table(table)} ADD COLUMN {name} {kind}")

    # ------------------------------------------------------------------ writes

    def open_build(self, session: Session, build: Build) -> None:
        """Start (or restart, when a run is cleared and re-run) the record of a build.

        A build of the same domain still marked running belongs to a run that was killed
        or stopped before it finished (a domain runs one build at a time): it is marked
        abandoned, so the registry never shows it running forever.
        """
        self.ensure(session)
        m = self._mark()
        for table in ("builds", "model_runs", "test_results", "inputs"):
            session.execute(f"DELETE FROM {self.table(table)} WHERE build_id = {m}", [build.build_id])
        now = utcnow()
        session.execute(
            f"UPDATE {self.table('builds')} SET state = {m}, message = {m}, finished_at = {m} "
            f"WHERE domain = {m} AND state = {m}",
            [
                "abandoned",
                f"abandoned: its run stopped before finishing; build {build.build_id} started after it",
                now,
                build.domain,
                "running",
            ],
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
        m = self._mark()
        session.execute(f"DELETE FROM {self.table('inputs')} WHERE build_id = {m}", [build_id])
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
        m = self._mark()
        session.execute(
            f"DELETE FROM {self.table('model_runs')} WHERE build_id = {m} AND model = {m}",
            [build_id, model],
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
        m = self._mark()
        ids = [r.check.test_id for r in results]
        marks = ", ".join(m for _ in ids)
        session.execute(
            f"DELETE FROM {self.table('test_results')} WHERE build_id = {m} AND test_id IN ({marks})",
            [build_id, *ids],
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
                )
                for r in results
            ],
        )

    def note(self, session: Session, build_id: str, message: str) -> None:
        """Say what a running build is doing (e.g. waiting for an input), for ``dagmesh status``."""
        m = self._mark()
        session.execute(
            f"UPDATE {self.table('builds')} SET message = {m} WHERE build_id = {m}", [message, build_id]
        )

    def finish_build(self, session: Session, build_id: str, state: str, message: str = "") -> None:
        m = self._mark()
        session.execute(
            f"UPDATE {self.table('builds')} SET state = {m}, message = {m}, finished_at = {m} "
            f"WHERE build_id = {m}",
            [state, message, utcnow(), build_id],
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
        m = self._mark()
        rows = session.query(
            f"SELECT COALESCE(MAX(version), 0) + 1 FROM {self.table('certifications')} WHERE domain = {m}",
            [domain],
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
        rows = self._select(session, "builds", f"build_id = {self._mark()}", [build_id])
        return rows[0] if rows else None

    def model_runs(self, session: Session, build_id: str) -> list[dict[str, Any]]:
        return self._select(session, "model_runs", f"build_id = {self._mark()}", [build_id], "built_at")

    def results(self, session: Session, build_id: str) -> list[dict[str, Any]]:
        return self._select(session, "test_results", f"build_id = {self._mark()}", [build_id], "test_id")

    def inputs(self, session: Session, build_id: str) -> list[dict[str, Any]]:
        return self._select(session, "inputs", f"build_id = {self._mark()}", [build_id], "port")

    def certification(self, session: Session, build_id: str) -> Certification | None:
        rows = self._select(session, "certifications", f"build_id = {self._mark()}", [build_id])
        return self._certification(session, rows[0]) if rows else None

    def latest_certification(self, session: Session, domain: str) -> Certification | None:
        m = self._mark()
        rows = self._select(
            session,
            "certifications",
            f"domain = {m} AND version = (SELECT MAX(version) FROM {self.table('certifications')} "
            f"WHERE domain = {m})",
            [domain, domain],
        )
        return self._certification(session, rows[0]) if rows else None

    def _certification(self, session: Session, row: dict[str, Any]) -> Certification:
        ports = self._select(session, "port_versions", f"build_id = {self._mark()}", [row["build_id"]])
        return Certification(
            build_id=row["build_id"],
            domain=row["domain"],
            version=int(row["version"]),
            run_id=row["run_id"],
            lineage={k: int(v) for k, v in json.loads(row["lineage"] or "{}").items()},
            certified_at=row["certified_at"],
            ports={p["port"]: (int(p["port_version"]), int(p["row_count"])) for p in ports},
        )

    def latest_builds(self, session: Session) -> dict[str, dict[str, Any]]:
        """The most recently started build of every domain that has one."""
        builds = self.table("builds")
        rows = self._select(
            session,
            "builds",
            f"started_at = (SELECT MAX(b2.started_at) FROM {builds} b2 WHERE b2.domain = {builds}.domain)",
        )
        return {row["domain"]: row for row in rows}

    def result_counts(self, session: Session, build_id: str) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "warn": 0}
        for row in session.query(
            f"SELECT status, COUNT(*) FROM {self.table('test_results')} WHERE build_id = {self._mark()} "
            "GROUP BY status",
            [build_id],
        ):
            counts[str(row[0])] = int(row[1])
        return counts

    def exists(self, session: Session) -> bool:
        return self.engine.table_exists(session, self.schema, "builds")
