"""Domains chained in Airflow: the consistency gate and the sensors, in real dag.test() runs."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagmesh.mesh.schedules import aligned_upstream_tick
from tests.airflow.test_dag_runs import domain_dag
from tests.helpers import certify_domain, dag_test_in_a_fresh_process, set_domain_key, stage_context, task_log

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture
def mesh_env(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGMESH_PROJECT_DIR", str(seeded))
    return seeded


def set_mesh(project: Path, old: str, new: str) -> None:
    mesh = project / "dag_configs" / "mesh.yaml"
    text = mesh.read_text()
    assert old in text, old
    mesh.write_text(text.replace(old, new))


def query(project: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(project / ".dagmesh" / "warehouse.duckdb")) as con:
        return con.execute(sql, params or []).fetchall()


def physician_moves_ahead_of_payer_dw(project: Path) -> None:
    """Everything certified once; then physician and physician_dw re-certify, payer_dw does not."""
    for domain in ("payer", "physician", "product", "payer_dw", "physician_dw"):
        certify_domain(project, domain, run_id="first")
    certify_domain(project, "physician", run_id="second")
    certify_domain(project, "physician_dw", run_id="second")


def test_launch_analytics_waits_for_a_lagging_input_then_fails_naming_ancestor_and_versions(
    mesh_env: Path,
) -> None:
    set_mesh(mesh_env, "max_wait: 2h\n  poll_interval: 5m", "max_wait: 3s\n  poll_interval: 1s")
    physician_moves_ahead_of_payer_dw(mesh_env)

    started = time.monotonic()
    run = domain_dag("launch_analytics").test()

    assert run.state == "failed"
    assert time.monotonic() - started >= 3  # it waited before giving up
    (message,) = query(
        mesh_env,
        "SELECT message FROM mesh_meta.builds WHERE domain = 'launch_analytics' AND state = 'failed'",
    )[0:1]
    assert "inputs disagree on physician" in message[0]
    assert "payer_dw was built from physician v1, physician_dw was built from physician v2" in message[0]
    assert "consistency.max_wait is 3s" in message[0]
    assert query(
        mesh_env, "SELECT COUNT(*) FROM mesh_meta.certifications WHERE domain = 'launch_analytics'"
    ) == [(0,)]


@pytest.mark.parametrize("granularity", ["model", "stage"])
def test_launch_analytics_certifies_once_the_lagging_input_catches_up(
    mesh_env: Path, granularity: str
) -> None:
    """With ``task_granularity: stage``, check_inputs.all defers and resumes at its upstream check."""
    set_mesh(mesh_env, "max_wait: 2h\n  poll_interval: 5m", "max_wait: 2m\n  poll_interval: 1s")
    set_domain_key(mesh_env, "self_service/launch_analytics.yaml", f"task_granularity: {granularity}")
    physician_moves_ahead_of_payer_dw(mesh_env)

    def payer_dw_catches_up() -> None:
        """Once launch_analytics's build waits for payer_dw (it has seen it lag), not before."""
        waiting = (
            "SELECT COUNT(*) FROM mesh_meta.builds "
            "WHERE domain = 'launch_analytics' AND message LIKE 'waiting since %'"
        )
        # Through the engine, as the run's tasks in this process open the file: DuckDB refuses
        # a file opened and closed by two threads at once unless they take turns.
        engine = stage_context(mesh_env, "launch_analytics").engine
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with engine.session() as session:
                if session.query_text(waiting)[0][0]:
                    break
            time.sleep(0.2)
        certify_domain(mesh_env, "payer_dw", run_id="second")

    catching_up = threading.Thread(target=payer_dw_catches_up)
    catching_up.start()
    run = domain_dag("launch_analytics").test()
    catching_up.join()

    assert run.state == "success"
    ((lineage,),) = query(
        mesh_env, "SELECT lineage FROM mesh_meta.certifications WHERE domain = 'launch_analytics'"
    )
    assert '"physician": 2' in lineage
    ((waited_for,),) = query(
        mesh_env,
        "SELECT COUNT(*) FROM mesh_meta.certifications c JOIN mesh_meta.builds b "
        "ON b.domain = 'launch_analytics' "
        "WHERE c.domain = 'payer_dw' AND c.version = 2 AND c.certified_at > b.started_at",
    )
    assert waited_for == 1  # payer_dw certified while launch_analytics was already running


def forget_runs(*dag_ids: str) -> None:
    """Sensors look certifications up in the session's shared metadata DB: start from a clean
    history (runs, and the Asset events the domains' certifications emitted)."""
    from airflow.api.common.delete_dag import delete_dag
    from airflow.exceptions import DagNotFound
    from airflow.models.asset import AssetEvent
    from airflow.settings import Session
    from sqlalchemy import delete

    for dag_id in dag_ids:
        with contextlib.suppress(DagNotFound):
            delete_dag(dag_id)
    with Session() as session:
        session.execute(delete(AssetEvent).where(AssetEvent.source_dag_id.in_(dag_ids)))
        session.commit()


def task_states(dag_id: str) -> dict[str, str]:
    """The task states of the latest run of ``dag_id`` in the session's metadata DB."""
    from airflow.models import DagRun
    from airflow.settings import Session
    from sqlalchemy import select

    with Session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.run_after.desc()).limit(1)
        ).one()
        return {ti.task_id: ti.state for ti in run.get_task_instances(session=session)}


def tick(cron: str, now: datetime) -> datetime:
    """The logical date the scheduler gave the latest run of ``cron`` at ``now``."""
    return aligned_upstream_tick(cron, now)


CRONS = {"physician": "0 5 * * *", "payer": "0 3 * * *", "product": "0 4 * * *"}


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_a_manual_run_without_logical_date_goes_on_once_its_upstreams_certified_their_latest_ticks(
    mesh_env: Path, mode: str
) -> None:
    set_mesh(mesh_env, "mode: poke", f"mode: {mode}")
    forget_runs("physician", "payer", "product", "payer_dw")
    now = datetime.now(UTC)
    for name, cron in CRONS.items():
        run = domain_dag(name).test(logical_date=tick(cron, now))
        assert run.state == "success", name

    run = domain_dag("payer_dw").test(logical_date=None)

    assert run.state == "success"
    assert run.logical_date is None
    assert query(mesh_env, "SELECT COUNT(*) FROM mesh_meta.certifications WHERE domain = 'payer_dw'") == [
        (1,)
    ]


def test_upstreams_triggered_by_hand_without_a_logical_date_certify_the_period(mesh_env: Path) -> None:
    """The README's recipe: a person triggers the mastered domains; the cron warehouse follows."""
    forget_runs("physician", "payer", "product", "payer_dw")
    for name in CRONS:
        run = domain_dag(name).test(logical_date=None)
        assert run.state == "success" and run.logical_date is None, name

    now = datetime.now(UTC)
    run = domain_dag("payer_dw").test(logical_date=tick("0 6 * * *", now))  # its latest scheduled tick

    assert run.state == "success"


def test_sensors_wait_for_the_aligned_period_whatever_failed_and_time_out_saying_what_they_awaited(
    mesh_env: Path,
) -> None:
    set_mesh(mesh_env, "poke_interval: 1s\n  timeout: 6h", "poke_interval: 1s\n  timeout: 3s")
    forget_runs("physician", "payer", "product", "payer_dw")
    now = datetime.now(UTC)
    assert domain_dag("payer").test(logical_date=tick(CRONS["payer"], now)).state == "success"
    # product certified only for the period before: not this one.
    yesterday = tick(CRONS["product"], now) - timedelta(days=1)
    assert domain_dag("product").test(logical_date=yesterday).state == "success"
    # physician's run for this period failed (an empty source): the sensor keeps waiting for a re-run.
    query(mesh_env, "DELETE FROM raw_ama.physicians")
    assert domain_dag("physician").test(logical_date=tick(CRONS["physician"], now)).state == "failed"

    state, output = dag_test_in_a_fresh_process("payer_dw", mesh_env)

    assert state == "failed"
    states = task_states("payer_dw")
    assert states["wait_for_upstream.payer"] == "success"
    assert states["wait_for_upstream.physician"] == states["wait_for_upstream.product"] == "failed"
    assert states["check_inputs.sources"] == "upstream_failed"
    for name in ("physician", "product"):
        awaited = f"{tick(CRONS[name], now):%Y-%m-%d %H:%M} UTC or later"
        assert (
            f"timed out after 0:00:03 (sensors.timeout) waiting for {name} to certify a run for {awaited}"
            in output
        )
    for name in ("physician", "product"):
        assert "Traceback" not in task_log(output, f"wait_for_upstream.{name}")
    assert query(mesh_env, "SELECT COUNT(*) FROM mesh_meta.builds WHERE domain = 'payer_dw'") == [(0,)]
