"""The test stage reads each tested table once, whatever the number of checks."""

from __future__ import annotations

from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from dagmesh.stages import test
from tests.helpers import build_until_tests, stage_context


def tables_read(query: str) -> set[str]:
    """``schema.table`` of every table a logged DuckDB query reads."""
    tables = set()
    for statement in sqlglot.parse(query, read="duckdb"):
        if statement is not None:
            tables |= {f"{t.db}.{t.name}".lower() for t in statement.find_all(exp.Table)}
    return tables


def logged_queries(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        row[0] for row in con.execute("SELECT message FROM duckdb_logs WHERE type = 'QueryLog'").fetchall()
    ]


def test_the_standard_pack_issues_one_query_per_tested_table(seeded: Path) -> None:
    ctx = stage_context(seeded, "payer")
    build_until_tests(ctx)
    # DuckDB logs the statements of every connection to this file in this process.
    watcher = duckdb.connect(str(seeded / ".dagmesh" / "warehouse.duckdb"))
    watcher.execute("CALL enable_logging('QueryLog')")

    results = {port: test.run_port_checks(ctx, port) for port in ("payer_plan", "formulary")}

    queries = logged_queries(watcher)
    for port, summary in results.items():
        reading = [q for q in queries if f"payer__build.{port}" in tables_read(q)]
        assert len(summary.results) >= 5, port
        assert len(reading) == 1, (port, reading)
    watcher.close()
