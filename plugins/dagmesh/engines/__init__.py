"""Warehouse engines. :func:`engine_for` picks the one an environment names."""

from __future__ import annotations

from pathlib import Path

from dagmesh.config.model import Environment, Mesh
from dagmesh.engines.base import Engine, QueryTag, Session, WarehouseError

__all__ = ["Engine", "QueryTag", "Session", "WarehouseError", "engine_for"]


def engine_for(project_root: Path, mesh: Mesh, environment: Environment) -> Engine:
    """The engine for ``environment``; imports only that engine's driver."""
    if environment.engine == "duckdb":
        from dagmesh.engines.duckdb import DuckDBEngine

        return DuckDBEngine(project_root, mesh, environment)
    from dagmesh.engines.snowflake import SnowflakeEngine

    return SnowflakeEngine(project_root, mesh, environment)
