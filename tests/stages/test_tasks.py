"""The plan of a domain's build: the tasks both the Airflow DAG and ``dagmesh run`` execute."""

from __future__ import annotations

from dagmesh.config.project import load_project
from dagmesh.mesh.analysis import analyze
from dagmesh.stages.tasks import StageTask, by_domain, by_stage, domain_tasks
from tests.helpers import REPO


def plan(domain: str) -> dict[str, StageTask]:
    analysis = analyze(load_project(REPO))
    found = analysis.project.domains[domain]
    tasks = domain_tasks(found, analysis.model_order[domain], analysis.model_refs[domain])
    return {t.task_id: t for t in tasks}


def test_every_task_comes_after_the_tasks_it_waits_for() -> None:
    for domain in ("physician", "physician_dw", "launch_analytics"):
        seen: set[str] = set()
        for task_id, task in plan(domain).items():
            assert set(task.upstream) <= seen, (domain, task_id)
            seen.add(task_id)


def test_a_domain_with_sources_and_inputs_checks_sources_then_upstreams_then_builds() -> None:
    tasks = plan("physician_dw")

    assert tasks["check_inputs.sources"].opens_build and not tasks["check_inputs.upstreams"].opens_build
    assert tasks["check_inputs.upstreams"].upstream == ("check_inputs.sources",)
    assert tasks["build.prepare"].upstream == ("check_inputs.upstreams",)


def test_a_domain_without_sources_opens_its_build_when_it_resolves_its_inputs() -> None:
    tasks = plan("launch_analytics")

    assert "check_inputs.sources" not in tasks
    assert tasks["check_inputs.upstreams"].opens_build


def test_models_wait_for_their_refs_tests_for_the_last_models_and_the_gate_for_every_test() -> None:
    tasks = plan("physician")

    assert tasks["build.physician"].upstream == ("build.ama_survivors", "build.stg_npi_registry")
    assert tasks["build.stg_ama_physicians"].upstream == ("build.prepare",)
    assert tasks["test.physician"].upstream == ("build.physician",)
    assert tasks["test.no_duplicate_npi"].kind == "custom"
    gate = tasks["certify.publish"]
    assert set(gate.upstream) == {"test.physician", "test.no_duplicate_npi"}
    assert gate.runs_whatever_happened and not tasks["test.physician"].runs_whatever_happened


def test_stage_granularity_runs_each_stage_as_one_task_of_the_same_steps_in_the_same_order() -> None:
    for domain in ("physician", "launch_analytics"):
        tasks = list(plan(domain).values())

        staged = by_stage(tasks)

        assert [t.task_id for t in staged] == ["check_inputs.all", "build.all", "test.all", "certify.publish"]
        assert [t.upstream for t in staged] == [(), ("check_inputs.all",), ("build.all",), ("test.all",)]
        assert [s for t in staged[:-1] for s in t.steps] == tasks[:-1]  # every step, in plan order
        assert staged[0].steps[0].opens_build and staged[-1].runs_whatever_happened


def test_domain_granularity_runs_every_step_as_one_task_with_the_gate_last() -> None:
    for domain in ("physician", "launch_analytics"):
        tasks = list(plan(domain).values())

        (combined,) = by_domain(tasks)

        assert combined.task_id == "stages.all" and combined.upstream == ()
        assert list(combined.steps) == tasks  # every step, in plan order
        assert combined.steps[0].opens_build and combined.steps[-1].runs_whatever_happened
