"""A local build (``dagmesh run``) that is asked to stop records itself abandoned."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from dagmesh.config.environments import environment
from dagmesh.config.project import load_project
from dagmesh.engines import engine_for
from dagmesh.mesh.analysis import analyze
from dagmesh.stages.local import Stopped, TaskDone, local_context, run_build
from dagmesh.stages.tasks import StageTask, domain_tasks


def test_a_build_stopped_between_tasks_is_recorded_abandoned_and_nothing_is_published(seeded: Path) -> None:
    analysis = analyze(load_project(seeded))
    project, mesh = analysis.project, analysis.project.mesh
    assert mesh is not None
    engine = engine_for(project.root, mesh, environment(mesh, project.root))
    domain = project.domains["product"]
    ctx = local_context(project, analysis.graph, domain, engine, False, datetime.now(UTC))
    tasks = domain_tasks(domain, analysis.model_order["product"], analysis.model_refs["product"])
    stop = threading.Event()
    ran: list[str] = []

    class Listener:
        def started(self, task: StageTask) -> None:
            pass

        def finished(self, done: TaskDone) -> None:
            ran.append(done.task.task_id)
            stop.set()  # SIGTERM arrives while the first task runs

    with pytest.raises(Stopped):
        run_build(ctx, tasks, Listener(), stop)

    assert ran == ["check_inputs.sources"]
    with duckdb.connect(str(seeded / ".dagmesh" / "warehouse.duckdb")) as con:
        assert con.execute("SELECT state, message FROM mesh_meta.builds").fetchall() == [
            ("abandoned", "abandoned: dagmesh run was stopped before the build finished")
        ]
        assert con.execute("SELECT COUNT(*) FROM mesh_meta.certifications").fetchall() == [(0,)]
