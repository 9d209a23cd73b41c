"""`dagmesh airflow` re-parses the DAGs a changed config or SQL file decides, at once, and only those."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dagmesh.airflow.dag_watch import DagWatch
from tests.airflow.test_dagbag import DOMAINS
from tests.helpers import edit
from tests.support.dag_processor import DagProcessor

pytestmark = pytest.mark.e2e

PAYER_DW = "dag_configs/integrated/payer_dw.yaml"


def wait_for(what: str, done: Callable[[], bool], processor: DagProcessor, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        log = (processor.home / "dag-processor.log").read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s\n{log}"
        time.sleep(0.5)


def test_a_changed_config_re_parses_its_domain_and_consumers_and_nothing_else(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = str(tmp_path / "dag-cache")
    monkeypatch.setenv("DAGMESH_DAG_CACHE", cache)  # the watch reads the cache the processor writes
    monkeypatch.delenv("DAGMESH_PROJECT_DIR", raising=False)
    processor = DagProcessor(project, tmp_path / "airflow")
    processor.env["DAGMESH_DAG_CACHE"] = cache
    # The processor's own round never comes during the test: only a touched file is re-parsed.
    processor.env["AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"] = "3600"
    watch = DagWatch(project)

    with processor.running():
        wait_for("the first parse", lambda: processor.active() == DOMAINS, processor)
        assert watch.look() == []  # nothing changed
        before = processor.last_parsed()
        edit(project, PAYER_DW, 'schedule: "0 6 * * *"', 'schedule: "0 6 * *"')

        touched = watch.look()

        assert sorted(p.relative_to(project).as_posix() for p in touched) == [
            "dags/dagmesh_dags.py", "dags/domains/launch_analytics.py", "dags/domains/payer_dw.py",
        ]  # fmt: skip
        wait_for(
            "payer_dw's import error and its consumer re-parsed",
            lambda: (
                "domains/payer_dw.py" in processor.import_errors()
                and processor.last_parsed()["launch_analytics"] > before["launch_analytics"]
            ),
            processor,
        )
        assert watch.look() == []  # one touch per change
        after = processor.last_parsed()
        unaffected = [d for d in DOMAINS if d not in ("payer_dw", "launch_analytics")]
        assert {d: after[d] for d in unaffected} == {d: before[d] for d in unaffected}
        assert processor.active() == [d for d in DOMAINS if d != "payer_dw"]

        edit(project, PAYER_DW, 'schedule: "0 6 * *"', 'schedule: "0 6 * * *"')
        assert len(watch.look()) == 3
        wait_for("payer_dw loads again", lambda: processor.import_errors() == {}, processor)
        assert processor.active() == DOMAINS
