"""What every stage of one build needs: the domain, its engine, registry and run ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from dagmesh.config.model import Domain, Mesh
from dagmesh.config.project import Project
from dagmesh.engines.base import Engine, QueryTag, Session
from dagmesh.mesh.graph import MeshGraph
from dagmesh.registry.store import Build, Registry


class StageFailure(Exception):
    """A stage refused to go on because of the data or the config, not a crash.

    Retrying does not help; the message says what is wrong and, where useful, what to do;
    ``details`` are the lines that show it (one per failed check, what stays published).
    """

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = list(details)


def build_id_for(dag_id: str, run_id: str) -> str:
    """One stable build id per DAG run, so every task of the run agrees without XCom."""
    digest = hashlib.sha256(f"{dag_id}\0{run_id}".encode()).hexdigest()[:12]
    return f"{dag_id}-{digest}"


@dataclass(frozen=True)
class BuildContext:
    project: Project
    mesh: Mesh
    graph: MeshGraph
    domain: Domain
    engine: Engine
    dag_id: str
    run_id: str
    logical_date: datetime | None = None
    full_refresh: bool = False

    @cached_property
    def build_id(self) -> str:
        return build_id_for(self.dag_id, self.run_id)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.engine)

    @cached_property
    def config_version(self) -> str:
        """The fingerprint of the domain's config and SQL as this task reads them."""
        return self.project.config_version(self.domain.name)

    def check_config_unchanged(self, session: Session) -> None:
        """Fail when the domain's config or SQL changed since this run's first task.

        Every task of a run must use one version of the config; a task that would use
        another one stops (and the build is recorded as failed) instead of mixing them.
        """
        build = self.registry.build(session, self.build_id)
        started = build["config_version"] if build else None
        if started and started != self.config_version:
            raise self.fail(
                session,
                f"the config of domain {self.domain.name} changed while this run was in progress: the run "
                f"started with config version {started}, the files now give {self.config_version}. "
                "Nothing is published from this run; the next run uses the new config",
            )

    @property
    def environment(self) -> str:
        return self.engine.environment.name

    @contextmanager
    def session(self, stage: str) -> Iterator[Session]:
        """A warehouse session whose statements are tagged with this build and stage."""
        tag = QueryTag(self.mesh.name, self.domain.name, stage, self.run_id, self.build_id)
        with self.engine.session(tag) as session:
            yield session

    def build_record(self) -> Build:
        return Build(
            build_id=self.build_id,
            domain=self.domain.name,
            layer=self.domain.layer,
            environment=self.environment,
            dag_id=self.dag_id,
            run_id=self.run_id,
            logical_date=self.logical_date.replace(tzinfo=None) if self.logical_date else None,
            full_refresh=self.full_refresh,
            config_version=self.config_version,
        )

    def fail(self, session: Session, message: str, details: Sequence[str] = ()) -> StageFailure:
        """Record the build as failed with ``message``; returns the error to raise."""
        self.registry.finish_build(session, self.build_id, "failed", message)
        return StageFailure(message, details)
