"""Loading a project: the example is valid, domains inherit the mesh defaults."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dagmesh.config.project import load_project
from tests.helpers import REPO, copy_example, edit, set_domain_key


def test_the_example_project_loads_without_a_single_problem() -> None:
    project = load_project(REPO)
    assert project.diagnostics.sorted() == []
    assert sorted(project.domains) == [
        "launch_analytics", "payer", "payer_dw", "physician", "physician_dw", "product",
    ]  # fmt: skip


def test_domains_inherit_mesh_defaults_unless_they_set_their_own() -> None:
    project = load_project(REPO)
    physician = project.domains["physician"]
    assert physician.owner == "mdm-team"  # set by the domain
    assert physician.retries == 2  # inherited
    assert physician.retry_delay == timedelta(minutes=5)  # inherited, from "5m"


def test_task_granularity_is_a_mesh_default_a_domain_can_override(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    assert {d.task_granularity for d in load_project(project).domains.values()} == {"model"}
    edit(
        project, "dag_configs/mesh.yaml", "  timezone: UTC\n", "  timezone: UTC\n  task_granularity: stage\n"
    )
    set_domain_key(project, "mastered/physician.yaml", "task_granularity: model")

    domains = load_project(project).domains

    assert {n: d.task_granularity for n, d in domains.items() if d.task_granularity == "model"} == {
        "physician": "model"
    }
    assert len(domains) == 6


def test_an_unknown_task_granularity_is_a_located_error(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    set_domain_key(project, "mastered/product.yaml", "task_granularity: stages")
    lines = (project / "dag_configs/mastered/product.yaml").read_text().splitlines()
    line = lines.index("task_granularity: stages")

    (error,) = load_project(project).diagnostics.errors

    assert str(error) == (
        f"dag_configs/mastered/product.yaml:{line + 1}:19: error: 'task_granularity' must be one of "
        "model, stage, domain; got 'stages' (did you mean 'stage'?)"
    )


def test_shorthands_expand_to_the_full_form(tmp_path: Path) -> None:
    (tmp_path / "dag_configs").mkdir()
    (tmp_path / "dag_configs" / "mesh.yaml").write_text("mesh: m\nenvironments: {dev: {engine: duckdb}}\n")
    (tmp_path / "dag_configs" / "d.yaml").write_text(
        "domain: d\nlayer: mastered\nschedule: '@daily'\nmodels: [d]\n"
        "outputs:\n  d:\n    version: 2\n    primary_key: [id]\n    columns: {id: varchar, n: integer}\n"
    )
    project = load_project(tmp_path)
    assert project.diagnostics.sorted() == []
    domain = project.domains["d"]
    assert domain.schedule.cron == "0 0 * * *"
    assert domain.models[0].sql == "d/d.sql"
    assert [(c.name, c.family) for c in domain.outputs["d"].columns.values()] == [
        ("id", "string"),
        ("n", "integer"),
    ]
    assert project.mesh is not None and project.mesh.environments["dev"].path == ".dagmesh/dev.duckdb"


def test_one_broken_domain_file_leaves_the_others_loaded(tmp_path: Path) -> None:
    (tmp_path / "dag_configs").mkdir()
    (tmp_path / "dag_configs" / "mesh.yaml").write_text("mesh: m\nenvironments: {dev: {engine: duckdb}}\n")
    good = (
        "domain: good\nlayer: mastered\nschedule: manual\nmodels: [good]\n"
        "outputs: {good: {version: 1, primary_key: [id], columns: {id: varchar}}}\n"
    )
    (tmp_path / "dag_configs" / "good.yaml").write_text(good)
    (tmp_path / "dag_configs" / "bad.yaml").write_text(good.replace("good", "bad").replace("layer:", "layr:"))
    project = load_project(tmp_path)
    assert sorted(project.domains) == ["good"]
    assert sorted(project.domain_files) == ["bad", "good"]
    first = str(project.diagnostics.errors[0])
    assert first.startswith("dag_configs/bad.yaml:2:1: error: unknown key 'layr'")
