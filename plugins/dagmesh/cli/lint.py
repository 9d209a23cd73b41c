"""``dagmesh lint``: sqlfluff over the mesh's SQL, with dagmesh's Jinja functions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dagmesh.cli.common import CliError, add_format_argument, find_project, print_problems
from dagmesh.errors import ConfigError

#: Used when the project has no .sqlfluff of its own.
DEFAULTS: dict[str, Any] = {"dialect": "snowflake"}
#: Whatever the project's .sqlfluff says: templates render only by dagmesh's rules.
FORCED: dict[str, Any] = {"templater": "dagmesh"}


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "lint",
        parents=[shared],
        help="sqlfluff over sql/ with ref/source/port understood",
        description="Lint SQL files with sqlfluff (Snowflake dialect, the project's .sqlfluff).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: sql/)")
    add_format_argument(parser)


def _config(root: Path) -> Any:
    """The project's sqlfluff settings with dagmesh's templater (and the Snowflake dialect
    unless they name one); a broken or foreign ``.sqlfluff`` is one clear message."""
    import configparser

    from sqlfluff.core import FluffConfig
    from sqlfluff.core.errors import SQLFluffUserError

    try:
        config = FluffConfig.from_path(str(root), overrides=FORCED, require_dialect=False)
        if not config.get("dialect"):
            config = FluffConfig.from_path(str(root), overrides={**DEFAULTS, **FORCED})
        config.get("dialect_obj")
    except (configparser.Error, SQLFluffUserError, KeyError, ValueError) as exc:
        reason = str(exc).splitlines()[0].strip("'\"") or type(exc).__name__
        raise CliError(f".sqlfluff cannot be used: {reason}", code=1) from exc
    chosen = _file_setting(root, "templater")
    if chosen and chosen != "dagmesh":
        print(
            f"note: .sqlfluff sets templater = {chosen}; dagmesh lint renders with its own "
            "(set `templater = dagmesh` so plain sqlfluff does too)",
            file=sys.stderr,
        )
    return config


def _file_setting(root: Path, key: str) -> str | None:
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read(root / ".sqlfluff")
    except configparser.Error:
        return None
    return parser.get("sqlfluff", key, fallback=None)


def lint(root: Path, paths: list[str]) -> list[ConfigError]:
    """Every sqlfluff violation under ``paths`` (relative to ``root``), as located problems."""
    from sqlfluff.core import Linter

    config = _config(root)
    targets = []
    for path in paths:
        target = (root / path).resolve()
        if not target.exists():
            raise CliError(f"{path}: no such file or folder")
        targets.append(str(target))
    result = Linter(config=config).lint_paths(tuple(targets))
    problems = []
    for record in result.as_records():
        display = Path(record["filepath"]).resolve().relative_to(root.resolve()).as_posix()
        for violation in record["violations"]:
            message = f"{violation['code']} {violation['description']} [{violation.get('name', '')}]"
            problems.append(
                ConfigError(
                    display,
                    int(str(violation["start_line_no"])),
                    int(str(violation["start_line_pos"])),
                    message.replace(" []", ""),
                    "warning" if violation.get("warning") else "error",
                )
            )
    return sorted(problems)


def run(args: argparse.Namespace) -> int:
    root = find_project(args.project)
    problems = lint(root, args.paths or ["sql"])
    errors = print_problems(problems, args.format)
    if problems:
        print(f"{len(problems)} violation(s) in {len({p.path for p in problems})} file(s)")
    else:
        print("ok: no lint violations")
    return 1 if errors else 0
