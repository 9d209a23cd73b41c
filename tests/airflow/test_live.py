"""The mesh chains itself in a live Airflow, driven through the REST API v2.

A real api-server, scheduler, DAG processor and triggerer (LocalExecutor, SQLite) run on
a temporary AIRFLOW_HOME with the project's dags/, the installed plugin and a fresh
DuckDB warehouse. The test unpauses the mesh, triggers the mastered domains (and a
manual, date-less run of the cron warehouse payer_dw, as a user would from the UI),
waits until every domain certified, and checks through the REST API and the registry
that launch_analytics consumed one physician version through both warehouses.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagmesh.cli.local_airflow import LocalAirflow, free_port
from dagmesh.mesh.schedules import aligned_upstream_tick
from tests.helpers import copy_example, dagmesh

pytestmark = pytest.mark.e2e

DOMAINS = ("physician", "product", "payer", "physician_dw", "payer_dw", "launch_analytics")
#: The example's daily schedules (hour of day, UTC) of the cron-scheduled domains.
CRON_HOURS = {"payer": 3, "product": 4, "physician": 5, "payer_dw": 6}
CONFIGS = {
    "payer": "mastered/payer.yaml",
    "product": "mastered/product.yaml",
    "physician": "mastered/physician.yaml",
    "payer_dw": "integrated/payer_dw.yaml",
}
DEADLINE = 15 * 60


def shift_schedules(project: Path) -> dict[str, str]:
    """Move the example's crons by one offset (keeping their order and gaps) so that their
    ticks are 2 to 5 hours ago: no scheduled run falls inside the test."""
    offset = (datetime.now(UTC).hour - 2 - CRON_HOURS["payer_dw"]) % 24
    crons = {}
    for domain, hour in CRON_HOURS.items():
        config = project / "dag_configs" / CONFIGS[domain]
        crons[domain] = f"0 {(hour + offset) % 24} * * *"
        text = config.read_text()
        assert f'schedule: "0 {hour} * * *"' in text, domain
        config.write_text(text.replace(f'schedule: "0 {hour} * * *"', f'schedule: "{crons[domain]}"'))
    return crons


def latest_runs(airflow: LocalAirflow) -> dict[str, list[dict[str, Any]]]:
    return {
        dag_id: airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=20")[
            "dag_runs"
        ]
        for dag_id in DOMAINS
    }


def report(airflow: LocalAirflow) -> str:
    """Runs, the logs of every task that did not succeed, and the components' last lines."""
    lines = []
    try:
        for dag_id, runs in latest_runs(airflow).items():
            for run in runs:
                lines.append(f"{dag_id} {run['dag_run_id']}: {run['state']}")
                path = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances"
                for ti in airflow.request("GET", path)["task_instances"]:
                    if ti["state"] in ("success", None):
                        continue
                    lines.append(f"  {ti['task_id']}: {ti['state']}")
                    if ti["try_number"]:
                        log = airflow.request(
                            "GET", f"{path}/{ti['task_id']}/logs/{ti['try_number']}?full_content=true"
                        )
                        events = [e.get("event", "") for e in log["content"] if isinstance(e, dict)]
                        lines += [f"    {event}" for event in events[-30:]]
    except Exception as exc:  # the report must not hide the original failure
        lines.append(f"(could not read runs through the API: {exc})")
    for component in ("scheduler", "dag-processor", "triggerer", "api-server"):
        lines += [f"--- {component}", airflow.component_log(component, 15)]
    return "\n".join(lines)


@pytest.fixture
def live(tmp_path: Path) -> Any:
    project = copy_example(tmp_path / "project")
    # The example has no start_date, so an unpaused cron DAG waits for its next tick: with
    # the ticks hours away, every run is one the test made or an Asset event triggered.
    crons = shift_schedules(project)
    seeded = dagmesh("seed", "--scale", "0.01", project=project)
    assert seeded.returncode == 0, seeded.stderr
    airflow = LocalAirflow(project, tmp_path / "airflow", port=free_port())
    airflow.setup()
    airflow.start()
    try:
        yield airflow, crons
    finally:
        airflow.stop()


def test_the_mesh_chains_itself_in_a_live_airflow(live: tuple[LocalAirflow, dict[str, str]]) -> None:
    airflow, crons = live
    try:
        run_the_mesh(airflow, crons)
    except BaseException:
        print(report(airflow))
        raise


def run_the_mesh(airflow: LocalAirflow, crons: dict[str, str]) -> None:
    airflow.wait_ready(timeout=240)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        dags = airflow.request("GET", "/api/v2/dags?tags=mesh&limit=100")
        if dags["total_entries"] == len(DOMAINS):
            break
        time.sleep(3)
    assert sorted(d["dag_id"] for d in dags["dags"]) == sorted(DOMAINS)
    assert airflow.request("GET", "/api/v2/importErrors")["total_entries"] == 0
    plugins = airflow.request("GET", "/api/v2/plugins")["plugins"]
    assert [p["name"] for p in plugins] == ["dagmesh"]
    assert airflow.request("GET", "/api/v2/plugins/importErrors")["total_entries"] == 0

    for dag_id in DOMAINS:
        airflow.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    # payer_dw runs on a cron: trigger it by hand with no logical date; its sensors then
    # wait for the upstream runs at the latest schedule points before its run_after.
    manual = airflow.request("POST", "/api/v2/dags/payer_dw/dagRuns", {"logical_date": None})
    assert manual["logical_date"] is None
    run_after = datetime.fromisoformat(manual["run_after"].replace("Z", "+00:00"))
    for dag_id in ("physician", "product", "payer"):
        tick = aligned_upstream_tick(crons[dag_id], run_after)
        airflow.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": tick.isoformat()})

    deadline = time.monotonic() + DEADLINE
    while True:
        runs = latest_runs(airflow)
        finished = {
            d: bool(r) and all(x["state"] in ("success", "failed") for x in r) for d, r in runs.items()
        }
        failed = [d for d, r in runs.items() if any(x["state"] == "failed" for x in r)]
        assert not failed, f"runs failed: {failed}"
        if all(finished.values()):
            break
        assert time.monotonic() < deadline, f"not finished after {DEADLINE}s: {finished}"
        time.sleep(5)

    # Through the REST API: every run succeeded, and how each warehouse run was started. (The
    # scheduler may add a run of payer_dw's latest tick once the manual run exists; it
    # waits for the same upstream runs and must succeed too.)
    assert {d: {x["state"] for x in r} for d, r in runs.items()} == {d: {"success"} for d in DOMAINS}
    assert any(r["run_type"] == "manual" and r["logical_date"] is None for r in runs["payer_dw"])
    assert {r["run_type"] for r in runs["physician_dw"]} == {"asset_triggered"}
    assert {r["run_type"] for r in runs["launch_analytics"]} == {"asset_triggered"}
    events = {
        dag_id: airflow.request("GET", f"/api/v2/assets/events?source_dag_id={dag_id}&limit=50")[
            "asset_events"
        ]
        for dag_id in ("physician", "physician_dw", "payer_dw", "launch_analytics")
    }
    (physician_version,) = {e["extra"]["domain_version"] for e in events["physician"]}
    for dag_id in ("physician_dw", "payer_dw", "launch_analytics"):
        assert {e["extra"]["lineage"]["physician"] for e in events[dag_id]} == {physician_version}, dag_id

    # Through the registry: what launch_analytics read, and from which physician build each input came.
    warehouse = airflow.project_root / ".dagmesh" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        states = con.execute("SELECT domain, state FROM mesh_meta.builds").fetchall()
        assert {domain for domain, _ in states} == set(DOMAINS)
        assert {state for _, state in states} == {"certified"}
        inputs = con.execute(
            "SELECT i.upstream_domain, i.lineage, i.triggered_by_build_id FROM mesh_meta.inputs i "
            "JOIN mesh_meta.certifications c ON c.build_id = i.build_id WHERE c.domain = 'launch_analytics'"
        ).fetchall()
        lineages = con.execute(
            "SELECT lineage FROM mesh_meta.certifications WHERE domain = 'launch_analytics'"
        ).fetchall()
    through = {upstream: json.loads(text)["physician"] for upstream, text, _ in inputs}
    assert through == {"physician_dw": physician_version, "payer_dw": physician_version}
    assert {json.loads(text)["physician"] for (text,) in lineages} == {physician_version}
    assert all(triggered for _, _, triggered in inputs)  # each input came with the event that triggered it
