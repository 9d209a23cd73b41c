"""Which environment a process targets, and the branch environments ``dagmesh env`` made.

``DAGMESH_ENV`` (set by ``dagmesh run --env`` and usable in an Airflow deployment)
wins over ``default_environment`` in ``mesh.yaml``. Besides the environments of
``mesh.yaml``, a project has the ones ``dagmesh env create`` recorded in
``.dagmesh/environments.yaml``: isolated copies (a DuckDB file, a Snowflake database
clone) where a feature branch can run the whole mesh without touching production.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import yaml

from dagmesh.config.model import Environment, Mesh, default_duckdb_path
from dagmesh.errors import Location

ENV_VAR = "DAGMESH_ENV"
STATE_FILE = Path(".dagmesh") / "environments.yaml"
#: Airflow pool that serializes warehouse tasks on an embedded DuckDB file.
DUCKDB_POOL = "dagmesh_duckdb"


class UnknownEnvironment(Exception):
    pass


def active_environment_name(mesh: Mesh, override: str | None = None) -> str:
    return override or os.environ.get(ENV_VAR) or mesh.default_environment


def created_environments(root: Path) -> dict[str, Environment]:
    """The environments ``dagmesh env create`` recorded for the project at ``root``."""
    records = _records(root / STATE_FILE)
    where = Location(STATE_FILE.as_posix())
    fields = {f.name for f in dataclasses.fields(Environment)} - {"name", "loc"}
    return {
        name: Environment(name=name, loc=where, **{k: v for k, v in record.items() if k in fields})
        for name, record in records.items()
    }


def environments(mesh: Mesh, root: Path) -> dict[str, Environment]:
    """Every environment of the project: mesh.yaml's, then the created ones."""
    return {**created_environments(root), **mesh.environments}


def environment(mesh: Mesh, root: Path, name: str | None = None) -> Environment:
    """The environment called ``name`` (default: the active one), or a clear error."""
    name = active_environment_name(mesh, name)
    known = environments(mesh, root)
    if name not in known:
        message = f"unknown environment '{name}'; {mesh.path} defines {', '.join(sorted(mesh.environments))}"
        created = sorted(set(known) - set(mesh.environments))
        if created:
            message += f" and dagmesh env created {', '.join(created)}"
        raise UnknownEnvironment(message)
    return known[name]


def branch_environment(base: Environment, name: str) -> Environment:
    """An isolated copy of ``base`` called ``name``: its own DuckDB file or Snowflake database."""
    if base.engine == "duckdb":
        return dataclasses.replace(base, name=name, path=default_duckdb_path(name), cloned_from=base.name)
    database = f"{(base.database or '').upper()}_{name.upper()}"
    return dataclasses.replace(base, name=name, database=database, cloned_from=base.name)


def record_environment(root: Path, env: Environment) -> None:
    records = _records(root / STATE_FILE)
    record = {k: v for k, v in dataclasses.asdict(env).items() if k not in ("name", "loc") and v is not None}
    records[env.name] = {**record, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    _write(root / STATE_FILE, records)


def forget_environment(root: Path, name: str) -> None:
    records = _records(root / STATE_FILE)
    records.pop(name, None)
    _write(root / STATE_FILE, records)


def _records(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return cast(dict[str, Any], yaml.safe_load(path.read_text()) or {})


def _write(path: Path, records: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Environments made by `dagmesh env create` (local state; not part of the mesh's config).\n"
    path.write_text(header + (yaml.safe_dump(records, sort_keys=False) if records else ""))


def warehouse_pool(env: Environment | None) -> str | None:
    """The Airflow pool warehouse tasks run in: one slot for a DuckDB file, none on Snowflake."""
    if env is None:
        return None
    if env.pool:
        return env.pool
    return DUCKDB_POOL if env.engine == "duckdb" else None
