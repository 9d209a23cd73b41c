"""``dagmesh init DIR`` (a new project that runs at once) and ``dagmesh new DOMAIN`` (a domain)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from dagmesh.airflow.dag_files import apply_plan, plan_dag_files
from dagmesh.cli.common import CliError, open_project
from dagmesh.cli.scaffold import domain_files, project_files
from dagmesh.config.model import Domain, OutputPort
from dagmesh.config.project import load_project
from dagmesh.config.schema import SCHEMA_DIR, schema_files
from dagmesh.config.types import IDENTIFIER
from dagmesh.errors import did_you_mean


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    init = commands.add_parser(
        "init",
        help="create a new project that runs at once (DuckDB dev, Snowflake prod template, two domains)",
        description="Create a dagmesh project in DIR: mesh.yaml, a mastered and an integrated domain "
        "with CSV data, Airflow's DAG files, .sqlfluff, .gitignore, pre-commit and CI examples.",
    )
    init.add_argument("directory", metavar="DIR", help="where to create it (must not exist, or be empty)")
    init.add_argument("--name", help="the mesh's name (default: from DIR)")
    init.set_defaults(new=False)
    new = commands.add_parser(
        "new",
        parents=[shared],
        help="add a domain: its config, SQL and DAG file, ready to validate",
        description="Add a domain to the project. With --consumes it reads those ports (the first one's "
        "columns become its contract); without, it reads a file source to fill in.",
    )
    new.add_argument("domain", metavar="DOMAIN")
    new.add_argument("--layer", required=True, help="one of the policy's layers")
    new.add_argument("--consumes", nargs="+", default=[], metavar="DOMAIN.PORT", help="ports it reads")
    new.set_defaults(new=True)


def run(args: argparse.Namespace) -> int:
    return _new(args) if args.new else _init(args)


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _init(args: argparse.Namespace) -> int:
    root = Path(args.directory).resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise CliError(f"{root} already exists and is not empty")
    name = args.name or re.sub(r"[^a-z0-9_]", "_", root.name.lower()).strip("_") or "mesh"
    if not IDENTIFIER.fullmatch(name):
        raise CliError(f"'{name}' cannot name a mesh: use lower-case letters, digits and _ (--name)")
    root.mkdir(parents=True, exist_ok=True)
    _write(root, project_files(name))
    _write(root, {f"{SCHEMA_DIR}/{file}": text for file, text in schema_files().items()})
    project = load_project(root)
    apply_plan(root, plan_dag_files(root, project.domain_files))
    print(f"created the {name} mesh in {root}: customers (mastered) -> customer_orders (integrated)")
    print("next:")
    print(f"  cd {args.directory}")
    print("  dagmesh validate        # every config and SQL file")
    print("  dagmesh load            # data/*.csv into the DuckDB warehouse")
    print("  dagmesh run             # build, test and certify both domains")
    print("  dagmesh new DOMAIN --layer self_service --consumes customer_orders.customer_totals")
    return 0


def _new(args: argparse.Namespace) -> int:
    project, _ = open_project(args.project)
    assert project.mesh is not None
    name, layer = args.domain, args.layer
    if not IDENTIFIER.fullmatch(name):
        raise CliError(f"'{name}' cannot name a domain: use lower-case letters, digits and _")
    if name in project.domain_files:
        raise CliError(f"domain {name} already exists ({project.domain_files[name]})")
    layers = list(project.mesh.policy.layers)
    if layers and layer not in layers:
        raise CliError(
            f"unknown layer '{layer}'{did_you_mean(layer, layers)}; the policy's layers: {', '.join(layers)}"
        )
    consumes = [_port(project.domains, ref) for ref in args.consumes]
    for upstream, _port_of in consumes:
        if layers and layers.index(upstream.layer) >= layers.index(layer):
            raise CliError(
                f"a {layer} domain cannot consume {upstream.name} ({upstream.layer}): dependencies must "
                f"point to earlier layers ({' -> '.join(layers)})"
            )
    files = domain_files(name, layer, consumes)
    existing = [f for f in files if (project.root / f).exists()]
    if existing:
        raise CliError(f"{', '.join(existing)} already exist(s)")
    _write(project.root, files)
    domains = {**project.domain_files, name: next(iter(files))}
    apply_plan(project.root, plan_dag_files(project.root, domains))
    for path in [*files, f"dags/domains/{name}.py"]:
        print(f"created {path}")
    print(f"next: fill in the SQL and the port's contract, then `dagmesh validate` and `dagmesh run {name}`")
    return 0


def _port(domains: dict[str, Domain], ref: str) -> tuple[Domain, OutputPort]:
    domain_name, _, port_name = ref.partition(".")
    domain = domains.get(domain_name)
    if domain is None:
        raise CliError(
            f"--consumes {ref}: no valid domain '{domain_name}'{did_you_mean(domain_name, list(domains))}"
        )
    port = domain.outputs.get(port_name or domain_name)
    if port is None:
        ports = list(domain.outputs)
        raise CliError(
            f"--consumes {ref}: {domain_name} has no port '{port_name}'; its ports: {', '.join(ports)}"
        )
    return domain, port
