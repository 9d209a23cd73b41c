"""``dagmesh grants``: the access-control SQL certify applies, for review."""

from __future__ import annotations

import argparse
from typing import Any

from dagmesh.cli.common import CliError, open_project, select_domains, target_engine
from dagmesh.mesh.access import domain_access


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "grants",
        parents=[shared],
        help="print the access-control SQL (roles and grants) for an environment",
        description="Print the statements certify runs after each publish: one database role per output "
        "port, and each consumer domain's role granted the ports it declares in consumes.",
    )
    parser.add_argument("--env", help="environment (default: the active one)")
    parser.add_argument("domains", nargs="*", metavar="DOMAIN", help="only these domains' ports")


def run(args: argparse.Namespace) -> int:
    project, analysis = open_project(args.project)
    engine = target_engine(project, args.env)
    names = select_domains(analysis, args.domains) if args.domains else analysis.graph.order()
    broken = [n for n in names if n not in project.domains]
    if broken:
        raise CliError(f"{', '.join(broken)}: config errors (run dagmesh validate)", code=1)
    statements = {
        name: engine.grant_sql(domain_access(project.domains[name], analysis.graph)) for name in names
    }
    if not any(statements.values()):
        print(f"-- {engine.describe()} has no access control: there is nothing to grant.")
        return 0
    print(f"-- Access control for {engine.describe()}; certify runs these after every publish.")
    for name, domain_statements in statements.items():
        print(f"\n-- {name}")
        for statement in domain_statements:
            print(f"{statement};")
    return 0
