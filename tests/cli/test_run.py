"""``dagmesh run`` and ``dagmesh status`` on a copy of the example, as a user runs them."""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from dagmesh.registry.store import TABLES
from tests.helpers import PLANT_DUPLICATE_NPIS, REPO, dagmesh, set_domain_key

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

WAREHOUSE = ".dagmesh/warehouse.duckdb"


def warehouse(project: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(project / WAREHOUSE))


def summary(stdout: str) -> dict[str, str]:
    """The RESULT column of the summary table ``dagmesh run`` ends with, by domain."""
    lines = stdout.strip().splitlines()
    header = max(i for i, line in enumerate(lines) if line.startswith("DOMAIN "))
    table = lines[header + 2 : -1]
    end = table.index("") if "" in table else len(table)  # failed and warned checks follow the table
    rows = [line.split() for line in table[:end]]
    return {row[0]: row[2] for row in rows}


def test_the_whole_mesh_runs_and_reports_every_domain_certified(seeded: Path) -> None:
    done = dagmesh("run", project=seeded)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "6/6 domains certified"
    results = summary(done.stdout)
    assert list(results) == ["payer", "physician", "product", "payer_dw", "physician_dw", "launch_analytics"]
    assert set(results.values()) == {"certified"}

    status = dagmesh("status", "--json", project=seeded)
    assert status.returncode == 0, status.stderr
    domains = {d["name"]: d for d in json.loads(status.stdout)}
    assert set(domains) == {"payer", "physician", "product", "payer_dw", "physician_dw", "launch_analytics"}
    for entry in domains.values():
        assert entry["state"] == "certified"
        assert entry["published"]["version"] == 1
        assert entry["latest_build"]["build_id"] == entry["published"]["build_id"]
        assert entry["published"]["certified_at"]
        assert entry["latest_build"]["tests"]["passed"] > 0 and entry["latest_build"]["tests"]["failed"] == 0
    assert domains["physician"]["layer"] == "mastered"
    assert domains["launch_analytics"]["published"]["lineage"] == {
        "payer": 1, "payer_dw": 1, "physician": 1, "physician_dw": 1, "product": 1,
    }  # fmt: skip

    with warehouse(seeded) as con:
        published = con.execute("SELECT COUNT(*) FROM launch_analytics.launch_targets").fetchone()
        assert published is not None and published[0] >= 10
        # Consumers see only ports: payer_dw's staging model stays in its build schema.
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE 'payer_dw%'"
        ).fetchall()
        published_tables = {t for s, t in tables if s == "payer_dw"} - {"dagmesh_build"}
        assert published_tables == {"dim_payer_plan", "fact_payer_claims", "physician_access"}
        assert ("payer_dw__build", "stg_claims") in tables


def test_a_failing_blocking_test_keeps_the_last_certified_data_and_blocks_downstream(seeded: Path) -> None:
    first = dagmesh("run", project=seeded)
    assert first.returncode == 0, first.stdout + first.stderr
    with warehouse(seeded) as con:
        before = con.execute("SELECT * FROM physician.physician ORDER BY physician_id").fetchall()
        con.execute(PLANT_DUPLICATE_NPIS)

    second = dagmesh("run", project=seeded)

    assert second.returncode == 1
    assert second.stdout.strip().splitlines()[-1] == "2/6 domains certified"
    assert summary(second.stdout) == {
        "payer": "certified",
        "physician": "failed",
        "product": "certified",
        "payer_dw": "blocked",
        "physician_dw": "blocked",
        "launch_analytics": "blocked",
    }
    assert "physician.physician.npi:unique" in second.stdout
    assert "NOT certified (v1 stays published)" in second.stdout
    # The summary names each failed check with a sample of what it found: the duplicated NPI.
    unique = next(
        line for line in second.stdout.splitlines() if "FAIL physician.physician.npi:unique" in line
    )
    assert re.search(r"observed 5, expected = 0; sample: npi=\d{10} \(6 rows\)$", unique), unique
    log = max((seeded / ".dagmesh" / "logs").glob("run-*.log"))  # the failure log says it too
    assert re.search(
        r"FAIL physician\.physician\.npi:unique observed 5, .*; sample: npi=\d{10} \(6 rows\)",
        log.read_text(),
    )

    with warehouse(seeded) as con:
        after = con.execute("SELECT * FROM physician.physician ORDER BY physician_id").fetchall()
        assert after == before
        failed_build = con.execute(
            "SELECT build_id, state, message FROM mesh_meta.builds WHERE domain = 'physician' "
            "ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        assert failed_build is not None
        build_id, state, message = failed_build
        assert state == "failed" and "npi:unique" in message
        checks = dict(
            con.execute(
                "SELECT test_id, status FROM mesh_meta.test_results WHERE build_id = ?", [build_id]
            ).fetchall()
        )
        assert checks["physician.physician.npi:unique"] == "fail"
        assert checks["physician:no_duplicate_npi"] == "fail"
        samples = dict(
            con.execute(
                "SELECT test_id, sample FROM mesh_meta.test_results WHERE build_id = ? AND status = 'fail'",
                [build_id],
            ).fetchall()
        )
        assert re.fullmatch(r"npi=\d{10} \(6 rows\)", samples["physician.physician.npi:unique"])
        assert samples["physician:no_duplicate_npi"]  # the custom test's first violating rows
        assert checks["physician.physician:primary_key"] == "pass"
        observed, threshold = con.execute(
            "SELECT observed, threshold FROM mesh_meta.test_results "
            "WHERE build_id = ? AND test_id = 'physician.physician.npi:unique'",
            [build_id],
        ).fetchone() or (None, None)
        assert observed == "5" and threshold == "= 0"
        downstream_runs = con.execute(
            "SELECT COUNT(*) FROM mesh_meta.builds "
            "WHERE domain IN ('physician_dw', 'payer_dw', 'launch_analytics')"
        ).fetchone()
        assert downstream_runs == (3,)  # only the first run's builds

    status = json.loads(dagmesh("status", "--json", project=seeded).stdout)
    physician = next(d for d in status if d["name"] == "physician")
    assert physician["state"] == "failed"
    assert physician["published"]["version"] == 1
    assert physician["latest_build"]["tests"]["failed"] >= 2


def test_naming_an_unknown_domain_is_a_usage_error(project: Path) -> None:
    done = dagmesh("run", "physican", project=project)
    assert done.returncode == 2
    assert "unknown domain 'physican' (did you mean 'physician'?)" in done.stderr
    assert "Traceback" not in done.stderr


def start_run(project: Path, *domains: str) -> subprocess.Popen[str]:
    """``dagmesh run`` in the background, its output readable line by line."""
    return subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "dagmesh"), "run", *domains],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(process: subprocess.Popen[str], text: str, timeout: float = 120) -> list[str]:
    """The stdout lines of ``process`` up to the first one containing ``text``."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        seen.append(line)
        if text in line:
            return seen
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError(f"ended before {text!r}:\n{''.join(seen)}")


def test_sigterm_stops_a_run_cleanly_before_its_next_domain(seeded: Path) -> None:
    lock = seeded / ".dagmesh" / "locks" / "dev" / "physician.lock"
    lock.parent.mkdir(parents=True)
    with lock.open("w") as held:  # another run has physician: this run's physician build waits
        fcntl.flock(held, fcntl.LOCK_EX)
        running = start_run(seeded)
        read_until(running, "waiting for another dagmesh run of physician")
        started = time.monotonic()

        running.send_signal(signal.SIGTERM)

        out, err = running.communicate(timeout=60)
    assert running.returncode == 143, out + err
    assert time.monotonic() - started < 30
    assert "dagmesh run: terminated" in err
    assert "[4/6]" not in out  # nothing downstream of physician started
    assert "Traceback" not in err
    with warehouse(seeded) as con:
        states = dict(con.execute("SELECT domain, state FROM mesh_meta.builds").fetchall())
    assert "physician" not in states  # it never started building
    assert set(states) <= {"payer", "product"} and "running" not in states.values()


def test_a_killed_runs_build_is_marked_abandoned_by_the_next_run(seeded: Path) -> None:
    running = start_run(seeded, "product")
    read_until(running, "✓ product: check_inputs.sources")
    running.send_signal(signal.SIGKILL)  # no chance to clean up: the build stays "running"
    running.wait()

    assert dagmesh("run", "product", project=seeded).returncode == 0

    with warehouse(seeded) as con:
        states = con.execute("SELECT state FROM mesh_meta.builds ORDER BY started_at").fetchall()
    assert states == [("abandoned",), ("certified",)]


def test_two_runs_of_one_domain_take_turns_and_say_what_they_wait_for(seeded: Path) -> None:
    first = start_run(seeded, "--airflow", "product")  # the slower path: the second run meets it
    read_until(first, "[1/1] product")
    second = start_run(seeded, "product")

    out, _ = second.communicate(timeout=300)
    first.communicate(timeout=300)

    assert first.returncode == second.returncode == 0
    assert f"waiting for another dagmesh run of product (pid {first.pid}) to finish" in out
    with warehouse(seeded) as con:
        versions = con.execute("SELECT version FROM mesh_meta.certifications ORDER BY version").fetchall()
    assert versions == [(1,), (2,)]  # each run published and registered its own build


def test_a_run_waiting_for_the_warehouse_lock_says_so_and_until_when(seeded: Path) -> None:
    holder = warehouse(seeded)  # another process has the DuckDB file open (here: this test)
    running = start_run(seeded, "product")
    seen = read_until(running, "waiting for the DuckDB warehouse")
    holder.close()

    out, _ = running.communicate(timeout=300)

    assert running.returncode == 0 and "1/1 domains certified" in out
    line = next(line for line in seen if "waiting for the DuckDB warehouse" in line)
    assert "another process has it open until" in line and "UTC" in line


def test_a_run_waiting_for_consistent_inputs_says_what_it_waits_for_and_until_when(seeded: Path) -> None:
    mesh = seeded / "dag_configs" / "mesh.yaml"
    mesh.write_text(
        mesh.read_text().replace("max_wait: 2h\n  poll_interval: 5m", "max_wait: 4s\n  poll_interval: 1s")
    )
    assert dagmesh("run", project=seeded).returncode == 0
    # physician and physician_dw move on; payer_dw still holds the first physician version.
    assert dagmesh("run", "physician", "physician_dw", project=seeded).returncode == 0

    done = dagmesh("run", "launch_analytics", project=seeded)

    assert done.returncode == 1
    waits = [
        line
        for line in done.stdout.splitlines()
        if "waiting for the lagging input to re-certify (inputs disagree on physician" in line
    ]
    assert waits and all(" until " in line and "UTC" in line for line in waits)
    assert "payer_dw was built from physician v1, physician_dw was built from physician v2" in waits[0]
    assert "NOT certified" in done.stdout and "consistency.max_wait is 4s" in done.stdout


#: What differs between two runs of the same build by nature: ids, run ids, clocks, durations.
VARYING = {"build_id", "upstream_build_id", "triggered_by_build_id", "run_id", "logical_date", "seconds"}
#: ... and a source's age, measured when its freshness is checked.
MEASURED_AT_RUN_TIME = {"observed": "CASE WHEN test LIKE 'freshness%' THEN 'age' ELSE observed END"}
BUILD_ID = re.compile(r"\b([a-z_]+)-[0-9a-f]{12}\b")


def registry_records(project: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every registry table's rows without what varies from run to run (ids in messages masked)."""
    records = {}
    with warehouse(project) as con:
        for table, columns in TABLES.items():
            kept = [n for n, kind in columns if n not in VARYING and kind != "TIMESTAMP"]
            selected = [MEASURED_AT_RUN_TIME.get(n, n) if table == "test_results" else n for n in kept]
            rows = con.execute(f"SELECT {', '.join(selected)} FROM mesh_meta.{table}").fetchall()
            masked = [
                tuple(BUILD_ID.sub(r"\1-<build>", v) if isinstance(v, str) else v for v in r) for r in rows
            ]
            records[table] = sorted(masked, key=repr)
    return records


def published_rows(project: Path) -> dict[str, int]:
    with warehouse(project) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT LIKE 'raw_%' AND table_schema NOT LIKE '%__build' "
            "AND table_schema <> 'mesh_meta'"
        ).fetchall()
        return {f"{s}.{t}": con.execute(f'SELECT COUNT(*) FROM "{s}"."{t}"').fetchone()[0] for s, t in tables}


def test_run_and_run_airflow_record_the_same_builds_publish_the_same_rows_and_exit_alike(
    seeded: Path,
) -> None:
    # One domain (which fails below) runs as two Airflow tasks, one each stage as one task,
    # the others a task per model and test; the local runner's plan does not change with
    # it: the records must not either.
    set_domain_key(seeded, "mastered/physician.yaml", "task_granularity: domain")
    set_domain_key(seeded, "integrated/payer_dw.yaml", "task_granularity: stage")
    through_airflow = seeded.parent / "through_airflow"
    shutil.copytree(seeded, through_airflow, symlinks=True)  # the same raw data in both

    for step in ("certify everything", "a duplicated NPI fails physician"):
        if step != "certify everything":
            for project in (seeded, through_airflow):
                with warehouse(project) as con:
                    con.execute(PLANT_DUPLICATE_NPIS)
        direct = dagmesh("run", project=seeded)
        airflow = dagmesh("run", "--airflow", project=through_airflow)

        assert direct.returncode == airflow.returncode, step + direct.stdout + airflow.stdout
        assert summary(direct.stdout) == summary(airflow.stdout), step
        assert registry_records(seeded) == registry_records(through_airflow), step
        assert published_rows(seeded) == published_rows(through_airflow), step
    assert direct.returncode == 1 and summary(direct.stdout)["physician"] == "failed"
