"""The code tasks run, imported once by the scheduler before its executor forks them.

A LocalExecutor's workers are forked from the scheduler when it starts, and each task is a
process forked from a worker, so whatever the scheduler imported, every task has already
(shared, copy-on-write). Without this, each task imported dagmesh's stages, the config model
(pydantic builds its validators when the module is imported), the warehouse engine, DuckDB
and sqlglot anew: in the live chain that was about half of every task process's CPU, on a
machine the chain keeps busy.

This module is the dagmesh plugin's listener: Airflow calls :func:`on_starting` in every
component as it starts. Only a scheduler whose executor forks its tasks from itself imports
anything; the other components (and the DAG processor's parses) are left as they were.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from airflow.listeners import hookimpl

#: What a task of a domain's DAG imports: its DAG file's loader, and what the stages use.
TASK_MODULES = (
    "dagmesh.airflow.loader",
    "dagmesh.airflow.runtime",
    "dagmesh.stages.local",
    "dagmesh.stages.bind",
    "dagmesh.engines.duckdb",
    "dagmesh.sql.statements",
    "duckdb",
    "sqlglot.dialects.duckdb",
)

#: Executors whose tasks are forked from the scheduler's own process.
FORKING_EXECUTORS = ("LocalExecutor",)


def forks_tasks(argv: list[str]) -> bool:
    """Whether this process is a scheduler whose executor forks the tasks from it."""
    import multiprocessing

    from airflow.configuration import conf

    executors = conf.get("core", "executor", fallback="")
    return (
        argv[1:2] == ["scheduler"]
        and any(name in executors for name in FORKING_EXECUTORS)
        and multiprocessing.get_start_method(allow_none=True) in (None, "fork")
    )


def preload() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


@hookimpl
def on_starting(component: Any) -> None:
    if forks_tasks(sys.argv):
        preload()
