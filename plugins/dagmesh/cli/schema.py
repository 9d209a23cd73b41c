"""``dagmesh schema``: the JSON Schema of mesh.yaml and of a domain file, for editors and CI."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dagmesh.cli.common import CliError, find_project
from dagmesh.config.schema import SCHEMA_DIR, SCHEMAS, schema_text


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "schema",
        parents=[shared],
        help="print the JSON Schema of mesh.yaml or of a domain file",
        description=(
            "Print the JSON Schema of a config file, made from dagmesh's config models. With --write, "
            f"write both to {SCHEMA_DIR}/ in the project, where the configs' yaml-language-server "
            "comments point editors."
        ),
    )
    parser.add_argument("kind", nargs="?", choices=sorted(SCHEMAS), help="which schema to print")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write both schemas to {SCHEMA_DIR}/")
    mode.add_argument("--check", action="store_true", help=f"exit 1 when {SCHEMA_DIR}/ is not up to date")


def run(args: argparse.Namespace) -> int:
    if not (args.write or args.check):
        if args.kind is None:
            raise CliError("name the schema to print: mesh or domain (or use --write)")
        print(schema_text(args.kind), end="")
        return 0
    root = find_project(args.project)
    stale = []
    for kind, (_, filename) in SCHEMAS.items():
        path = Path(root) / SCHEMA_DIR / filename
        text = schema_text(kind)
        current = path.read_text() if path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(f"{SCHEMA_DIR}/{filename}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {SCHEMA_DIR}/{filename}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run `dagmesh schema --write`")
        return 1
    if args.check:
        print(f"ok: {SCHEMA_DIR}/ matches this dagmesh")
    return 0
