"""Loading a project: the example is valid, domains inherit the mesh defaults."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dagmesh.config.project import load_project
from tests.helpers import REPO


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
