"""Domain DAGs run by Airflow's own ``dag.test()``: what certify tells consumers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.helpers import PLANT_DUPLICATE_NPIS, REPO, dagmesh, edit, set_domain_key, task_log

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]


def domain_dag(name: str) -> Any:
    """The DAG Airflow builds from ``dags/domains/<name>.py`` (for ``$DAGMESH_PROJECT_DIR``)."""
    from dagmesh.airflow.loader import domain_dag

    return domain_dag(str(REPO / "dags" / "domains" / f"{name}.py"))


def asset_events(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.settings import Session
    from sqlalchemy import select

    with Session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
        ).all()
        return [dict(row.extra) for row in rows]


@pytest.fixture
def seeded_env(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGMESH_PROJECT_DIR", str(seeded))
    return seeded


def test_certify_emits_one_asset_event_per_port_with_build_version_rows_and_inputs(seeded_env: Path) -> None:
    uris = ["mesh://pharma/product/product"] + [
        f"mesh://pharma/physician_dw/{port}" for port in ("dim_physician", "fact_calls")
    ]
    earlier = {uri: len(asset_events(uri)) for uri in uris}  # the session's DB is shared
    for name in ("physician", "product", "physician_dw"):
        run = domain_dag(name).test()
        assert run.state == "success", name
    events = {uri: asset_events(uri)[earlier[uri] :] for uri in uris}

    (product,) = events["mesh://pharma/product/product"]
    assert product["port_version"] == 1 and product["domain_version"] == 1
    assert product["build_id"].startswith("product-")
    assert product["row_count"] == 56
    assert product["consumed"] == {}

    (dim,) = events["mesh://pharma/physician_dw/dim_physician"]
    (calls,) = events["mesh://pharma/physician_dw/fact_calls"]
    assert dim["consumed"]["physician.physician"]["version"] == 1
    assert dim["consumed"]["physician.physician"]["build_id"].startswith("physician-")
    assert dim["lineage"] == {"physician": 1, "product": 1}
    assert dim["build_id"] == calls["build_id"]


def test_a_failed_certification_emits_no_asset_event(seeded_env: Path) -> None:
    done = dagmesh("run", "product", project=seeded_env)
    assert done.returncode == 0, done.stdout
    before = len(asset_events("mesh://pharma/product/product"))
    with duckdb.connect(str(seeded_env / ".dagmesh" / "warehouse.duckdb")) as con:
        con.execute(
            "UPDATE raw_product.ndc_catalog SET therapeutic_area = 'VETERINARY' WHERE package_size = 30"
        )

    run = domain_dag("product").test()

    assert run.state == "failed"
    assert len(asset_events("mesh://pharma/product/product")) == before


def queued_for(dag_id: str) -> int:
    """Asset events Airflow has queued towards a run of ``dag_id`` (its AssetDagRunQueue)."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.settings import Session
    from sqlalchemy import func, select

    with Session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AssetDagRunQueue)
                .where(AssetDagRunQueue.target_dag_id == dag_id)
            )
            or 0
        )


def test_a_blocking_failure_in_physician_emits_nothing_and_queues_no_downstream_run(
    seeded_env: Path, capfd: Any
) -> None:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.settings import Session
    from sqlalchemy import delete

    assert domain_dag("physician").test().state == "success"
    with Session() as session:  # forget what the first certification queued
        session.execute(delete(AssetDagRunQueue))
        session.commit()
    events_before = len(asset_events("mesh://pharma/physician/physician"))
    warehouse = seeded_env / ".dagmesh" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        published = con.execute("SELECT * FROM physician.physician ORDER BY physician_id").fetchall()
        con.execute(PLANT_DUPLICATE_NPIS)

    capfd.readouterr()
    run = domain_dag("physician").test()

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert [task for task, state in states.items() if state != "success"] == ["certify.publish"]
    assert states["certify.publish"] == "failed"
    assert len(asset_events("mesh://pharma/physician/physician")) == events_before
    assert queued_for("physician_dw") == 0 and queued_for("payer_dw") == 0
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute("SELECT * FROM physician.physician ORDER BY physician_id").fetchall() == published


def test_the_dagmesh_env_variable_points_running_dags_at_a_branch_environment(seeded_env: Path) -> None:
    from airflow.models import Variable

    assert dagmesh("env", "create", "feature_x", project=seeded_env).returncode == 0
    Variable.set("dagmesh_env", "feature_x")
    try:
        run = domain_dag("product").test()
    finally:
        Variable.delete("dagmesh_env")

    assert run.state == "success"
    with duckdb.connect(str(seeded_env / ".dagmesh" / "feature_x.duckdb")) as con:
        assert con.execute("SELECT COUNT(*) FROM mesh_meta.certifications").fetchall() == [(1,)]
    with duckdb.connect(str(seeded_env / ".dagmesh" / "warehouse.duckdb")) as con:
        tables = con.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'mesh_meta'"
        )
        assert tables.fetchall() == [(0,)]  # the environment it came from was never written


def physician_fails_through_airflow(project: Path) -> str:
    """Certify physician once, plant duplicate NPIs, and run it with ``dagmesh run --airflow``:
    the run is not certified; returns its log."""
    assert dagmesh("run", "physician", project=project).returncode == 0
    with duckdb.connect(str(project / ".dagmesh" / "warehouse.duckdb")) as con:
        con.execute(PLANT_DUPLICATE_NPIS)

    done = dagmesh("run", "--airflow", "physician", project=project)

    assert done.returncode == 1
    assert "NOT certified (v1 stays published)" in done.stdout
    return max((project / ".dagmesh" / "logs").glob("run-*.log")).read_text()


def test_a_failed_test_reads_as_a_verdict_in_the_one_task_that_fails(seeded: Path) -> None:
    output = physician_fails_through_airflow(seeded)

    checks = task_log(output, "test.physician")
    assert "FAIL physician.physician.npi:unique observed 5, expected = 0" in checks
    assert "PASS physician.physician:primary_key observed 0, expected = 0" in checks
    assert "certify will not publish this build" in checks
    verdict = task_log(output, "certify.publish")
    assert "Traceback" not in verdict
    expected = [
        "physician is not certified: 2 blocking check(s) failed",
        "physician.physician.npi:unique observed 5, expected = 0",
        "physician:no_duplicate_npi observed 1, expected = 0",
        "other check(s) passed",
        "physician v1 (build physician-",
        "stays published; nothing was changed",
        "Task exited",  # the runner's one-line end: no traceback, and no retry of a verdict
        "action=fail",
    ]
    positions = [verdict.find(text) for text in expected]
    assert -1 not in positions and positions == sorted(positions), list(zip(expected, positions, strict=True))


@pytest.mark.parametrize(
    ("granularity", "task", "gate"),
    [("stage", "test.all", "certify.publish"), ("domain", "stages.all", "stages.all")],
)
def test_with_combined_tasks_a_failed_test_reads_as_a_verdict_in_the_gate(
    seeded: Path, granularity: str, task: str, gate: str
) -> None:
    set_domain_key(seeded, "mastered/physician.yaml", f"task_granularity: {granularity}")

    output = physician_fails_through_airflow(seeded)

    checks = task_log(output, task)  # every check, each step of the task in turn
    assert checks.index("test.physician") < checks.index("test.no_duplicate_npi")
    assert "FAIL physician.physician.npi:unique observed 5, expected = 0" in checks
    assert "FAIL physician:no_duplicate_npi observed 1, expected = 0" in checks
    verdict = task_log(output, gate)
    assert "physician is not certified: 2 blocking check(s) failed" in verdict and "Traceback" not in verdict
    assert verdict.index("physician is not certified") > verdict.index("certify.publish")  # the gate, last
    with duckdb.connect(str(seeded / ".dagmesh" / "warehouse.duckdb"), read_only=True) as con:
        latest = "(SELECT arg_max(build_id, started_at) FROM mesh_meta.builds WHERE domain = 'physician')"
        built = con.execute(f"SELECT model FROM mesh_meta.model_runs WHERE build_id = {latest}").fetchall()
    assert sorted(m for (m,) in built) == [
        "ama_survivors", "physician", "stg_ama_physicians", "stg_npi_registry",
    ]  # fmt: skip


def latest_build(project: Path, domain: str) -> tuple[str, str]:
    """The state and message of ``domain``'s latest build in the registry."""
    with duckdb.connect(str(project / ".dagmesh" / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT state, message FROM mesh_meta.builds WHERE domain = ? ORDER BY started_at DESC LIMIT 1",
            [domain],
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_with_domain_granularity_the_one_task_certifies_and_emits_each_ports_event(seeded_env: Path) -> None:
    set_domain_key(seeded_env, "mastered/product.yaml", "task_granularity: domain")
    earlier = len(asset_events("mesh://pharma/product/product"))

    run = domain_dag("product").test()

    assert run.state == "success"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"stages.all": "success"}
    (event,) = asset_events("mesh://pharma/product/product")[earlier:]
    assert event["build_id"].startswith("product-") and event["row_count"] == 56
    assert latest_build(seeded_env, "product")[0] == "certified"


def test_with_domain_granularity_a_crash_on_the_last_try_is_recorded_as_not_certified(seeded: Path) -> None:
    assert dagmesh("run", "product", project=seeded).returncode == 0
    set_domain_key(seeded, "mastered/product.yaml", "task_granularity: domain")
    set_domain_key(seeded, "mastered/product.yaml", "retries: 0")
    # Valid SQL that fails while it runs: a crash, not a verdict.
    crash = "    cast(brand_name as integer) as package_size,"
    edit(seeded, "sql/product/product.sql", "    package_size,", crash)

    done = dagmesh("run", "--airflow", "product", project=seeded)

    assert done.returncode == 1
    log = task_log(max((seeded / ".dagmesh" / "logs").glob("run-*.log")).read_text(), "stages.all")
    assert "ConversionException" in log and "Traceback" in log  # a crash keeps its traceback
    state, message = latest_build(seeded, "product")
    assert state == "failed" and "product" in message, message
    with duckdb.connect(str(seeded / ".dagmesh" / "warehouse.duckdb"), read_only=True) as con:
        versions = con.execute("SELECT COUNT(*) FROM mesh_meta.certifications WHERE domain = 'product'")
        assert versions.fetchall() == [(1,)]  # the first run's certification, and no other
