"""Aligning a consumer's run with the upstream run it must wait for.

Both domains run on cron schedules in the mesh's timezone (Airflow's
``CronTriggerTimetable``: a run's logical date is its cron tick). A consumer run at
time *t* waits for the upstream run at the most recent upstream tick at or before
*t*. A run without a logical date (a manual trigger in Airflow 3) uses its
``run_after`` instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
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


def human(delta: timedelta) -> str:
    """``1d 2h``, ``23h``, ``45m``, ``1m 30s``: a duration as people write it."""
    seconds = int(delta.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [
        f"{value}{unit}"
        for value, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
        if value
    ]
    return " ".join(parts) or "0s"


def sample_ticks(cron: str, timezone: str = "UTC", count: int = 8) -> list[datetime]:
    """The first ``count`` ticks of ``cron`` from a fixed date: a sample for comparing schedules."""
    ticks = [next_tick(cron, datetime(2024, 1, 1, tzinfo=UTC), timezone)]
    while len(ticks) < count:
        ticks.append(next_tick(cron, ticks[-1], timezone))
    return ticks


def period(cron: str, timezone: str = "UTC", samples: int = 16) -> timedelta:
    """The shortest time between two ticks of ``cron`` (over a few weeks of ticks)."""
    ticks = sample_ticks(cron, timezone, samples + 1)
    return min(later - earlier for earlier, later in pairwise(ticks))


def alignment_problem(
    upstream: str, upstream_cron: str, consumer: str, consumer_cron: str, timezone: str
) -> tuple[str, str] | None:
    """Why a sensor from ``consumer`` on ``upstream`` is wrong or suspicious, if it is.

    Returns ``("error" | "warning", message)``: an error when no upstream run can be
    aligned; a warning when the consumer starts together with its upstream (its sensor
    then waits a whole upstream run), or when it runs shortly before its upstream and so
    reads the previous period's data.
    """
    try:
        ticks = sample_ticks(consumer_cron, timezone)
        lags = [tick - aligned_upstream_tick(upstream_cron, tick, timezone) for tick in ticks]
        upstream_period = period(upstream_cron, timezone)
    except (CannotAlign, ValueError, KeyError) as exc:
        return (
            "error",
            f"cannot align {consumer} ('{consumer_cron}') with {upstream} ('{upstream_cron}'): {exc}. "
            f"Give {upstream} a schedule that fires, or consume it via asset",
        )
    if any(lag == timedelta(0) for lag in lags):
        return (
            "warning",
            f"{consumer} starts at the same time as {upstream} ('{consumer_cron}' vs "
            f"'{upstream_cron}'), so its sensor waits for the whole {upstream} run; "
            f"schedule {consumer} after {upstream} finishes",
        )
    if upstream_period <= period(consumer_cron, timezone) and max(lags) > upstream_period / 2:
        return (
            "warning",
            f"{consumer} ('{consumer_cron}') runs shortly before {upstream} ('{upstream_cron}'), so it "
            f"waits for the {upstream} run from {human(max(lags))} earlier and reads the previous "
            f"period's data; schedule {upstream} before {consumer} if it should read the same period",
        )
    return None
