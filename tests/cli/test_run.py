"""``dagmesh run`` and ``dagmesh status`` on a copy of the example, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.helpers import PLANT_DUPLICATE_NPIS, dagmesh

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

WAREHOUSE = ".dagmesh/warehouse.duckdb"


def warehouse(project: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(project / WAREHOUSE))


def summary(stdout: str) -> dict[str, str]:
    """The RESULT column of the summary table ``dagmesh run`` ends with, by domain."""
    lines = stdout.strip().splitlines()
    header = max(i for i, line in enumerate(lines) if line.startswith("DOMAIN "))
    rows = [line.split() for line in lines[header + 2 : -1]]
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
    domains = {d["domain"]: d for d in json.loads(status.stdout)}
    assert set(domains) == {"payer", "physician", "product", "payer_dw", "physician_dw", "launch_analytics"}
    for entry in domains.values():
        assert entry["state"] == "certified"
        assert entry["version"] == 1
        assert entry["build_id"] == entry["certified_build_id"]
        assert entry["certified_at"]
        assert entry["tests_passed"] > 0 and entry["tests_failed"] == 0
    assert domains["physician"]["layer"] == "mastered"
    assert domains["launch_analytics"]["lineage"] == {
        "payer": 1, "payer_dw": 1, "physician": 1, "physician_dw": 1, "product": 1,
    }  # fmt: skip

    with warehouse(seeded) as con:
        published = con.execute("SELECT COUNT(*) FROM launch_analytics.launch_targets").fetchone()
        assert published is not None and published[0] >= 10


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
        assert checks["physician.physician:primary_key_unique"] == "pass"
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
    physician = next(d for d in status if d["domain"] == "physician")
    assert physician["state"] == "failed"
    assert physician["version"] == 1
    assert physician["tests_failed"] >= 2


def test_naming_an_unknown_domain_is_a_usage_error(project: Path) -> None:
    done = dagmesh("run", "physican", project=project)
    assert done.returncode == 2
    assert "unknown domain 'physican' (did you mean 'physician'?)" in done.stderr
    assert "Traceback" not in done.stderr
