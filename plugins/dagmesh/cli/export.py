"""``dagmesh export``: the mesh's contracts (ODCS) and products (ODPS) as YAML documents."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from dagmesh.cli.common import CliError, open_project, select_domains
from dagmesh.export.odcs import port_contract
from dagmesh.export.odps import data_product


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "export",
        parents=[shared],
        help="ODCS data contracts of output ports, or ODPS data products of domains",
        description=(
            "Export an ODCS v3.1 data contract per output port (--format odcs) or an ODPS v1.0 data "
            "product per domain (--format odps), as YAML documents on standard output or files in --out."
        ),
    )
    parser.add_argument("domains", nargs="*", metavar="DOMAIN", help="only these domains (default: all)")
    parser.add_argument("--format", choices=("odcs", "odps"), required=True)
    parser.add_argument("--out", metavar="DIR", help="write one file per document into DIR")


def documents(start: str | None, format: str, names: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """``(file name, document)`` for each exported contract or product, in dependency order."""
    project, analysis = open_project(start)
    assert project.mesh is not None
    selected = select_domains(analysis, names)
    broken = [n for n in selected if n not in analysis.buildable()]
    if broken:
        raise CliError(f"{', '.join(broken)}: config errors (see dagmesh validate); nothing exported", code=1)
    found = []
    for name in selected:
        domain = project.domains[name]
        if format == "odps":
            found.append((f"{name}.odps.yaml", data_product(project.mesh, domain, project.domains)))
        else:
            for port in domain.outputs.values():
                found.append((f"{name}.{port.name}.odcs.yaml", port_contract(project.mesh, domain, port)))
    return found


def run(args: argparse.Namespace) -> int:
    exported = documents(args.project, args.format, args.domains)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for filename, document in exported:
            (out / filename).write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
            print(f"wrote {out / filename}")
        return 0
    print(yaml.safe_dump_all([d for _, d in exported], sort_keys=False, allow_unicode=True), end="")
    return 0
