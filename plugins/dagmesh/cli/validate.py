"""``dagmesh validate``: every check of the mesh, reported together."""

from __future__ import annotations

import argparse
from typing import Any

from dagmesh.cli.common import CliError, find_project
from dagmesh.config.files import GitError
from dagmesh.config.project import load_project
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
    parser.add_argument(
        "--format",
        choices=("text", "github"),
        default="text",
        help="github: GitHub Actions annotations (::error file=...)",
    )


def run(args: argparse.Namespace) -> int:
    project = load_project(find_project(args.project))
    try:
        validate(project, base=args.base)
    except GitError as exc:
        raise CliError(f"cannot read --base {args.base}: {exc}") from exc
    problems = project.diagnostics.sorted()
    for problem in problems:
        print(github_annotation(problem) if args.format == "github" else problem)
    errors = [p for p in problems if p.is_error]
    warnings = [p for p in problems if not p.is_error]
    if problems:
        files = len({p.path for p in problems})
        print(f"{len(errors)} error(s), {len(warnings)} warning(s) in {files} file(s)")
    else:
        print(f"ok: {len(project.domain_files)} domains, no problems")
    return 1 if errors else 0


def github_annotation(problem: ConfigError) -> str:
    """A GitHub Actions workflow command that annotates the file and line."""
    message = problem.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{problem.severity} file={problem.path},line={problem.line},col={problem.col}::{message}"
