"""The Airflow DAG files of a project: one small Python file per domain, in ``dags/domains/``.

Airflow's DAG processor deactivates every DAG of a file that has an import error. With
one file per domain, a broken domain's import error stays in its own file and every
other domain's DAG stays active. Each file holds two lines that build the domain named
after the file (see :func:`dagmesh.airflow.loader.domain_dag`); ``dags/dagmesh_dags.py``
reports, as an import error of its own, domains that have no file yet and files that
belong to no domain.

``dagmesh dags`` writes the files; ``dagmesh validate`` reports them out of date. This
module only reads and writes files: it imports no Airflow.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dagmesh.errors import ConfigError, Location

DAGS_DIR = "dags"
#: Where the per-domain DAG files live, relative to the project root.
DOMAIN_DAGS_DIR = f"{DAGS_DIR}/domains"
#: The file that checks the per-domain files are in sync (it builds no DAG).
INDEX_FILE = f"{DAGS_DIR}/dagmesh_dags.py"

INDEX_TEXT = '''"""dagmesh: checks that dags/domains/ holds one DAG file per domain of ../dag_configs.

Each domain's DAG is built by its own file in dags/domains/ (written by `dagmesh dags`),
so that a broken domain never takes the others down. This file builds no DAG: when a
domain has no file, or a file belongs to no domain, it shows as an import error here.
"""

from dagmesh.airflow.loader import check_dag_files

globals().update(check_dag_files(__file__))
'''


def domain_dag_text(domain: str) -> str:
    """The content of ``dags/domains/<domain>.py``."""
    return f'''"""Airflow DAG of one domain, written by `dagmesh dags`: edit its YAML and SQL, not this file.

One file per domain keeps a broken domain from taking the others down in Airflow.
Domain: {domain}
"""

from dagmesh.airflow.loader import domain_dag

dag = domain_dag(__file__)
'''


def domain_of(dag_file: str | Path) -> str:
    """The domain a per-domain DAG file builds: its file name."""
    return Path(dag_file).stem


def dag_file_of(domain: str) -> str:
    return f"{DOMAIN_DAGS_DIR}/{domain}.py"


def existing_dag_files(root: Path) -> dict[str, str]:
    """Domain name -> text of every file in ``dags/domains/``."""
    folder = root / DOMAIN_DAGS_DIR
    if not folder.is_dir():
        return {}
    found = {}
    for entry in os.scandir(folder):
        if entry.is_file() and entry.name.endswith(".py") and not entry.name.startswith(("_", ".")):
            found[domain_of(entry.name)] = Path(entry.path).read_text(encoding="utf-8", errors="replace")
    return found


@dataclass(frozen=True)
class DagFilesPlan:
    """What ``dagmesh dags`` changes so that ``dags/`` matches the domains."""

    write: dict[str, str]
    delete: list[str]

    @property
    def in_sync(self) -> bool:
        return not self.write and not self.delete


def plan_dag_files(root: Path, domains: Iterable[str]) -> DagFilesPlan:
    """The files to (re)write and delete so ``dags/`` has exactly one file per domain."""
    wanted = {dag_file_of(name): domain_dag_text(name) for name in domains}
    wanted[INDEX_FILE] = INDEX_TEXT
    existing = {dag_file_of(name): text for name, text in existing_dag_files(root).items()}
    index = root / INDEX_FILE
    if index.is_file():
        existing[INDEX_FILE] = index.read_text(encoding="utf-8", errors="replace")
    write = {path: text for path, text in wanted.items() if existing.get(path) != text}
    delete = sorted(path for path in existing if path not in wanted)
    return DagFilesPlan(write, delete)


def apply_plan(root: Path, plan: DagFilesPlan) -> None:
    for path, text in plan.write.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    for path in plan.delete:
        (root / path).unlink(missing_ok=True)


def dag_file_problems(root: Path, config_files: Mapping[str, str]) -> list[ConfigError]:
    """Located problems when ``dags/`` is out of sync with the domains (empty when in sync).

    ``config_files`` maps each domain to its config file, where a missing DAG file is
    reported. Projects without ``dags/domains/`` and ``dags/dagmesh_dags.py`` are not
    checked: they are not (yet) set up for Airflow.
    """
    if not (root / DOMAIN_DAGS_DIR).is_dir() and not (root / INDEX_FILE).is_file():
        return []
    plan = plan_dag_files(root, config_files)
    problems = []
    fix = "run `dagmesh dags` to write the DAG files"
    by_file = {dag_file_of(name): name for name in config_files}
    for path in sorted(plan.write):
        name = by_file.get(path)
        where = Location(config_files[name]) if name else Location(path)
        if not (root / path).exists():
            what = f"domain {name} has no DAG file {path}" if name else f"{path} is missing"
        else:
            what = f"{path} is out of date"
        problems.append(ConfigError.at(where, f"{what}: Airflow will not load it as it is; {fix}"))
    for path in plan.delete:
        problems.append(
            ConfigError.at(
                Location(path), f"{path} belongs to no domain of dag_configs/ (delete it, or {fix})"
            )
        )
    return problems
