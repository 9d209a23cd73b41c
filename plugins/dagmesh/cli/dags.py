"""``dagmesh dags``: write the Airflow DAG files, one per domain, so ``dags/`` matches ``dag_configs/``."""

from __future__ import annotations

import argparse
from typing import Any

from dagmesh.airflow.dag_files import DOMAIN_DAGS_DIR, apply_plan, plan_dag_files
from dagmesh.cli.common import find_project
from dagmesh.config.project import load_project


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "dags",
        parents=[shared],
        help=f"write {DOMAIN_DAGS_DIR}/<domain>.py for every domain (the files Airflow parses)",
        description=f"Write one Airflow DAG file per domain into {DOMAIN_DAGS_DIR}/ and delete files of "
        "domains that no longer exist, so that a broken domain never takes the others down in Airflow.",
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when a file is missing or out of date"
    )


def run(args: argparse.Namespace) -> int:
    root = find_project(args.project)
    project = load_project(root)
    plan = plan_dag_files(root, project.domain_files)
    if plan.in_sync:
        print(f"ok: {len(project.domain_files)} domain DAG files in {DOMAIN_DAGS_DIR}/ are up to date")
        return 0
    verb = ("missing or out of date", "to delete") if args.check else ("wrote", "deleted")
    for path in sorted(plan.write):
        print(f"{verb[0]}: {path}")
    for path in plan.delete:
        print(f"{verb[1]}: {path}")
    if args.check:
        print("run `dagmesh dags` to bring dags/ in line with dag_configs/")
        return 1
    apply_plan(root, plan)
    return 0
