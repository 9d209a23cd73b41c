"""``dagmesh validate``: every check of the mesh, reported together."""

from __future__ import annotations

import argparse
from typing import Any

from dagmesh.cli.common import open_project


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    commands.add_parser(
        "validate",
        parents=[shared],
        help="check configs and SQL; path:line:col: message; exit 1 on errors",
        description="Check every config file and SQL file of the mesh and report all problems together.",
    )


def run(args: argparse.Namespace) -> int:
    project, _ = open_project(args.project)
    problems = project.diagnostics.sorted()
    for problem in problems:
        print(problem)
    errors = [p for p in problems if p.is_error]
    warnings = [p for p in problems if not p.is_error]
    files = len({p.path for p in problems})
    if problems:
        print(f"{len(errors)} error(s), {len(warnings)} warning(s) in {files} file(s)")
    else:
        print(f"ok: {len(project.domain_files)} domains, no problems")
    return 1 if errors else 0
