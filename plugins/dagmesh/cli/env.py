"""``dagmesh env``: isolated environments for feature branches (create, list, drop)."""

from __future__ import annotations

import argparse
from typing import Any

from dagmesh.cli.common import CliError, engine_of, open_project, table
from dagmesh.config.environments import (
    ENV_VAR,
    active_environment_name,
    branch_environment,
    created_environments,
    environments,
    forget_environment,
    record_environment,
)
from dagmesh.config.model import Environment, SnowflakeEnvironment, environment_path
from dagmesh.config.project import Project
from dagmesh.config.types import IDENTIFIER
from dagmesh.engines.base import WarehouseError
from dagmesh.errors import did_you_mean


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "env",
        parents=[shared],
        help="create, list and drop isolated environments (DuckDB file copy, Snowflake clone)",
        description="Environments for feature branches: a copy of an environment's warehouse where the "
        "whole mesh can run without touching it.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="copy an environment into a new one")
    create.add_argument("name", help="the new environment (a lowercase identifier)")
    create.add_argument(
        "--from", dest="source", metavar="ENV", help="environment to copy (default: the active one)"
    )
    create.add_argument(
        "--print", action="store_true", help="print what would run (SQL on Snowflake) and stop"
    )
    drop = actions.add_parser("drop", help="delete an environment made by env create")
    drop.add_argument("name")
    drop.add_argument("--print", action="store_true", help="print what would run and stop")
    actions.add_parser("list", help="environments of mesh.yaml and those env create made")


def run(args: argparse.Namespace) -> int:
    project, _ = open_project(args.project)
    return {"create": _create, "drop": _drop, "list": _list}[args.action](project, args)


def _create(project: Project, args: argparse.Namespace) -> int:
    mesh = project.mesh
    assert mesh is not None
    known = environments(mesh, project.root)
    if not IDENTIFIER.match(args.name):
        raise CliError(
            f"environment name must be a lowercase identifier (letters, digits, _), not '{args.name}'"
        )
    if args.name in known:
        raise CliError(f"environment '{args.name}' already exists")
    source_name = args.source or active_environment_name(mesh)
    if source_name not in known:
        raise CliError(f"unknown environment '{source_name}'{did_you_mean(source_name, known)}")
    source = known[source_name]
    target = branch_environment(source, args.name)
    engine = engine_of(project, source)
    _show(source, engine.branch_plan(target))
    if args.print:
        return 0
    try:
        engine.create_branch(target)
    except WarehouseError as exc:
        raise CliError(str(exc), code=1) from exc
    record_environment(project.root, target)
    print(f"created environment '{target.name}' from '{source.name}'")
    print(f"  run the mesh there:   dagmesh run --env {target.name}")
    print(f"  point Airflow at it:  {ENV_VAR}={target.name} (or the dagmesh_env Airflow Variable)")
    return 0


def _drop(project: Project, args: argparse.Namespace) -> int:
    mesh = project.mesh
    assert mesh is not None
    if args.name in mesh.environments:
        raise CliError(
            f"'{args.name}' is defined in {mesh.path}; dagmesh env drop only drops environments it created"
        )
    created = created_environments(project.root)
    if args.name not in created:
        raise CliError(f"no environment '{args.name}' was created here{did_you_mean(args.name, created)}")
    engine = engine_of(project, created[args.name])
    _show(created[args.name], engine.drop_plan())
    if args.print:
        return 0
    try:
        engine.drop()
    except WarehouseError as exc:
        raise CliError(str(exc), code=1) from exc
    forget_environment(project.root, args.name)
    print(f"dropped environment '{args.name}'")
    return 0


def _show(env: Environment, plan: list[str]) -> None:
    """Print what is about to run: SQL statements on Snowflake, steps on DuckDB."""
    for step in plan:
        print(f"{step};" if env.engine == "snowflake" else step)


def _list(project: Project, args: argparse.Namespace) -> int:
    mesh = project.mesh
    assert mesh is not None
    active = active_environment_name(mesh)
    rows = []
    for env in environments(mesh, project.root).values():
        if isinstance(env, SnowflakeEnvironment):
            where = f"database {env.database} via {env.conn_id}"
        else:
            where = environment_path(env) or ""
        origin = f"env create (from {env.cloned_from})" if env.name not in mesh.environments else "mesh.yaml"
        rows.append([("* " if env.name == active else "  ") + env.name, env.engine, where, origin])
    print(table(["ENVIRONMENT", "ENGINE", "WAREHOUSE", "DEFINED BY"], rows))
    return 0
