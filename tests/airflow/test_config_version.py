"""One config version per run: the DAG names it, and every task of a run uses it or says it changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pluggy
import pytest

from tests.airflow.test_dag_runs import domain_dag
from tests.airflow.test_dagbag import DOMAINS
from tests.helpers import edit
from tests.support.dag_processor import DagProcessor

pytestmark = pytest.mark.e2e

hookimpl = pluggy.HookimplMarker("airflow")
THRESHOLD = ("      - {row_count: {min: 100}}", "      - {row_count: {min: 120}}")


def test_a_config_change_is_a_new_dag_version_of_that_domain_only(project: Path, tmp_path: Path) -> None:
    processor = DagProcessor(project, tmp_path / "airflow")
    processor.parse()
    processor.trigger("physician", "product")  # runs used these versions: a change must make a new one
    hashes = processor.hashes()
    edit(
        project, "dag_configs/mastered/physician.yaml", *THRESHOLD
    )  # a threshold: the DAG's shape is the same

    processor.parse()

    assert processor.versions() == {**{d: 1 for d in DOMAINS}, "physician": 2}
    assert {d for d, h in processor.hashes().items() if hashes[d] != h} == {"physician"}


class EditAfter:
    """An Airflow listener that edits a file once ``task_id`` has succeeded, mid-run."""

    def __init__(self, task_id: str, project: Path, relative: str, old: str, new: str) -> None:
        self.task_id, self.change = task_id, (project, relative, old, new)

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        if task_instance.task_id == self.task_id:
            edit(*self.change)


@pytest.mark.usefixtures("airflow_db")
def test_a_config_change_during_a_run_stops_it_saying_so_and_publishes_nothing(
    seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.listener import get_listener_manager

    monkeypatch.setenv("DAGMESH_PROJECT_DIR", str(seeded))
    listener = EditAfter("build.physician", seeded, "dag_configs/mastered/physician.yaml", *THRESHOLD)
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        run = domain_dag("physician").test()
    finally:
        manager.pm.unregister(listener)

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert {states[t] for t in states if t.startswith(("check_inputs.", "build."))} == {"success"}
    assert {states[t] for t in states if t.startswith(("test.", "certify."))} == {"failed"}
    with duckdb.connect(str(seeded / ".dagmesh" / "warehouse.duckdb")) as con:
        ((message,),) = con.execute("SELECT message FROM mesh_meta.builds").fetchall()
        assert "changed while this run was in progress" in message
        published = con.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'physician'"
        )
        assert published.fetchall() == [(0,)]
