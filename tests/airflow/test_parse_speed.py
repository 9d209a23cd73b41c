"""What DAG parsing costs: no heavy imports, one DAG per task run, a cache that is never stale.

The first parse of an edited SQL file checks its references with sqlglot (the no-backdoor
check runs at DAG parse too); the verdict is cached on disk, so every later parse — the DAG
processor's loop, each task's own parse — imports no SQL parser at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dagmesh.config.project import load_project
from dagmesh.mesh.analysis import analyze
from tests.airflow.test_dagbag import DOMAINS
from tests.helpers import REPO, edit

HEAVY = (
    "duckdb",
    "sqlglot",
    "snowflake.connector",
    "snowflake.snowpark",
    "sqlfluff",
    "pandas",
    "pyarrow",
    "fakesnow",
)

PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in sys.argv[2:]))
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": len(bag.import_errors), "heavy": heavy}))
"""


def run_probe(script: str, project: Path, *args: str, **env: str) -> dict[str, Any]:
    """The JSON ``script`` prints last, run in a fresh Python with ``project`` as the mesh."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**os.environ, "DAGMESH_PROJECT_DIR": str(project), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def dagbag_in_a_fresh_process(project: Path, dags: Path = REPO / "dags", **env: str) -> dict[str, Any]:
    return run_probe(PROBE, project, str(dags), *HEAVY, **env)


def test_a_dagbag_load_imports_no_warehouse_driver_sql_parser_or_dataframe_library(project: Path) -> None:
    first = dagbag_in_a_fresh_process(project)
    assert first["errors"] == 0 and len(first["dags"]) == 6
    assert all(module.startswith("sqlglot") for module in first["heavy"])

    result = dagbag_in_a_fresh_process(project)

    assert result["dags"] == first["dags"] and result["heavy"] == []


def test_running_one_task_parses_only_that_domains_file(project: Path) -> None:
    # A worker parses the file its DAG came from: one domain, loaded with its direct upstreams.
    dagbag_in_a_fresh_process(project)  # the DAG processor parsed (and cached) it first
    result = dagbag_in_a_fresh_process(
        project,
        project / "dags" / "domains" / "physician_dw.py",
        _AIRFLOW_PARSING_CONTEXT_DAG_ID="physician_dw",
        _AIRFLOW_PARSING_CONTEXT_TASK_ID="build.fact_calls",
    )
    assert result == {"dags": ["physician_dw"], "errors": 0, "heavy": []}


def test_one_domain_loads_with_only_its_direct_upstreams(project: Path) -> None:
    loaded = load_project(project, only="launch_analytics")
    assert loaded.focus == "launch_analytics"
    assert sorted(loaded.domains) == ["launch_analytics", "payer_dw", "physician_dw"]
    analysis = analyze(loaded)
    assert analysis.buildable() == ["launch_analytics"]


def test_a_domain_in_a_file_not_named_after_it_still_loads_alone(project: Path) -> None:
    config = project / "dag_configs" / "mastered"
    (config / "product.yaml").rename(config / "products_master.yaml")
    loaded = load_project(project, only="product")
    assert loaded.focus is None  # found by reading every file instead
    assert "product" in loaded.domains


def test_the_parse_cache_follows_every_edit(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    analyze(load_project(project))  # fills the cache
    cached = load_project(project).domains
    with monkeypatch.context() as patched:
        patched.setenv("DAGMESH_PARSE_CACHE", "0")
        assert cached == load_project(project).domains
    config = project / "dag_configs" / "mastered" / "physician.yaml"
    config.write_text(config.read_text().replace("owner: mdm-team", "owner: another-team"))
    assert load_project(project).domains["physician"].owner == "another-team"
    mesh = project / "dag_configs" / "mesh.yaml"
    mesh.write_text(mesh.read_text().replace("  retries: 2", "  retries: 4"))
    assert load_project(project).domains["physician"].retries == 4  # inherited from an edited mesh.yaml


def test_the_parse_cache_keeps_only_what_the_current_files_need(project: Path) -> None:
    analyze(load_project(project))
    cache = project / ".dagmesh" / "cache" / "parse"
    before = len(list(cache.iterdir()))
    config = project / "dag_configs" / "mastered" / "product.yaml"
    config.write_text(config.read_text().replace("owner: mdm-team", "owner: product-team"))
    analyze(load_project(project))
    assert len(list(cache.iterdir())) == before


PLUGIN_PROBE = """
import json, sys
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()  # what every Airflow process does with its plugins
apps, _ = plugins_manager.get_fastapi_plugins()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "prefixes": [app["url_prefix"] for app in apps],
    "dags": len(bag.dag_ids),
    "loaded": sorted(m for m in sys.modules if m.startswith(("dagmesh.api", "dagmesh.query"))),
}))
"""


def test_the_plugins_rest_api_and_page_add_nothing_to_dag_parsing(project: Path) -> None:
    result = run_probe(PLUGIN_PROBE, project, str(REPO / "dags"))
    assert result["prefixes"] == ["/dagmesh"] and result["dags"] == 6
    assert result["loaded"] == []  # the app is built on the api-server's first request


SERIALIZED_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
bag = DagBag(dag_folder=sys.argv[1])
dags = {}
for dag_id, dag in bag.dags.items():
    data = DagSerialization.to_dict(dag)["dag"]
    data.pop("fileloc"), data.pop("relative_fileloc")
    dags[dag_id] = data
errors = {k.rsplit("/", 1)[-1]: v for k, v in bag.import_errors.items()}
print(json.dumps({"dags": dags, "errors": errors, "config_model": "dagmesh.config.model" in sys.modules},
                 default=str))
"""


def parse(project: Path, **env: str) -> dict[str, Any]:
    """Every DAG of ``project`` as Airflow serializes it, from a DagBag in a fresh process."""
    return run_probe(SERIALIZED_PROBE, project, str(project / "dags"), **env)


def test_an_unchanged_domain_is_built_from_its_cached_spec_exactly_as_a_fresh_parse_builds_it(
    project: Path,
) -> None:
    fresh = parse(project, DAGMESH_DAG_CACHE="0")
    assert sorted(fresh["dags"]) == sorted(DOMAINS) and fresh["errors"] == {}
    first = parse(project)  # the DAG processor's first parse fills the cache

    cached = parse(project)

    assert first["config_model"] and not cached["config_model"]  # no config model, no validation
    assert cached["dags"] == first["dags"] == fresh["dags"]


def test_the_dag_cache_follows_edits_of_the_domain_its_sql_its_upstreams_and_mesh_yaml(
    project: Path,
) -> None:
    before = parse(project)
    edit(project, "sql/physician_dw/fact_calls.sql", "select", "select /* edited */")
    edit(project, "dag_configs/mesh.yaml", "  retries: 2", "  retries: 4")
    renamed = (("{name: payer_plan,", "{name: payer_registry,"), ("  payer_plan:", "  payer_registry:"))
    for old, new in renamed:
        edit(project, "dag_configs/mastered/payer.yaml", old, new)

    cached = parse(project)

    assert cached == parse(project, DAGMESH_DAG_CACHE="0")
    assert list(cached["errors"]) == ["payer_dw.py"]  # it consumes a port payer no longer has
    for changed in ("physician_dw", "product"):  # a new config version; inherited retries
        assert cached["dags"][changed] != before["dags"][changed]


def test_dag_cache_entries_live_outside_the_project_and_a_broken_one_is_parsed_afresh(
    project: Path, tmp_path: Path
) -> None:
    store = tmp_path / "dag-cache"
    first = parse(project, DAGMESH_DAG_CACHE=str(store))
    entries = sorted(store.iterdir())
    assert len(entries) == len(DOMAINS)
    assert not any(b'"spec"' in p.read_bytes() for p in project.rglob("*") if p.is_file())
    for entry in entries:
        entry.write_text(entry.read_text()[:100])  # truncated, as by a full disk

    assert parse(project, DAGMESH_DAG_CACHE=str(store))["dags"] == first["dags"]
    store.chmod(0o500)  # and a cache that cannot be written only means fresh parses
    try:
        assert parse(project, DAGMESH_DAG_CACHE=str(store / "inner"))["dags"] == first["dags"]
    finally:
        store.chmod(0o700)


def test_a_dag_cache_entry_made_from_just_written_files_trusts_their_stat_once_they_settle(
    project_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A domain is parsed seconds after a change (fresh files: checked by their text); the
    first parse after they have settled records their stat, which later parses compare."""
    from dagmesh.config.files import SETTLED_NS
    from tests.airflow.test_dag_runs import domain_dag

    monkeypatch.setenv("DAGMESH_DAG_CACHE", "0")
    domain_dag("physician")  # the imports and the SQL checks' cache, so the next parse is quick
    store = tmp_path / "dag-cache"
    monkeypatch.setenv("DAGMESH_DAG_CACHE", str(store))
    for path in project_env.rglob("*"):
        if path.is_file():
            os.utime(path)  # as an edit does: changed just now

    def recorded_stats() -> dict[str, Any]:
        (entry,) = store.iterdir()
        inputs: dict[str, Any] = json.loads(entry.read_text())["inputs"]
        existing = sorted(path for path, digest in inputs["read"].items() if digest)
        return {"read": existing, "stat": sorted(inputs["stat"])}

    first = domain_dag("physician")
    assert recorded_stats()["stat"] == []  # the copy was just written
    time.sleep(SETTLED_NS / 1e9 + 0.1)

    assert domain_dag("physician").task_ids == first.task_ids
    stats = recorded_stats()
    assert stats["stat"] == stats["read"] and "dag_configs/mesh.yaml" in stats["read"]
