"""Which environment a process targets, and the branch environments ``dagmesh env`` made.

``DAGMESH_ENV`` (set by ``dagmesh run --env`` and usable in an Airflow deployment)
wins over ``default_environment`` in ``mesh.yaml``. Besides the environments of
``mesh.yaml``, a project has the ones ``dagmesh env create`` recorded in
``.dagmesh/environments.yaml``: isolated copies (a DuckDB file, a Snowflake database
clone) where a feature branch can run the whole mesh without touching production.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import TypeAdapter, ValidationError

from dagmesh.config.located import locate
from dagmesh.config.model import (
    AnyEnvironment,
    DuckDBEnvironment,
    Environment,
    Mesh,
    default_duckdb_path,
    with_default_path,
)
from dagmesh.errors import Location

ENV_VAR = "DAGMESH_ENV"
STATE_FILE = Path(".dagmesh") / "environments.yaml"
#: Airflow pool of the warehouse tasks on an embedded DuckDB file.
DUCKDB_POOL = "dagmesh_duckdb"
#: Its slots: how many warehouse tasks may run at once. They take turns on the file itself
#: (one writing process at a time; each task holds it only while a statement batch runs, and
#: waits up to ``engines.duckdb.LOCK_WAIT_SECONDS`` for it), so independent domains start
#: and finish their tasks side by side instead of queueing whole tasks behind one another.
DUCKDB_POOL_SLOTS = 4


class UnknownEnvironment(Exception):
    pass


def active_environment_name(mesh: Mesh, override: str | None = None) -> str:
    return override or os.environ.get(ENV_VAR) or mesh.default_environment


_ENVIRONMENT: TypeAdapter[Environment] = TypeAdapter(AnyEnvironment)


def make_environment(name: str, settings: dict[str, Any], where: Location) -> Environment:
    """An environment from its settings (as ``mesh.yaml`` would hold them), called ``name``.

    Raises :class:`pydantic.ValidationError` for settings ``mesh.yaml`` would refuse.
    """
    env = with_default_path(name, _ENVIRONMENT.validate_python(settings))
    locate({name: env}, None, where)
    return env


def created_environments(root: Path) -> dict[str, Environment]:
    """The environments ``dagmesh env create`` recorded for the project at ``root`` (a record
    that no longer reads as an environment is left out)."""
    where = Location(STATE_FILE.as_posix())
    found = {}
    for name, record in _records(root / STATE_FILE).items():
        settings = {k: v for k, v in (record or {}).items() if k != "created_at"}
        try:
            found[str(name)] = make_environment(str(name), settings, where)
        except ValidationError:
            continue
    return found


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
    settings = settings_of(base)
    if isinstance(base, DuckDBEnvironment):
        settings["path"] = default_duckdb_path(name)
    else:
        settings["database"] = f"{(settings.get('database') or '').upper()}_{name.upper()}"
    return make_environment(name, {**settings, "cloned_from": base.name}, base.loc)


def settings_of(env: Environment) -> dict[str, Any]:
    """An environment's settings as ``mesh.yaml`` would write them."""
    return env.model_dump(mode="json", exclude_none=True)


def record_environment(root: Path, env: Environment) -> None:
    records = _records(root / STATE_FILE)
    record = settings_of(env)
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
    """The Airflow pool warehouse tasks run in: `dagmesh_duckdb` for a DuckDB file, none on Snowflake."""
    if env is None:
        return None
    if env.pool:
        return env.pool
    return DUCKDB_POOL if env.engine == "duckdb" else None
