"""The mesh in a live Airflow, started with ``dagmesh airflow`` and driven as the README says.

A real api-server, scheduler, DAG processor and triggerer (LocalExecutor, SQLite) on a
copy of the example with a fresh DuckDB warehouse. The tests run in order on one
Airflow: the README's recipe (unpause every domain, trigger the three mastered ones
through the REST API with no logical date, as the UI does) certifies the whole mesh,
one domain of it with ``task_granularity: stage``;
a broken domain config stays alone while Airflow runs; SIGTERM stops every component;
a second start finds components a killed start left running.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagmesh.cli.local_airflow import LocalAirflow, free_port, port_is_free
from dagmesh.config.environments import DUCKDB_POOL_SLOTS
from dagmesh.engines import duckdb_server
from dagmesh.mesh.schedules import aligned_upstream_tick
from tests.helpers import REPO, copy_example, dagmesh, edit, set_domain_key

pytestmark = pytest.mark.e2e

DOMAINS = ("physician", "product", "payer", "physician_dw", "payer_dw", "launch_analytics")
MASTERED = ("physician", "product", "payer")
#: The example's daily schedules (hour of day, UTC) of the cron-scheduled domains.
CRON_HOURS = {"payer": 3, "product": 4, "physician": 5, "payer_dw": 6}
CONFIGS = {
    "payer": "mastered/payer.yaml",
    "product": "mastered/product.yaml",
    "physician": "mastered/physician.yaml",
    "payer_dw": "integrated/payer_dw.yaml",
}
DEADLINE = 15 * 60
#: physician_dw checks its sources and its (Asset-triggered) upstreams in one check_inputs task.
STAGE_GRANULAR_CONFIG = "integrated/physician_dw.yaml"
#: physician (which a sensor and an asset schedule wait for) and launch_analytics each run
#: a build as one task, the gate its last step.
DOMAIN_GRANULAR_CONFIGS = ("mastered/physician.yaml", "self_service/launch_analytics.yaml")


def shift_schedules(project: Path) -> dict[str, str]:
    """Move the example's crons by one offset (keeping their order and gaps) so that their
    ticks are 2 to 5 hours ago: no scheduled tick falls inside the test."""
    offset = (datetime.now(UTC).hour - 2 - CRON_HOURS["payer_dw"]) % 24
    crons = {}
    for domain, hour in CRON_HOURS.items():
        crons[domain] = f"0 {(hour + offset) % 24} * * *"
        edit(
            project,
            f"dag_configs/{CONFIGS[domain]}",
            f'schedule: "0 {hour} * * *"',
            f'schedule: "{crons[domain]}"',
        )
    return crons


@dataclass
class Live:
    project: Path
    home: Path
    port: int
    crons: dict[str, str]
    command: subprocess.Popen[str]
    airflow: LocalAirflow


def start(project: Path, home: Path, port: int) -> subprocess.Popen[str]:
    """``dagmesh airflow`` as a person runs it (``make airflow``); returns once it says it is running."""
    command = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "dagmesh"), "airflow", "--port", str(port)],
        cwd=project,
        env={**os.environ, "DAGMESH_AIRFLOW_HOME": str(home), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert command.stdout is not None
    seen = []
    deadline = time.monotonic() + 300
    for line in command.stdout:
        seen.append(line)
        if "Airflow is running at" in line:
            return command
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError(f"dagmesh airflow exited with {command.wait()}:\n{''.join(seen)}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live")
    project = copy_example(root / "project")
    # The example has no start_date, so an unpaused cron domain without sensors waits for its
    # next tick: with the ticks hours away, every run is one the test (or Airflow) started.
    crons = shift_schedules(project)
    # One domain runs each stage as one task, and physician (whose certification a sensor
    # and an asset schedule wait for) and the last domain each build as one task: the
    # scheduler runs the combined operators too.
    set_domain_key(project, STAGE_GRANULAR_CONFIG, "task_granularity: stage")
    for config in DOMAIN_GRANULAR_CONFIGS:
        set_domain_key(project, config, "task_granularity: domain")
    seeded = dagmesh("seed", "--scale", "0.01", project=project)
    assert seeded.returncode == 0, seeded.stderr
    home, port = root / "airflow", free_port()
    command = start(project, home, port)
    try:
        yield Live(project, home, port, crons, command, LocalAirflow(project, home, port=port))
    finally:
        if command.poll() is None:
            command.terminate()
            command.wait(timeout=120)
        LocalAirflow(project, home, port=port).stop_stale()


def runs_of(airflow: LocalAirflow, dag_id: str) -> list[dict[str, Any]]:
    return airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=50")["dag_runs"]


def report(live: Live) -> str:
    """Runs, the logs of every task that did not succeed, and the components' last lines."""
    airflow, lines = live.airflow, []
    try:
        for dag_id in DOMAINS:
            for run in runs_of(airflow, dag_id):
                lines.append(f"{dag_id} {run['dag_run_id']}: {run['state']}")
                path = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances"
                for ti in airflow.request("GET", path)["task_instances"]:
                    if ti["state"] in ("success", None) or not ti["try_number"]:
                        continue
                    lines.append(f"  {ti['task_id']}: {ti['state']}")
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


def wait_for(what: str, condition: Any, live: Live, timeout: float = DEADLINE, every: float = 3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f}s\n{report(live)}")
        time.sleep(every)


def test_the_readme_recipe_certifies_the_whole_mesh(live: Live) -> None:
    airflow = live.airflow
    dags = wait_for(
        "the DAG processor lists every domain",
        lambda: (
            (found := airflow.request("GET", "/api/v2/dags?tags=mesh&limit=100"))["total_entries"] == 6
            and found
        ),
        live,
        timeout=180,
    )
    assert sorted(d["dag_id"] for d in dags["dags"]) == sorted(DOMAINS)
    assert airflow.request("GET", "/api/v2/importErrors")["total_entries"] == 0
    assert [p["name"] for p in airflow.request("GET", "/api/v2/plugins")["plugins"]] == ["dagmesh"]

    # The README: unpause every domain, trigger the mastered ones (as the UI does: no logical date).
    for dag_id in DOMAINS:
        airflow.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    started = datetime.now(UTC)
    for dag_id in MASTERED:
        run = airflow.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
        assert run["logical_date"] is None

    def finished() -> bool:
        runs = {d: runs_of(airflow, d) for d in DOMAINS}
        failed = [d for d, r in runs.items() if any(x["state"] == "failed" for x in r)]
        assert not failed, f"runs failed: {failed}\n{report(live)}"
        return all(r and all(x["state"] == "success" for x in r) for r in runs.values())

    wait_for("launch_analytics certifies", finished, live, every=5)

    runs = {d: runs_of(airflow, d) for d in DOMAINS}
    assert {d: {x["state"] for x in r} for d, r in runs.items()} == {d: {"success"} for d in DOMAINS}
    for dag_id in MASTERED:
        assert [(r["run_type"], r["logical_date"]) for r in runs[dag_id]] == [("manual", None)]
    # payer_dw (cron, waiting on its cron upstreams) ran its latest tick once when it was unpaused.
    latest = aligned_upstream_tick(live.crons["payer_dw"], started)
    (payer_dw,) = runs["payer_dw"]
    assert payer_dw["run_type"] == "scheduled"
    assert datetime.fromisoformat(payer_dw["logical_date"].replace("Z", "+00:00")) == latest
    assert {r["run_type"] for r in runs["physician_dw"]} == {"asset_triggered"}
    (physician_dw,) = runs["physician_dw"]
    path = f"/api/v2/dags/physician_dw/dagRuns/{physician_dw['dag_run_id']}/taskInstances"
    stage_tasks = {ti["task_id"]: ti["state"] for ti in airflow.request("GET", path)["task_instances"]}
    assert stage_tasks == dict.fromkeys(
        ("check_inputs.all", "build.all", "test.all", "certify.publish"), "success"
    )
    assert {r["run_type"] for r in runs["launch_analytics"]} == {"asset_triggered"}
    for dag_id in ("physician", "launch_analytics"):
        (run,) = runs[dag_id]
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances"
        domain_tasks = {ti["task_id"]: ti["state"] for ti in airflow.request("GET", path)["task_instances"]}
        assert domain_tasks == {"stages.all": "success"}, dag_id

    events = {
        dag_id: airflow.request("GET", f"/api/v2/assets/events?source_dag_id={dag_id}&limit=50")[
            "asset_events"
        ]
        for dag_id in ("physician", "physician_dw", "payer_dw", "launch_analytics")
    }
    (physician_version,) = {e["extra"]["domain_version"] for e in events["physician"]}
    for dag_id in ("physician_dw", "payer_dw", "launch_analytics"):
        assert {e["extra"]["lineage"]["physician"] for e in events[dag_id]} == {physician_version}, dag_id

    # Independent domains' warehouse tasks ran side by side (their SQL too, in the warehouse server).
    assert airflow.request("GET", "/api/v2/pools/dagmesh_duckdb")["slots"] == DUCKDB_POOL_SLOTS
    spans = [
        (dag_id, ti["start_date"], ti["end_date"])
        for dag_id in MASTERED
        for ti in airflow.request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{runs[dag_id][0]['dag_run_id']}/taskInstances"
        )["task_instances"]
        if ti["pool"] == "dagmesh_duckdb"
    ]
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in spans for b in spans)

    # The warehouse server holds the file: what the tasks wrote is read through it.
    warehouse = live.project / ".dagmesh" / "warehouse.duckdb"
    with pytest.raises(duckdb.IOException, match="lock"):
        duckdb.connect(str(warehouse), read_only=True)
    con = duckdb_server.connect(warehouse, read_only=True)
    assert con is not None
    try:
        states = con.execute("SELECT domain, state FROM mesh_meta.builds").fetchall()
        inputs = con.execute(
            "SELECT i.upstream_domain, i.lineage FROM mesh_meta.inputs i "
            "JOIN mesh_meta.certifications c ON c.build_id = i.build_id WHERE c.domain = 'launch_analytics'"
        ).fetchall()
    finally:
        con.close()
    assert sorted(states) == sorted((d, "certified") for d in DOMAINS)
    through = {upstream: json.loads(text)["physician"] for upstream, text in inputs}
    assert through == {"physician_dw": physician_version, "payer_dw": physician_version}


def test_a_broken_domain_stays_alone_while_airflow_runs(live: Live) -> None:
    airflow = live.airflow
    schedule = airflow.request("GET", "/api/v2/dags/launch_analytics/details")["asset_expression"]
    broken_at = datetime.now(UTC)
    edit(
        live.project,
        "dag_configs/integrated/payer_dw.yaml",
        f'schedule: "{live.crons["payer_dw"]}"',
        'schedule: "0 6 * *"',
    )

    def reparsed() -> bool:
        """payer_dw's file and its consumer's (which reads payer_dw's config), re-parsed at
        once: `dagmesh airflow` touches the DAG files a change decides."""
        errors = airflow.request("GET", "/api/v2/importErrors")["import_errors"]
        parsed = airflow.request("GET", "/api/v2/dags/launch_analytics")["last_parsed_time"]
        return bool(errors) and datetime.fromisoformat(parsed.replace("Z", "+00:00")) > broken_at

    wait_for("the DAG processor re-parses payer_dw and its consumer", reparsed, live, timeout=180)

    (error,) = airflow.request("GET", "/api/v2/importErrors")["import_errors"]
    assert error["filename"].endswith("domains/payer_dw.py")
    assert (
        "dag_configs/integrated/payer_dw.yaml:8:11: error: schedule '0 6 * *' is not a valid cron"
        in (error["stack_trace"])
    )
    states = {d: airflow.request("GET", f"/api/v2/dags/{d}")["is_stale"] for d in DOMAINS}
    assert states == {**{d: False for d in DOMAINS}, "payer_dw": True}
    # Its consumer keeps every input (and waits for payer_dw): it is not re-wired.
    assert airflow.request("GET", "/api/v2/dags/launch_analytics/details")["asset_expression"] == schedule
    # The others stay schedulable and triggerable.
    run = airflow.request("POST", "/api/v2/dags/product/dagRuns", {"logical_date": None})
    wait_for(
        "product runs while payer_dw is broken",
        lambda: (
            airflow.request("GET", f"/api/v2/dags/product/dagRuns/{run['dag_run_id']}")["state"]
            in ("success", "failed")
        ),
        live,
        timeout=300,
    )
    assert airflow.request("GET", f"/api/v2/dags/product/dagRuns/{run['dag_run_id']}")["state"] == "success"

    edit(
        live.project,
        "dag_configs/integrated/payer_dw.yaml",
        'schedule: "0 6 * *"',
        f'schedule: "{live.crons["payer_dw"]}"',
    )
    wait_for(
        "payer_dw loads again",
        lambda: (
            not airflow.request("GET", "/api/v2/dags/payer_dw")["is_stale"]
            and airflow.request("GET", "/api/v2/importErrors")["total_entries"] == 0
        ),
        live,
        timeout=180,
    )


def test_secrets_of_the_local_airflow_are_private(live: Live) -> None:
    for name in ("secrets.json", "passwords.json"):
        assert stat.S_IMODE((live.home / name).stat().st_mode) == 0o600, name
    served = duckdb_server.address_file(live.project / ".dagmesh" / "warehouse.duckdb")
    assert stat.S_IMODE(served.stat().st_mode) == 0o600  # the warehouse server's port and token
    assert len(json.loads((live.home / "secrets.json").read_text())["jwt"]) >= 64


def test_the_task_execution_api_is_built_before_airflow_says_it_is_running(live: Live) -> None:
    """The api-server builds that API on its first request (seconds, answering nothing else):
    ``dagmesh airflow`` makes that request, so the first task does not wait for it."""
    requests = [
        line.split("path=")[1].split()[0]
        for line in (live.home / "logs" / "api-server.log").read_text().splitlines()
        if "request finished" in line and "path=/execution/" in line
    ]
    assert requests and requests[0] == "/execution/health", requests[:3]


def test_the_scheduler_imports_the_tasks_code_before_forking_its_workers(live: Live) -> None:
    """Each task is forked from a LocalExecutor worker, itself forked from the scheduler: the
    stages, the config model, DuckDB and sqlglot are imported once, not by every task."""
    pids = components(live.home)
    workers = [
        int(p)
        for p in Path(f"/proc/{pids['scheduler']}/task/{pids['scheduler']}/children").read_text().split()
    ]
    assert workers
    for pid in (pids["scheduler"], *workers[:2]):
        assert "_duckdb" in Path(f"/proc/{pid}/maps").read_text(), pid  # the driver's native library
    for other in ("api-server", "dag-processor", "triggerer"):  # nothing for components that run no task
        assert "_duckdb" not in Path(f"/proc/{pids[other]}/maps").read_text(), other


def components(home: Path) -> dict[str, int]:
    return {name: int(pid) for name, pid in json.loads((home / "components.json").read_text()).items()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped by its new parent) is not running
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True  # no /proc: alive is the best we know
    return state != "Z"


def test_sigterm_stops_every_component(live: Live) -> None:
    pids = components(live.home)
    assert sorted(pids) == ["api-server", "dag-processor", "scheduler", "triggerer", "warehouse-server"]

    live.command.send_signal(signal.SIGTERM)

    assert live.command.wait(timeout=90) == 143
    assert not [name for name, pid in pids.items() if alive(pid)]
    assert port_is_free(live.port)
    assert not (live.home / "components.json").exists()
    # The warehouse server closed the file (a checkpoint) and took its address with it.
    warehouse = live.project / ".dagmesh" / "warehouse.duckdb"
    assert not duckdb_server.address_file(warehouse).exists()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (certified,) = con.execute("SELECT count(*) FROM mesh_meta.certifications").fetchall()
    assert certified[0] >= len(DOMAINS)


def test_a_second_start_finds_components_a_killed_start_left_running(live: Live) -> None:
    command = start(live.project, live.home, live.port)
    pids = components(live.home)
    command.send_signal(signal.SIGKILL)  # the CLI dies without stopping its components
    command.wait()
    assert all(alive(pid) for pid in pids.values())

    again = dagmesh("airflow", "--port", str(live.port), project=live.project, timeout=120, home=live.home)

    assert again.returncode == 1
    assert "an earlier local Airflow of this project is still running: warehouse-server (pid" in again.stderr
    assert "api-server (pid" in again.stderr
    assert "dagmesh airflow --stop" in again.stderr

    stopped = dagmesh("airflow", "--stop", project=live.project, timeout=120, home=live.home)

    assert stopped.returncode == 0 and "stopped warehouse-server (pid" in stopped.stdout
    assert "api-server (pid" in stopped.stdout
    assert not [name for name, pid in pids.items() if alive(pid)]
    assert port_is_free(live.port)
