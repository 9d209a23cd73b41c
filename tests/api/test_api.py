"""The REST API on a real api-server: who may ask, and that it tells what the registry holds."""

from __future__ import annotations

import json
import subprocess
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest
import yaml

from tests.api.conftest import ANALYST_DAGS, WAREHOUSE, Served
from tests.helpers import REPO, dagmesh

pytestmark = pytest.mark.e2e

DOMAINS = {"physician", "product", "payer", "physician_dw", "payer_dw", "launch_analytics"}
ODCS_SCHEMA = REPO / "tests" / "data" / "standards" / "odcs-json-schema-v3.1.0.json"


def registry(project: Path, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(project / WAREHOUSE), read_only=True) as con:
        return con.execute(query, list(params)).fetchall()


def test_a_request_without_a_token_is_refused_with_401(served: Served) -> None:
    for path in ("/domains", "/domains/physician", f"/builds/{served.failed_build}", "/lineage", "/health"):
        status, _, _ = served.get(path, user=None)
        assert status == 401, path


def test_the_plugin_registers_the_app_and_the_mesh_page_with_airflow(served: Served) -> None:
    answer = served.airflow.request("GET", "/api/v2/plugins")
    plugin = next(p for p in answer["plugins"] if p["name"] == "dagmesh")
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/dagmesh"]
    assert [(v["name"], v["url_route"], v["href"]) for v in plugin["external_views"]] == [
        ("Mesh", "mesh", "/dagmesh/ui/")
    ]
    status, schema, _ = served.get("/openapi.json", base="/dagmesh")
    assert status == 200
    assert {"/dagmesh/api/v1/domains", "/dagmesh/api/v1/builds/{build_id}"} <= {
        "/dagmesh" + path for path in schema["paths"]
    }
    # The metadata DB is SQLite: changing requests take turns (see the test below).
    assert [m["name"] for m in plugin["fastapi_root_middlewares"]] == ["dagmesh: one SQLite writer at a time"]


def test_a_dozen_triggers_at_once_all_start_runs_on_a_sqlite_metadata_db(served: Served) -> None:
    """Airflow's audit log commits on the api-server's event loop; on SQLite that deadlocked
    with a trigger holding the write lock until SQLite gave up: most of these answered 500
    after 5 s (or timed out) before the plugin made changing requests take turns."""

    def trigger(dag_id: str) -> int | str:
        try:
            served.airflow.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
        except urllib.error.HTTPError as exc:
            return f"{exc.code} {exc.reason}"
        except TimeoutError:
            return "timed out"
        return 200

    dag_ids = sorted(DOMAINS) * 2
    with ThreadPoolExecutor(len(dag_ids)) as pool:
        answers = list(pool.map(trigger, dag_ids))
    assert answers == [200] * len(dag_ids)
    for dag_id in DOMAINS:
        runs = served.airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?run_type=manual")
        assert runs["total_entries"] >= 2, dag_id


def test_domains_list_every_domain_with_its_state_and_published_version(served: Served) -> None:
    status, page, _ = served.get("/domains")
    assert status == 200
    domains = {d["name"]: d for d in page["items"]}
    assert set(domains) == DOMAINS and page["total"] == 6
    certified = registry(
        served.project, "SELECT domain, max(version) FROM mesh_meta.certifications GROUP BY domain"
    )
    assert {name: d["published"]["version"] for name, d in domains.items()} == dict(certified)
    assert domains["physician"]["state"] == "failed"
    assert domains["physician"]["latest_build"]["build_id"] == served.failed_build
    assert domains["physician"]["latest_build"]["tests"]["failed"] >= 2
    for name in DOMAINS - {"physician"}:
        assert domains[name]["state"] == "certified", domains[name]["health"]
    assert domains["physician"]["layer"] == "mastered" and domains["physician"]["schedule"] == "0 5 * * *"

    status, filtered, _ = served.get("/domains?layer=integrated&limit=1")
    assert status == 200 and filtered["total"] == 2 and len(filtered["items"]) == 1
    assert served.get("/domains?state=failed")[1]["total"] == 1


def test_a_failed_build_shows_every_check_with_observed_value_threshold_and_why_it_failed(
    served: Served,
) -> None:
    status, build, _ = served.get(f"/builds/{served.failed_build}")
    assert status == 200
    assert build["state"] == "failed" and build["certification"] is None
    stored = registry(
        served.project,
        "SELECT test_id, status, observed, threshold, severity FROM mesh_meta.test_results "
        "WHERE build_id = ?",
        served.failed_build,
    )
    assert {
        (c["test_id"], c["status"], c["observed"], c["threshold"], c["severity"]) for c in build["checks"]
    } == set(stored)
    failed = [c for c in build["checks"] if c["status"] == "fail"]
    assert failed and all(f"{c['test_id']}: observed {c['observed']}" in build["failure"] for c in failed)
    models = registry(
        served.project,
        "SELECT model, row_count FROM mesh_meta.model_runs WHERE build_id = ?",
        served.failed_build,
    )
    assert {(m["model"], m["row_count"]) for m in build["models"]} == set(models)


def test_builds_and_certifications_page_through_a_domains_history(served: Served) -> None:
    status, builds, _ = served.get("/domains/physician/builds?limit=1")
    assert status == 200 and builds["total"] == 2 and len(builds["items"]) == 1
    assert builds["items"][0]["build_id"] == served.failed_build  # newest first
    assert served.get("/domains/physician/builds?state=certified")[1]["total"] == 1

    status, history, _ = served.get("/domains/launch_analytics/certifications")
    assert status == 200 and history["total"] == 1
    certification = history["items"][0]
    stored = registry(
        served.project,
        "SELECT port, upstream_build_id, upstream_version FROM mesh_meta.inputs WHERE build_id = ?",
        certification["build_id"],
    )
    assert {
        (i["port"], i["upstream_build_id"], i["upstream_version"]) for i in certification["inputs"]
    } == set(stored)
    assert certification["lineage"] == {
        "payer": 1,
        "payer_dw": 1,
        "physician": 1,
        "physician_dw": 1,
        "product": 1,
    }


def test_lineage_shows_the_graph_with_published_builds_and_whether_consumers_are_in_sync(
    served: Served,
) -> None:
    status, lineage, _ = served.get("/lineage")
    assert status == 200
    assert {n["name"] for n in lineage["nodes"]} == DOMAINS
    edges = {(e["upstream"], e["consumer"]) for e in lineage["edges"]}
    assert ("physician", "physician_dw") in edges and ("payer_dw", "launch_analytics") in edges
    published = dict(registry(served.project, "SELECT domain, build_id FROM mesh_meta.certifications"))
    assert {n["name"]: n["published"]["build_id"] for n in lineage["nodes"]} == published
    sync = {(s["consumer"], s["ancestor"]): s for s in lineage["sync"]}
    assert sync[("launch_analytics", "physician")]["in_sync"] is True
    assert sync[("launch_analytics", "physician")]["used"] == 1


def test_a_domain_shows_its_ports_contracts_inputs_and_consumers(served: Served) -> None:
    status, domain, _ = served.get("/domains/physician_dw")
    assert status == 200
    assert {i["upstream_domain"] for i in domain["inputs"]} >= {"physician"}
    assert domain["consumers"] == ["launch_analytics"]
    port = domain["ports"][0]
    assert port["published"]["row_count"] > 0 and port["columns"] and port["checks"]

    status, contracts, _ = served.get("/domains/physician_dw/contracts")
    assert status == 200 and len(contracts) == len(domain["ports"])
    schema = json.loads(ODCS_SCHEMA.read_text())
    for contract in contracts:
        jsonschema.validate(contract, schema)
    status, text, headers = served.get(f"/domains/physician_dw/contracts/{port['name']}?format=yaml")
    assert status == 200 and "yaml" in headers["content-type"]
    assert yaml.safe_load(text) == contracts[0]
    assert served.get("/domains/physician_dw/contracts/nope")[0] == 404


def test_health_says_which_domains_fail_and_which_are_fine(served: Served) -> None:
    status, health, _ = served.get("/health")
    assert status == 200
    by_domain = {h["domain"]: h for h in health}
    assert by_domain["physician"]["failing"] is True
    assert [h["domain"] for h in served.get("/health?state=failed")[1]] == ["physician"]
    assert by_domain["product"]["last_certified_at"] is not None


def test_a_user_sees_only_the_domains_whose_dags_airflow_lets_them_read(served: Served) -> None:
    status, page, _ = served.get("/domains", user="analyst")
    assert status == 200
    assert {d["name"] for d in page["items"]} == set(ANALYST_DAGS)
    assert served.get("/domains/physician", user="analyst")[0] == 404
    assert served.get(f"/builds/{served.failed_build}", user="analyst")[0] == 404
    assert served.get("/domains/physician/certifications", user="analyst")[0] == 404
    lineage = served.get("/lineage", user="analyst")[1]
    assert {n["name"] for n in lineage["nodes"]} == set(ANALYST_DAGS)
    assert all(e["upstream"] in ANALYST_DAGS and e["consumer"] in ANALYST_DAGS for e in lineage["edges"])
    assert served.get("/domains/payer_dw", user="analyst")[1]["consumers"] == []  # launch_analytics hidden


def test_a_busy_warehouse_answers_503_with_retry_after_and_the_api_holds_no_lock(served: Served) -> None:
    writer = duckdb.connect(str(served.project / WAREHOUSE))  # holds the write lock, as a running task does
    try:
        status, body, headers = served.get("/domains")
        assert status == 503 and int(headers["retry-after"]) > 0
        assert "being written" in body["detail"]
    finally:
        writer.close()
    assert served.get("/domains")[0] == 200
    # Between requests the API keeps no connection open: a writer gets the file at once.
    duckdb.connect(str(served.project / WAREHOUSE)).close()


def test_the_cli_prints_the_same_facts_as_the_api(served: Served) -> None:
    def cli(*args: str) -> Any:
        done: subprocess.CompletedProcess[str] = dagmesh(*args, "--json", project=served.project)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert cli("status") == served.get("/domains")[1]["items"]
    assert (
        cli("show", "physician", "--build", served.failed_build)
        == served.get(f"/builds/{served.failed_build}")[1]
    )
    assert cli("show", "physician_dw") == served.get("/domains/physician_dw")[1]
    shown = dagmesh("show", "physician", "--build", served.failed_build, project=served.project)
    assert shown.returncode == 0
    assert "why it failed:" in shown.stdout and "fail" in shown.stdout
