"""Aligning a consumer's run with the upstream run it must wait for.

Both domains run on cron schedules in the mesh's timezone (Airflow's
``CronTriggerTimetable``: a run's logical date is its cron tick). A consumer run at
time *t* waits for the upstream run at the most recent upstream tick at or before
*t*. A run without a logical date (a manual trigger in Airflow 3) uses its
``run_after`` instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter


class CannotAlign(Exception):
    pass


def aligned_upstream_tick(upstream_cron: str, at: datetime, timezone: str = "UTC") -> datetime:
    """The most recent tick of ``upstream_cron`` at or before ``at`` (returned in UTC)."""
    zone = ZoneInfo(timezone)
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone)
    if local.second == 0 and local.microsecond == 0 and croniter.match(upstream_cron, local):
        return local.astimezone(UTC)
    try:
        previous = croniter(upstream_cron, local).get_prev(datetime)
    except Exception as exc:  # croniter raises its own errors for schedules that never fire
        raise CannotAlign(f"schedule '{upstream_cron}' has no run before {local.isoformat()}") from exc
    return previous.astimezone(UTC)


def next_tick(cron: str, after: datetime, timezone: str = "UTC") -> datetime:
    zone = ZoneInfo(timezone)
    local = (after if after.tzinfo else after.replace(tzinfo=UTC)).astimezone(zone)
    return croniter(cron, local).get_next(datetime).astimezone(UTC)


def alignment_lag(
    upstream_cron: str, consumer_cron: str, timezone: str = "UTC", samples: int = 8
) -> list[timedelta]:
    """For a few consumer ticks, how long before each tick the awaited upstream run starts."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    lags = []
    tick = start
    for _ in range(samples):
        tick = next_tick(consumer_cron, tick, timezone)
        lags.append(tick - aligned_upstream_tick(upstream_cron, tick, timezone))
    return lags
