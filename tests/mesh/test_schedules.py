"""A consumer run waits for the most recent upstream schedule point at or before it."""

from __future__ import annotations

from datetime import UTC, datetime

from dagmesh.mesh.schedules import aligned_upstream_tick


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_daily_consumer_an_hour_after_a_daily_upstream_waits_for_the_same_day() -> None:
    assert aligned_upstream_tick("0 5 * * *", at(21, 6)) == at(21, 5)


def test_a_consumer_tick_on_the_upstream_tick_waits_for_that_very_run() -> None:
    assert aligned_upstream_tick("0 5 * * *", at(21, 5)) == at(21, 5)


def test_a_daily_consumer_before_the_upstream_waits_for_the_previous_day() -> None:
    assert aligned_upstream_tick("0 7 * * *", at(21, 6)) == at(20, 7)


def test_weekly_consumer_of_a_daily_upstream_waits_for_that_days_run() -> None:
    # Monday 2026-11-23 08:00 consumer; daily upstream at 05:00.
    assert aligned_upstream_tick("0 5 * * *", at(23, 8)) == at(23, 5)


def test_daily_consumer_of_a_weekly_upstream_waits_for_the_last_weekly_run() -> None:
    # Saturday 2026-11-21; the weekly upstream runs Mondays 05:00 (2026-11-16).
    assert aligned_upstream_tick("0 5 * * 1", at(21, 6)) == at(16, 5)


def test_a_manual_run_without_logical_date_waits_for_the_latest_point_before_run_after() -> None:
    run_after = datetime(2026, 11, 21, 14, 3, 22, 123456, tzinfo=UTC)
    assert aligned_upstream_tick("0 5 * * *", run_after) == at(21, 5)


def test_alignment_uses_the_mesh_timezone() -> None:
    # 05:00 in New York is 10:00 UTC; at 06:00 UTC the latest such run was yesterday's.
    assert aligned_upstream_tick("0 5 * * *", at(21, 6), "America/New_York") == at(20, 10)


def test_durations_read_the_way_people_write_them() -> None:
    from datetime import timedelta

    from dagmesh.mesh.schedules import human

    assert human(timedelta(hours=23)) == "23h"
    assert human(timedelta(days=1, hours=2)) == "1d 2h"
    assert human(timedelta(seconds=90)) == "1m 30s"
    assert human(timedelta(0)) == "0s"
