"""``dagmesh status``: latest builds and certifications, from the registry."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dagmesh.cli.common import CliError, Style, open_project, table, target_engine
from dagmesh.engines.base import WarehouseError
from dagmesh.registry.status import DomainStatus, mesh_status
from dagmesh.registry.store import Registry


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "status",
        parents=[shared],
        help="latest builds and certifications (table or --json)",
        description="Show each domain's latest build and what is certified and published.",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per domain")
    parser.add_argument("--env", help="environment to read (default: the active one)")


def run(args: argparse.Namespace) -> int:
    project, analysis = open_project(args.project)
    engine = target_engine(project, args.env)
    names = analysis.graph.order() + sorted(set(project.domain_files) - set(analysis.graph.order()))
    domains = [(n, project.domains[n].layer if n in project.domains else "?") for n in names]
    try:
        with engine.session() as session:
            statuses = mesh_status(Registry(engine), session, domains)
    except WarehouseError as exc:
        raise CliError(f"cannot read the registry: {exc}", code=1) from exc
    if args.json:
        print(json.dumps([s.to_json() for s in statuses], indent=2))
    else:
        print(render(statuses))
    return 0


def render(statuses: list[DomainStatus]) -> str:
    style = Style()
    rows = []
    for s in statuses:
        rows.append(
            [
                s.domain,
                s.layer,
                style.state(s.state),
                f"v{s.version}" if s.version else "-",
                s.certified_at[:19].replace("T", " ") if s.certified_at else "-",
                f"{s.tests_passed} passed, {s.tests_failed} failed"
                + (f", {s.tests_warned} warn" if s.tests_warned else ""),
                s.build_id or "-",
            ]
        )
    lines = [
        table(
            ["DOMAIN", "LAYER", "STATE", "VERSION", "CERTIFIED AT (UTC)", "TESTS", "LATEST BUILD"],
            rows,
        )
    ]
    for s in statuses:
        if s.state == "failed" and s.message:
            lines.append(f"\n{s.domain}: {s.message}")
    return "\n".join(lines)
