"""From an Airflow task's context to the stages' :class:`BuildContext`.

Runs only inside task execution, never at DAG-parse time: this is where the
warehouse engine (and its driver) is first touched.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from dagmesh.config.environments import ENV_VAR, UnknownEnvironment, environment
from dagmesh.config.project import Project, load_project
from dagmesh.engines import engine_for
from dagmesh.mesh.graph import MeshGraph
from dagmesh.stages.context import BuildContext, StageFailure

#: Airflow Variable that points running DAGs at another environment (see ``dagmesh env``).
ENV_VARIABLE = "dagmesh_env"


def project_at(project_dir: str) -> Project:
    project = load_project(Path(project_dir))
    if project.mesh is None:
        problems = "; ".join(str(p) for p in project.diagnostics.errors[:5])
        raise StageFailure(f"the mesh configuration is invalid: {problems}")
    return project


def build_context(project_dir: str, domain_name: str, context: Any) -> BuildContext:
    """The build context of the running task (DAG run id, params, environment)."""
    project = project_at(project_dir)
    mesh = project.mesh
    assert mesh is not None
    domain = project.domains.get(domain_name)
    if domain is None:
        problems = [
            str(p) for p in project.diagnostics.errors if p.path == project.domain_files.get(domain_name)
        ]
        raise StageFailure(
            f"the config of domain {domain_name} is invalid: " + ("; ".join(problems) or "domain not found")
        )
    try:
        env = environment(mesh, project.root, _environment_override())
    except UnknownEnvironment as exc:
        raise StageFailure(str(exc)) from exc
    dag_run = context["dag_run"]
    params = context.get("params") or {}
    logical_date: datetime | None = getattr(dag_run, "logical_date", None)
    return BuildContext(
        project=project,
        mesh=mesh,
        graph=MeshGraph(project.domains, mesh.policy.layers),
        domain=domain,
        engine=engine_for(project.root, mesh, env),
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        logical_date=logical_date,
        full_refresh=bool(params.get("full_refresh", False)),
    )


def upstream_schedule(project_dir: str, upstream: str) -> tuple[str, str] | str:
    """The upstream's cron and the mesh's timezone, as its config says now; or why not.

    Read when a sensor runs, so that a consumer's DAG does not depend on its upstreams'
    configs (a broken upstream leaves its consumers waiting, not re-wired).
    """
    project = load_project(Path(project_dir), only=upstream)
    if project.mesh is None:
        return "the mesh configuration is invalid: " + _first_problems(project, project.mesh_path)
    domain = project.domains.get(upstream)
    if domain is None:
        path = project.domain_files.get(upstream)
        if path is None:
            return f"there is no domain {upstream} in {project.root / 'dag_configs'}"
        return f"its config is invalid: {_first_problems(project, path)}"
    if domain.schedule.cron is None:
        return f"{upstream} is no longer on a cron schedule ({domain.schedule.kind}); nothing can be aligned"
    return domain.schedule.cron, project.mesh.defaults.timezone


def _first_problems(project: Project, path: str) -> str:
    problems = [str(p) for p in project.diagnostics.errors if p.path == path] or [
        str(p) for p in project.diagnostics.errors
    ]
    return "; ".join(problems[:3]) + (f" and {len(problems) - 3} more" if len(problems) > 3 else "")


def _environment_override() -> str | None:
    """``DAGMESH_ENV`` wins; otherwise the ``dagmesh_env`` Airflow Variable, if set."""
    if os.environ.get(ENV_VAR):
        return None
    from airflow.sdk import Variable

    # Not guarded: if the Variable cannot be read, running against the default
    # environment instead could write where nobody meant to.
    value = Variable.get(ENV_VARIABLE, default=None)
    return str(value) if value else None
