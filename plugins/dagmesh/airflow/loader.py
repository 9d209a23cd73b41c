"""What Airflow's DAG files call: one domain's DAG per file, and the check that files are in sync.

``dags/domains/<domain>.py`` calls :func:`domain_dag`, which loads ``mesh.yaml``, the
domain and its direct upstreams, and builds the domain's DAG; while none of the files
that decided it changed, its spec comes from :mod:`dagmesh.airflow.dag_cache` instead,
without loading the config model (a few milliseconds per file). When the domain's config
or SQL is broken it returns a placeholder (cached the same way) whose ``validate()`` raises
:class:`MeshConfigInvalid` with every problem as ``path:line:col: error: message``:
the DAG processor records that as the import error of this file only, so the other
domains (other files) stay active. The message is the whole import error, without a
traceback.

A consumer never depends on its upstreams' configs for its shape (see
:func:`dagmesh.mesh.graph.effective_via`): while an upstream is broken, the consumer
keeps every input and waits.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import DAG

from dagmesh.airflow import dag_cache
from dagmesh.airflow.dag_files import (
    DOMAIN_DAGS_DIR,
    INDEX_FILE,
    dag_file_problems,
    domain_dag_text,
    domain_of,
    existing_dag_files,
)
from dagmesh.airflow.factory import build_dag
from dagmesh.collector import collector_paused
from dagmesh.config.files import CONFIG_DIR, MESH_PATH, DiskFiles, project_root_for
from dagmesh.errors import ConfigError


class MeshConfigInvalid(Exception):
    """A domain's config or SQL has errors (or ``dags/`` is out of sync); it gets no DAG."""


class ConfigErrorsDag(DAG):
    """A DAG that refuses validation, so its message becomes this file's import error."""

    def validate(self) -> None:
        raise MeshConfigInvalid(self.doc_md or "invalid mesh configuration")


def project_dir_for(dag_file: str) -> Path:
    """The project a DAG file belongs to (see :func:`project_root_for`)."""
    return project_root_for(Path(dag_file).parent)


def domain_dag(dag_file: str) -> DAG:
    """The DAG of the domain named after ``dag_file`` (or a placeholder carrying its problems)."""
    with collector_paused():
        return _domain_dag(dag_file)


def _domain_dag(dag_file: str) -> DAG:
    name = domain_of(dag_file)
    root = project_dir_for(dag_file)
    parsed = dag_cache.recall(root, name)
    if parsed is None:
        # Imported here, not above: the config model and the analysis are for a domain
        # whose files changed since its last parse; an unchanged one is a cache hit.
        from dagmesh.stages.domain_dag import fresh_dag_spec

        spec, problems, inputs = fresh_dag_spec(root, name)
        parsed = spec if spec is not None else "\n".join(_not_loaded(name, problems))
        dag_cache.store(root, name, inputs, parsed)
    if isinstance(parsed, str):
        return ConfigErrorsDag(name, schedule=None, doc_md=parsed)
    return build_dag(parsed, str(root))


def _not_loaded(name: str, problems: list[ConfigError] | None) -> list[str]:
    if problems is None:
        return [
            f"domain {name} is not loaded: no file in {CONFIG_DIR}/ defines it "
            f"(delete {DOMAIN_DAGS_DIR}/{name}.py, or run `dagmesh dags`)"
        ]
    if problems:
        return [f"domain {name} is not loaded:"] + [f"  {p}" for p in problems]
    return [f"domain {name} is not loaded: it depends on a broken domain"]


def check_dag_files(index_file: str) -> dict[str, DAG]:
    """For ``dags/dagmesh_dags.py``: a placeholder whose import error lists domains without a
    DAG file and DAG files without a domain; nothing when ``dags/`` is in sync. The file
    builds no real DAG, so its import error deactivates nothing."""
    problems = _out_of_sync(project_dir_for(index_file))
    if not problems:
        return {}
    lines = ["dags/ is out of sync with dag_configs/:"] + [f"  {p}" for p in problems]
    return {"dagmesh_dag_files": ConfigErrorsDag("dagmesh_dag_files", schedule=None, doc_md="\n".join(lines))}


def _out_of_sync(root: Path) -> list[ConfigError]:
    """Cheap in the usual case (file names and the DAG files' text); the configs are read
    only when a config file is not named after its domain or something is out of sync."""
    configs = DiskFiles(root).list(CONFIG_DIR, (".yaml", ".yml"))
    config_stems = {Path(p).stem for p in configs if p != MESH_PATH}
    existing = existing_dag_files(root)
    if (
        config_stems == set(existing)
        and all(text == domain_dag_text(name) for name, text in existing.items())
        and (root / INDEX_FILE).is_file()
    ):
        return []
    from dagmesh.config.project import load_project  # only when something is out of sync

    project = load_project(root)
    problems = dag_file_problems(root, project.domain_files)
    for path in project.unnamed_files:
        problems += [p for p in project.diagnostics.errors if p.path == path] or [
            ConfigError(path, 1, 1, "the domain this file defines cannot be read: it gets no DAG")
        ]
    return problems
