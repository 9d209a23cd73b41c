"""Cron expressions as dagmesh accepts them: five fields, or an Airflow preset."""

from __future__ import annotations

import functools
from datetime import datetime

from croniter import croniter

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@functools.lru_cache(maxsize=1024)
def normalize_cron(expression: str) -> str | None:
    """The five-field form of ``expression``, or ``None`` when it is not a valid cron."""
    expression = " ".join(expression.split())
    if expression in PRESETS:
        return PRESETS[expression]
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        return None
    return expression


@functools.lru_cache(maxsize=1024)
def fires(expression: str) -> bool:
    """Whether a valid cron expression ever fires (``0 0 30 2 *`` never does)."""
    try:
        croniter(expression, datetime(2024, 1, 1)).get_next(datetime)
    except Exception:  # croniter reports impossible dates with its own exception types
        return False
    return True
