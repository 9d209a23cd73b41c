"""All checks of one table in one query.

Reading a large table once per check is the cost that makes test packs slow; here
every check of a table is one aggregate column of a single ``SELECT ... FROM table``
(the contract check is a scalar subquery on ``information_schema`` in the same
statement), so the warehouse scans each tested table once.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagmesh.quality.checks import Check, CheckResult, evaluate


def fused_query(relation: str, checks: Sequence[Check], columns_subquery: str) -> str:
    """One ``SELECT`` (Snowflake dialect) computing every check's observed value."""
    if not checks:
        raise ValueError("a fused query needs at least one check")
    selected = []
    for index, check in enumerate(checks):
        expression = columns_subquery if check.expect.op == "contract" else check.expression
        selected.append(f"{expression} AS c{index}")
    return "SELECT\n  " + ",\n  ".join(selected) + f"\nFROM {relation}"


def read_results(checks: Sequence[Check], row: Sequence[object]) -> list[CheckResult]:
    """Pair each check with its column of the fused query's single row."""
    return [evaluate(check, value) for check, value in zip(checks, row, strict=True)]
