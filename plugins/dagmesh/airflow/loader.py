"""The entry point of ``dags/``: every domain's DAG from the project's configs.

One broken domain must not take the others down. The loader builds the DAG of
every domain whose config and SQL are valid and, when some are broken, adds one
placeholder DAG whose ``validate()`` raises :class:`MeshConfigInvalid` with every
problem as ``path:line:col: error: message``. The DagBag validates each DAG on its
own, so the placeholder lands in ``import_errors`` (the "DAG Import Errors" of the
UI) while the valid domains load normally.

When Airflow runs a single task it sets the parsing context's dag id; then only
that domain's DAG is built.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import DAG, get_parsing_context

from dagmesh.config.environments import active_environment_name
from dagmesh.config.project import load_project
from dagmesh.errors import ConfigError
from dagmesh.mesh.analysis import analyze

#: The dag id of the placeholder that carries config errors into ``import_errors``.
CONFIG_ERRORS_DAG_ID = "dagmesh_config_errors"
PROJECT_DIR_VAR = "DAGMESH_PROJECT_DIR"


class MeshConfigInvalid(Exception):
    """Some domains of the mesh have config or SQL errors and get no DAG."""


class ConfigErrorsDag(DAG):
    """A DAG that refuses validation, so its message becomes an import error."""

    def validate(self) -> None:
        raise MeshConfigInvalid(self.doc_md or "invalid mesh configuration")


def project_dir_for(dags_file: str) -> Path:
    """The project a ``dags/`` file belongs to: ``$DAGMESH_PROJECT_DIR`` or the parent of dags/."""
    configured = os.environ.get(PROJECT_DIR_VAR)
    return Path(configured) if configured else Path(dags_file).resolve().parent.parent


def load_mesh_dags(dags_file: str) -> dict[str, DAG]:
    """The DAGs for the project of ``dags_file``, by dag id (put them in the module globals)."""
    requested = get_parsing_context().dag_id
    project = load_project(project_dir_for(dags_file), only=requested)
    analysis = analyze(project)
    from dagmesh.airflow.factory import build_dags

    environment = active_environment_name(project.mesh) if project.mesh else ""
    dags: dict[str, DAG] = dict(build_dags(analysis, environment, only=requested))
    if requested is not None:
        return dags
    broken = analysis.broken()
    if broken:
        dags[CONFIG_ERRORS_DAG_ID] = _errors_dag(broken)
    return dags


def _errors_dag(broken: dict[str, list[ConfigError]]) -> DAG:
    lines = []
    for name in sorted(broken):
        problems = broken[name] or []
        if problems:
            lines += [f"domain {name} is not loaded:"] + [f"  {p}" for p in problems]
        else:
            lines.append(f"domain {name} is not loaded: it depends on a broken domain")
    return ConfigErrorsDag(CONFIG_ERRORS_DAG_ID, schedule=None, doc_md="\n".join(lines))
