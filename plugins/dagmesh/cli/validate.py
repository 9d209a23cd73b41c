"""``dagmesh validate``: every check of the mesh, reported together."""

from __future__ import annotations

import argparse
from typing import Any

from dagmesh.airflow.dag_files import dag_file_problems
from dagmesh.cli.common import CliError, add_format_argument, find_project, print_problems
from dagmesh.config.files import GitError
from dagmesh.config.project import Project, load_project
from dagmesh.errors import ConfigError
from dagmesh.mesh.validation import validate


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "validate",
        parents=[shared],
        help="check configs and SQL; path:line:col: message; exit 1 on errors",
        description="Check every config file and SQL file of the mesh and report all problems together.",
    )
    parser.add_argument(
        "--base",
        metavar="GIT_REF",
        help="also report breaking changes to output-port contracts since this git revision",
    )
    add_format_argument(parser)


def check(project: Project, base: str | None = None) -> list[ConfigError]:
    """Every problem ``dagmesh validate`` reports, sorted (raises :class:`GitError` for a bad
    ``base``)."""
    analysis = validate(project, base=base)
    if project.mesh is not None:  # SQL bound against the declared catalog, before any data is touched
        from dagmesh.stages.bind import bind_problems

        project.diagnostics.extend(bind_problems(analysis))
    # Airflow parses one DAG file per domain: a domain without one would silently get no DAG.
    project.diagnostics.extend(dag_file_problems(project.root, project.domain_files))
    return project.diagnostics.sorted()


def run(args: argparse.Namespace) -> int:
    project = load_project(find_project(args.project))
    try:
        problems = check(project, base=args.base)
    except GitError as exc:
        raise CliError(f"cannot read --base {args.base}: {exc}") from exc
    errors = print_problems(problems, args.format)
    if problems:
        files = len({p.path for p in problems})
        print(f"{errors} error(s), {len(problems) - errors} warning(s) in {files} file(s)")
    else:
        print(f"ok: {len(project.domain_files)} domains, no problems")
    if project.mesh is None and project.domain_files:
        waiting = sorted(project.domain_files)
        print(f"not loaded until {project.mesh_path} is fixed: {', '.join(waiting)}")
    return 1 if errors else 0
