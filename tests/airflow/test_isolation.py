"""One broken domain never takes the others down, and never touches published data."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from dagmesh.airflow.runtime import build_context
from dagmesh.stages.context import StageFailure
from tests.airflow.test_dagbag import DOMAINS, load_dagbag
from tests.helpers import certify_domain, dagmesh, edit
from tests.support.dag_processor import DagProcessor


def dag_cache_entries(directory: Path) -> dict[str, int]:
    """Domain -> the inode of its DAG-cache entry (storing an entry writes a new file)."""
    entries = (path for path in directory.iterdir() if not path.name.startswith("."))
    return {json.loads(path.read_text())["domain"]: path.stat().st_ino for path in entries}


def built_from(directory: Path) -> dict[str, str]:
    """Domain -> its cached spec and the digests of the files it was built from (not their
    ``stat``, which a later parse records once an edited file has settled)."""
    entries = (json.loads(p.read_text()) for p in directory.iterdir() if not p.name.startswith("."))
    return {e["domain"]: json.dumps([e["parsed"], e["inputs"]["read"]]) for e in entries}


def rewritten(before: dict[str, int], directory: Path) -> list[str]:
    """The domains whose DAG-cache entry was stored again since ``before``."""
    return sorted(
        domain for domain, inode in dag_cache_entries(directory).items() if before.get(domain) != inode
    )


def the_import_error(bag: Any, dag_file: str) -> str:
    (key, message), *others = bag.import_errors.items()
    assert not others, bag.import_errors
    assert key.endswith(dag_file)
    return str(message)


def test_a_yaml_syntax_error_hides_only_its_domain(project_env: Path) -> None:
    edit(
        project_env,
        "dag_configs/mastered/physician.yaml",
        "  npi_registry:   {table: RAW.NPI.REGISTRY",
        "  npi_registry:   {table: [RAW.NPI.REGISTRY",
    )

    bag = load_dagbag()

    assert sorted(bag.dag_ids) == [d for d in DOMAINS if d != "physician"]
    message = the_import_error(bag, "dags/domains/physician.py")
    assert "domain physician is not loaded" in message
    assert "dag_configs/mastered/physician.yaml:14:93: error: invalid YAML" in message
    assert "Traceback" not in message


def test_a_broken_sql_reference_hides_only_its_domain(project_env: Path) -> None:
    edit(
        project_env,
        "sql/physician_dw/fact_calls.sql",
        "{{ ref('dim_physician') }}",
        "{{ ref('dim_physicians') }}",
    )

    bag = load_dagbag()

    assert sorted(bag.dag_ids) == [d for d in DOMAINS if d != "physician_dw"]
    message = the_import_error(bag, "dags/domains/physician_dw.py")
    assert (
        "sql/physician_dw/fact_calls.sql:10:15: error: ref('dim_physicians'): domain physician_dw has no "
        "model 'dim_physicians' (did you mean 'dim_physician'?)"
    ) in message


def test_a_cycle_hides_the_domains_on_it_and_names_the_cycle(project_env: Path) -> None:
    edit(
        project_env,
        "dag_configs/integrated/physician_dw.yaml",
        "  - product.product\n",
        "  - product.product\n  - payer_dw.physician_access\n",
    )
    edit(
        project_env,
        "dag_configs/integrated/payer_dw.yaml",
        "  - product.product\n",
        "  - product.product\n  - {port: physician_dw.dim_physician, via: sensor}\n",
    )

    bag = load_dagbag()

    assert sorted(bag.dag_ids) == ["launch_analytics", "payer", "physician", "product"]
    errors = {key.rsplit("/", 1)[-1]: str(message) for key, message in bag.import_errors.items()}
    assert sorted(errors) == ["payer_dw.py", "physician_dw.py"]
    for message in errors.values():
        assert "dependency cycle: payer_dw -> physician_dw -> payer_dw" in message
    assert "dag_configs/integrated/physician_dw.yaml:13:5" in errors["physician_dw.py"]
    assert "dag_configs/integrated/payer_dw.yaml:15:5" in errors["payer_dw.py"]


def test_a_consumer_of_a_broken_domain_keeps_every_input_and_its_schedule(project_env: Path) -> None:
    before = load_dagbag().dags["launch_analytics"]
    edit(project_env, "dag_configs/integrated/payer_dw.yaml", 'schedule: "0 6 * * *"', 'schedule: "0 6 * *"')

    after = load_dagbag().dags["launch_analytics"]

    uris = {a.uri for a in after.timetable.asset_condition.objects}
    assert "mesh://pharma/payer_dw/physician_access" in uris
    assert after.timetable.asset_condition == before.timetable.asset_condition
    assert after.doc_md == before.doc_md
    assert [t.task_id for t in after.tasks] == [t.task_id for t in before.tasks]


def test_a_domain_without_a_dag_file_is_reported_by_the_index_file(project_env: Path) -> None:
    (project_env / "dags" / "domains" / "product.py").unlink()
    (project_env / "dags" / "domains" / "old_domain.py").write_text("# left behind\n")

    bag = load_dagbag(project_env / "dags")

    assert "product" not in bag.dag_ids
    errors = {key.rsplit("/", 1)[-1]: str(message) for key, message in bag.import_errors.items()}
    assert "dags/ is out of sync with dag_configs/" in errors["dagmesh_dags.py"]
    assert (
        "dag_configs/mastered/product.yaml:1:1: error: domain product has no DAG file dags/domains/product.py"
        in errors["dagmesh_dags.py"]
    )
    assert (
        "dags/domains/old_domain.py:1:1: error: dags/domains/old_domain.py belongs to no domain"
        in (errors["dagmesh_dags.py"])
    )


def test_a_valid_mesh_has_no_placeholder_and_no_import_errors(project_env: Path) -> None:
    bag = load_dagbag(project_env / "dags")
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == DOMAINS


def test_a_task_of_a_domain_whose_config_broke_stops_before_touching_the_warehouse(seeded: Path) -> None:
    certify_domain(seeded, "product")
    warehouse = seeded / ".dagmesh" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        before = con.execute("SELECT * FROM product.product ORDER BY ndc").fetchall()
        builds = con.execute("SELECT COUNT(*) FROM mesh_meta.builds").fetchall()
    edit(
        seeded,
        "dag_configs/mastered/product.yaml",
        "  product:\n    version: 1",
        "  product:\n    versoin: 1",
    )
    # Airflow can still run a task of the DAG it parsed before the config broke.
    context = {
        "dag_run": SimpleNamespace(dag_id="product", run_id="scheduled__late", logical_date=None),
        "params": {},
    }

    with pytest.raises(
        StageFailure, match=r"dag_configs/mastered/product\.yaml:\d+:\d+: error: unknown key 'versoin'"
    ):
        build_context(str(seeded), "product", context)

    with duckdb.connect(str(warehouse)) as con:
        assert con.execute("SELECT * FROM product.product ORDER BY ndc").fetchall() == before
        assert con.execute("SELECT COUNT(*) FROM mesh_meta.builds").fetchall() == builds


@pytest.mark.e2e
@pytest.mark.usefixtures("airflow_db")
def test_running_a_mesh_with_a_broken_domain_runs_the_rest_and_keeps_its_data(seeded: Path) -> None:
    assert dagmesh("run", "product", project=seeded).returncode == 0
    with duckdb.connect(str(seeded / ".dagmesh" / "warehouse.duckdb")) as con:
        before = con.execute("SELECT * FROM product.product ORDER BY ndc").fetchall()
    edit(seeded, "dag_configs/mastered/product.yaml", 'schedule: "0 4 * * *"', 'schedule: "0 4 * *"')

    done = dagmesh("run", "product", "payer", project=seeded)

    assert done.returncode == 1
    assert (
        "dag_configs/mastered/product.yaml:8:11: error: schedule '0 4 * *' is not a valid cron" in done.stdout
    )
    assert "1/2 domains certified" in done.stdout
    with duckdb.connect(str(seeded / ".dagmesh" / "warehouse.duckdb")) as con:
        assert con.execute("SELECT * FROM product.product ORDER BY ndc").fetchall() == before


@pytest.mark.e2e
def test_in_the_dag_processor_a_broken_domain_leaves_every_other_dag_active(
    project: Path, tmp_path: Path
) -> None:
    processor = DagProcessor(project, tmp_path / "airflow")
    processor.env["DAGMESH_DAG_CACHE"] = str(tmp_path / "dag-cache")
    processor.parse()
    assert processor.active() == DOMAINS and processor.import_errors() == {}
    cached = dag_cache_entries(tmp_path / "dag-cache")
    first = built_from(tmp_path / "dag-cache")
    assert sorted(cached) == DOMAINS
    schedule = processor.asset_expression("launch_analytics")
    assert "mesh://pharma/payer_dw/physician_access" in schedule
    edit(project, "dag_configs/integrated/payer_dw.yaml", 'schedule: "0 6 * * *"', 'schedule: "0 6 * *"')

    processor.parse()

    assert processor.active() == [d for d in DOMAINS if d != "payer_dw"]
    assert processor.dags()["payer_dw"].has_import_errors
    errors = processor.import_errors()
    assert list(errors) == ["domains/payer_dw.py"]
    assert errors["domains/payer_dw.py"].startswith("MeshConfigInvalid: domain payer_dw is not loaded:\n")
    assert (
        "dag_configs/integrated/payer_dw.yaml:8:11: error: schedule '0 6 * *' is not a valid cron expression"
        in errors["domains/payer_dw.py"]
    )
    assert "Traceback" not in errors["domains/payer_dw.py"]
    # Its consumer keeps every input (and waits): not re-wired while payer_dw is broken.
    assert processor.asset_expression("launch_analytics") == schedule
    # Only payer_dw (its import error) and the consumer, which read payer_dw's config, were
    # parsed afresh (and cached); every other domain came from the DAG cache.
    assert rewritten(cached, tmp_path / "dag-cache") == ["launch_analytics", "payer_dw"]
    broken = dag_cache_entries(tmp_path / "dag-cache")

    processor.parse()  # nothing changed: the import error comes from the cache too

    assert processor.import_errors() == errors and rewritten(broken, tmp_path / "dag-cache") == []

    edit(project, "dag_configs/integrated/payer_dw.yaml", 'schedule: "0 6 * *"', 'schedule: "0 6 * * *"')
    processor.parse()

    assert processor.active() == DOMAINS and processor.import_errors() == {}
    # payer_dw's config reads as it did at the first parse again: it is built to the same
    # spec, from the same files.
    assert built_from(tmp_path / "dag-cache") == first
