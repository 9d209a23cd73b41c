"""Run one domain's DAG with ``dag.test()`` in a fresh process, so its task logs reach this
process's stdout (in the test process, Airflow keeps writing task logs to the stream of
the test that first configured it).

    python -m tests.support.dag_test DOMAIN [LOGICAL_DATE|none]

Prints the run's task logs, then ``run state: <state>`` as its last line.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from dagmesh.airflow.loader import domain_dag
from tests.helpers import REPO


def main(domain: str, logical_date: str = "none") -> None:
    dag = domain_dag(str(REPO / "dags" / "domains" / f"{domain}.py"))
    when = None if logical_date == "none" else datetime.fromisoformat(logical_date)
    run = dag.test(logical_date=when)
    sys.stdout.flush()
    print(f"run state: {run.state}")


if __name__ == "__main__":
    assert Path.cwd().exists()
    main(*sys.argv[1:])
