"""The example mesh as Airflow sees it: a real DagBag load of ``dags/``."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO

DOMAINS = ["launch_analytics", "payer", "payer_dw", "physician", "physician_dw", "product"]
STAGES = ("check_inputs", "build", "test", "certify")


def load_dagbag(folder: Path = REPO / "dags") -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


@pytest.fixture
def dagbag(project_env: Path) -> Any:
    return load_dagbag()


def test_the_example_mesh_loads_as_six_dags_without_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == DOMAINS


def test_every_domain_dag_has_the_four_stage_groups_in_order(dagbag: Any) -> None:
    for dag in dagbag.dags.values():
        assert all(stage in dag.task_group.children for stage in STAGES), dag.dag_id
        for earlier, later in itertools.pairwise(STAGES):
            for task in (t for t in dag.tasks if t.task_id.startswith(f"{later}.")):
                upstream = _all_upstream(dag, task.task_id)
                assert any(u.startswith(f"{earlier}.") for u in upstream), (dag.dag_id, task.task_id)


def _all_upstream(dag: Any, task_id: str) -> set[str]:
    seen: set[str] = set()
    stack = [task_id]
    while stack:
        for upstream in dag.get_task(stack.pop()).upstream_task_ids:
            if upstream not in seen:
                seen.add(upstream)
                stack.append(upstream)
    return seen


def test_only_the_certify_task_carries_the_output_ports_as_asset_outlets(dagbag: Any) -> None:
    for dag in dagbag.dags.values():
        with_outlets = [t.task_id for t in dag.tasks if t.outlets]
        assert with_outlets == ["certify.publish"], dag.dag_id
    certify = dagbag.dags["physician_dw"].get_task("certify.publish")
    assert sorted(a.uri for a in certify.outlets) == [
        "mesh://pharma/physician_dw/dim_physician",
        "mesh://pharma/physician_dw/dim_product",
        "mesh://pharma/physician_dw/fact_calls",
        "mesh://pharma/physician_dw/fact_prescriptions",
    ]


def test_certify_runs_whatever_happened_upstream_so_failures_are_recorded(dagbag: Any) -> None:
    for dag in dagbag.dags.values():
        assert dag.get_task("certify.publish").trigger_rule == "all_done"


def test_models_are_built_in_ref_order_after_a_fresh_build_schema(dagbag: Any) -> None:
    dag = dagbag.dags["physician"]
    assert _all_upstream(dag, "build.physician") >= {
        "build.prepare",
        "build.stg_ama_physicians",
        "build.stg_npi_registry",
        "build.ama_survivors",
    }
    assert "build.ama_survivors" not in _all_upstream(dag, "build.stg_npi_registry")


def test_each_output_port_and_custom_test_gets_a_test_task(dagbag: Any) -> None:
    tests = sorted(t.task_id for t in dagbag.dags["physician"].tasks if t.task_id.startswith("test."))
    assert tests == ["test.no_duplicate_npi", "test.physician"]


def test_with_stage_granularity_each_stage_is_one_task_and_certify_stays_the_gate(project_env: Path) -> None:
    from tests.helpers import set_domain_key

    set_domain_key(project_env, "integrated/payer_dw.yaml", "task_granularity: stage")
    dags = load_dagbag().dags

    dag = dags["payer_dw"]
    sensors = {t.task_id for t in dag.tasks if t.task_id.startswith("wait_for_upstream.")}
    stages = {t.task_id for t in dag.tasks} - sensors
    assert stages == {"check_inputs.all", "build.all", "test.all", "certify.publish"}
    assert dag.get_task("check_inputs.all").upstream_task_ids == sensors
    assert dag.get_task("build.all").upstream_task_ids == {"check_inputs.all"}
    assert dag.get_task("test.all").upstream_task_ids == {"build.all"}
    assert dag.get_task("certify.publish").upstream_task_ids == {"test.all"}
    assert dag.get_task("certify.publish").trigger_rule == "all_done"
    assert [t.task_id for t in dag.tasks if t.outlets] == ["certify.publish"]
    steps = [(step["kind"], step["name"]) for step in dag.get_task("build.all").steps]
    assert steps[0] == ("prepare", "prepare")
    assert sorted(name for _, name in steps[1:]) == [
        "dim_payer_plan", "fact_payer_claims", "physician_access", "stg_claims",
    ]  # fmt: skip
    assert "build.prepare" in dags["physician_dw"].task_ids  # the other domains keep a task per model


def test_domain_dags_carry_owner_tags_docs_params_and_one_active_run(dagbag: Any) -> None:
    dag = dagbag.dags["physician"]
    assert dag.max_active_runs == 1
    assert set(dag.tags) >= {"mesh", "mastered", "physician"}
    assert dag.default_args["owner"] == "mdm-team"
    assert dag.default_args["retries"] == 2
    assert "Golden record of the US physicians" in dag.doc_md
    assert "`physician.physician`" in dag.doc_md
    assert dag.params["full_refresh"] is False


def test_a_domain_dag_hashes_on_its_id_so_adding_tasks_keeps_it_in_a_set(dagbag: Any) -> None:
    """Airflow hashes a DAG on its tasks, dates and schedule, twice per ``>>``: hashing the
    asset schedules was the costliest part of a parse. Equal DAGs have equal ids."""
    from airflow.providers.standard.operators.empty import EmptyOperator

    dag = dagbag.dags["launch_analytics"]  # scheduled on assets
    seen = {dag}
    EmptyOperator(task_id="added_later", dag=dag)
    assert dag in seen
    assert hash(dag) != hash(dagbag.dags["physician_dw"])


def test_the_dag_names_the_config_version_it_was_built_from(project_env: Path) -> None:
    from dagmesh.config.project import load_project

    version = load_project(project_env).config_version("physician")
    assert f"**Config version:** `{version}`" in load_dagbag().dags["physician"].doc_md


def test_schedules_follow_the_config(dagbag: Any) -> None:
    from airflow.sdk import CronTriggerTimetable

    physician = dagbag.dags["physician"]
    assert isinstance(physician.timetable, CronTriggerTimetable)
    assert physician.timetable.expression == "0 5 * * *"
    from airflow.sdk import AssetAll

    condition = dagbag.dags["physician_dw"].timetable.asset_condition
    assert isinstance(condition, AssetAll)
    assert {a.uri for a in condition.objects} == {
        "mesh://pharma/physician/physician",
        "mesh://pharma/product/product",
    }


def test_a_cron_consumer_waits_for_each_cron_upstream_it_consumes(dagbag: Any) -> None:
    dag = dagbag.dags["payer_dw"]
    sensors = {t.task_id: t for t in dag.tasks if t.task_id.startswith("wait_for_upstream.")}
    assert sorted(sensors) == [
        "wait_for_upstream.payer",
        "wait_for_upstream.physician",
        "wait_for_upstream.product",
    ]
    physician = sensors["wait_for_upstream.physician"]
    assert physician.external_dag_id == "physician"
    # Whichever task certifies (task_granularity), its link opens the upstream's run.
    assert not physician.external_task_ids
    assert physician.mode == "poke"
    # It reads the upstream's certifications from its ports' Asset events.
    assert [a.uri for a in physician.inlets] == ["mesh://pharma/physician/physician"]
    assert sorted(a.uri for a in sensors["wait_for_upstream.payer"].inlets) == [
        "mesh://pharma/payer/formulary",
        "mesh://pharma/payer/payer_plan",
    ]
    assert "## Waits for" in dag.doc_md
    assert all(not t.task_id.startswith("wait_for") for t in dagbag.dags["physician_dw"].tasks)


def test_warehouse_tasks_run_in_the_duckdb_pool(dagbag: Any) -> None:
    dag = dagbag.dags["physician"]
    assert {t.pool for t in dag.tasks} == {"dagmesh_duckdb"}


def test_an_on_upstream_condition_becomes_the_asset_expression(project_env: Path) -> None:
    from airflow.sdk import AssetAll, AssetAny

    config = project_env / "dag_configs" / "self_service" / "launch_analytics.yaml"
    config.write_text(
        config.read_text().replace(
            "schedule: on_upstream",
            "schedule: {on_upstream: {any: [payer_dw.physician_access, "
            "{all: [physician_dw.dim_physician, physician_dw.fact_prescriptions]}]}}",
        )
    )
    condition = load_dagbag().dags["launch_analytics"].timetable.asset_condition
    assert isinstance(condition, AssetAny)
    first, second = condition.objects
    assert first.uri == "mesh://pharma/payer_dw/physician_access"
    assert isinstance(second, AssetAll)
    assert [a.uri for a in second.objects] == [
        "mesh://pharma/physician_dw/dim_physician",
        "mesh://pharma/physician_dw/fact_prescriptions",
    ]


def test_unpausing_runs_the_latest_tick_only_of_cron_domains_that_wait_for_upstreams(dagbag: Any) -> None:
    assert all(dag.start_date is None for dag in dagbag.dags.values())
    assert all(dag.catchup is False for dag in dagbag.dags.values())
    # payer_dw's sensors wait for its upstreams' certifications of that period...
    assert dagbag.dags["payer_dw"].timetable.run_immediately is True
    # ...while a domain that reads raw sources waits for its next tick (or a trigger).
    assert {dagbag.dags[d].timetable.run_immediately for d in ("payer", "physician", "product")} == {False}


def test_sensors_can_defer_instead_of_poking(project_env: Path) -> None:
    mesh = project_env / "dag_configs" / "mesh.yaml"
    mesh.write_text(mesh.read_text().replace("mode: poke", "mode: deferrable"))
    sensor = load_dagbag().dags["payer_dw"].get_task("wait_for_upstream.physician")
    assert sensor.deferrable is True


def test_with_domain_granularity_a_build_is_one_task_after_the_sensors_ending_in_the_gate(
    project_env: Path,
) -> None:
    from tests.helpers import set_domain_key

    set_domain_key(project_env, "integrated/payer_dw.yaml", "task_granularity: domain")
    dag = load_dagbag().dags["payer_dw"]

    sensors = {t.task_id for t in dag.tasks if t.task_id.startswith("wait_for_upstream.")}
    assert sensors and {t.task_id for t in dag.tasks} - sensors == {"stages.all"}
    assert dag.get_task("stages.all").upstream_task_ids == sensors
    assert [t.task_id for t in dag.tasks if t.outlets] == ["stages.all"]
    assert [a.uri for a in dag.get_task("stages.all").outlets] == [
        f"mesh://pharma/payer_dw/{port}"
        for port in ("dim_payer_plan", "fact_payer_claims", "physician_access")
    ]
    steps = [f"{step['group']}.{step['name']}" for step in dag.get_task("stages.all").steps]
    assert steps[:3] == ["check_inputs.sources", "check_inputs.upstreams", "build.prepare"]
    assert steps[-1] == "certify.publish"
    stages = [step.split(".")[0] for step in steps]
    assert stages == sorted(stages, key=STAGES.index)  # check_inputs, build, test, then the gate
    assert {"test.dim_payer_plan", "test.fact_payer_claims", "test.physician_access"} <= set(steps)
