"""Which environment of the mesh a process targets.

``DAGMESH_ENV`` (set by ``dagmesh run --env`` and usable in an Airflow deployment)
wins over ``default_environment`` in ``mesh.yaml``.
"""

from __future__ import annotations

import os

from dagmesh.config.model import Environment, Mesh

ENV_VAR = "DAGMESH_ENV"


class UnknownEnvironment(Exception):
    pass


def active_environment_name(mesh: Mesh, override: str | None = None) -> str:
    return override or os.environ.get(ENV_VAR) or mesh.default_environment


def environment(mesh: Mesh, name: str | None = None) -> Environment:
    """The environment called ``name`` (default: the active one), or a clear error."""
    name = active_environment_name(mesh, name)
    if name not in mesh.environments:
        known = ", ".join(sorted(mesh.environments))
        raise UnknownEnvironment(f"unknown environment '{name}'; {mesh.path} defines: {known}")
    return mesh.environments[name]


#: Airflow pool that serializes warehouse tasks on an embedded DuckDB file.
DUCKDB_POOL = "dagmesh_duckdb"


def warehouse_pool(mesh: Mesh, name: str) -> str | None:
    """The Airflow pool warehouse tasks run in: one slot for a DuckDB file, none on Snowflake."""
    env = mesh.environments.get(name)
    if env is None:
        return None
    if env.pool:
        return env.pool
    return DUCKDB_POOL if env.engine == "duckdb" else None
