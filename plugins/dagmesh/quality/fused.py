"""All checks of one table in one query.

Reading a large table once per check is the cost that makes test packs slow; here
every check of a table is one aggregate column of a single ``SELECT ... FROM table``
(the contract check is a scalar subquery on ``information_schema`` in the same
statement; see :func:`dagmesh.sql.statements.check_query`), so the warehouse scans each
tested table once, and each column of its one row is one check's observed value.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagmesh.quality.checks import Check, CheckResult, evaluate


def read_results(checks: Sequence[Check], row: Sequence[object]) -> list[CheckResult]:
    """Pair each check with its column of the fused query's single row."""
    return [evaluate(check, value) for check, value in zip(checks, row, strict=True)]
