"""``wait_for_upstream``: wait until a cron-scheduled upstream has certified for this run's period.

The rule (see :mod:`dagmesh.mesh.schedules`): a consumer run whose logical date is *t*
(its ``run_after`` when it has none) needs the upstream certified for the period that
starts at the upstream's latest cron tick at or before *t*, or for a later one. Any
kind of upstream run counts: scheduled, triggered by hand with or without a logical
date, or a backfill. Certifications are read from the upstream's Asset events, whose
``run_time`` says which period the certifying run was for.

The upstream's schedule is read when the sensor runs, not when the DAG is parsed: the
consumer's DAG does not change when its upstream's config changes or breaks. While
the upstream's config is broken the sensor keeps waiting and says why.

A failed upstream run does not end the wait (as with Airflow's ExternalTaskSensor): a
re-run that certifies lets this run go on. The wait ends with a verdict at the timeout.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.sdk import Asset, BaseSensorOperator

from dagmesh.airflow.triggers import WaitTrigger
from dagmesh.airflow.verdict import VERDICT_POLICY, Verdict

#: The Asset event field saying which period a certification was for (see certify).
RUN_TIME = "run_time"


class UpstreamCertifiedSensor(ExternalTaskSensor):
    """Waits until an upstream domain has certified for the period this run is aligned to."""

    ui_color = "#fdf2d0"

    def __init__(
        self,
        *,
        project_dir: str,
        upstream: str,
        port_assets: list[Asset],
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retry_policy", VERDICT_POLICY)
        # What counts is the upstream's certification (its Asset events, see poke), whichever
        # of its tasks certifies (task_granularity): the sensor's link opens the upstream's run.
        super().__init__(
            external_dag_id=upstream,
            inlets=list(port_assets),
            deferrable=deferrable,
            **kwargs,
        )
        self.project_dir = project_dir
        self.upstream = upstream

    # ------------------------------------------------------------------ the rule

    def run_time(self, context: Any) -> datetime:
        """This run's place in time: its logical date, or its ``run_after`` when it has none."""
        dag_run = context["dag_run"]
        return dag_run.logical_date or dag_run.run_after

    def awaited(self, context: Any) -> tuple[datetime | None, str]:
        """The upstream period this run needs, and a sentence saying what is awaited."""
        from dagmesh.airflow.runtime import upstream_schedule

        at = self.run_time(context)
        found = upstream_schedule(self.project_dir, self.upstream)
        if isinstance(found, str):
            return None, f"{self.upstream} to become loadable again: {found}"
        from dagmesh.mesh.schedules import aligned_upstream_tick

        cron, timezone = found
        tick = aligned_upstream_tick(cron, at, timezone)
        return tick, (
            f"{self.upstream} to certify a run for {tick:%Y-%m-%d %H:%M} {timezone} or later "
            f"(its schedule '{cron}' ticked then, at or before this run's {at:%Y-%m-%d %H:%M:%S} UTC; "
            "a scheduled, manual or backfill run counts)"
        )

    def certified_since(self, context: Any, tick: datetime) -> dict[str, Any] | None:
        """The newest Asset event of the upstream certifying the period of ``tick`` or a later one."""
        asset = self.inlets[0]
        events = context["inlet_events"][asset].after(tick.isoformat()).ascending(False).limit(100)
        for event in events:
            extra = event.extra or {}
            raw = extra.get(RUN_TIME)
            when = datetime.fromisoformat(str(raw)) if raw else event.timestamp
            if when.astimezone(UTC) >= tick:
                return {"run_id": event.source_run_id, "build_id": extra.get("build_id"), "run_time": when}
        return None

    def poke(self, context: Any) -> bool:
        tick, _ = self.awaited(context)
        if tick is None:
            return False
        found = self.certified_since(context, tick)
        if found is None:
            return False
        self.log.info(
            "%s certified build %s in run %s (for %s): going on",
            self.upstream,
            found["build_id"],
            found["run_id"],
            found["run_time"].isoformat(),
        )
        return True

    # ------------------------------------------------------------------ waiting

    def execute(self, context: Any) -> None:
        _, what = self.awaited(context)
        deadline = datetime.now(UTC) + timedelta(seconds=self.timeout)
        self.log.info("waiting for %s", what)
        self.log.info(
            "checking every %s until %s UTC (sensors.timeout)",
            timedelta(seconds=self.poke_interval),
            f"{deadline:%Y-%m-%d %H:%M:%S}",
        )
        if self.deferrable:
            self.check_again(context, {"waiting_since": datetime.now(UTC).isoformat()})
            return
        from airflow.sdk.exceptions import AirflowSensorTimeout

        try:
            BaseSensorOperator.execute(self, context)
        except AirflowSensorTimeout as exc:
            raise self.timed_out(context) from exc

    def check_again(self, context: Any, event: dict[str, Any] | None = None) -> None:
        """Deferrable mode: check, then wait in the triggerer (holding no worker slot)."""
        since = datetime.fromisoformat((event or {})["waiting_since"])
        if self.poke(context):
            return
        if datetime.now(UTC) - since >= timedelta(seconds=self.timeout):
            raise self.timed_out(context)
        self.defer(trigger=WaitTrigger(since.isoformat(), self.poke_interval), method_name="check_again")

    def timed_out(self, context: Any) -> Verdict:
        _, what = self.awaited(context)
        verdict = Verdict(
            f"timed out after {timedelta(seconds=self.timeout)} (sensors.timeout) waiting for {what}",
            [f"trigger {self.upstream} (or fix what stops it), then clear this task to wait again"],
        )
        verdict.log_to(self.log)
        return verdict
