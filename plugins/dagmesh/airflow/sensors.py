"""``wait_for_upstream``: wait for a cron-scheduled upstream's ``certify`` task.

An :class:`ExternalTaskSensor` aimed at the upstream run whose logical date is the
most recent upstream cron tick at or before this run's logical date (or its
``run_after`` when a manual trigger gave none). Failures and timeouts name the
upstream run waited for.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.sdk.exceptions import AirflowFailException

from dagmesh.mesh.schedules import aligned_upstream_tick

#: The task every domain DAG certifies in; sensors wait for it.
CERTIFY_TASK_ID = "certify.publish"


class UpstreamCertifiedSensor(ExternalTaskSensor):
    """Waits until the aligned run of an upstream domain has certified."""

    ui_color = "#fdf2d0"

    def __init__(self, *, upstream: str, upstream_cron: str, timezone: str = "UTC", **kwargs: Any) -> None:
        self.upstream_cron = upstream_cron
        self.timezone = timezone
        super().__init__(
            external_dag_id=upstream,
            external_task_id=CERTIFY_TASK_ID,
            execution_date_fn=self.aligned_date,
            failed_states=["failed", "upstream_failed"],
            **kwargs,
        )

    def aligned_date(self, logical_date: datetime, **_: Any) -> datetime:
        return aligned_upstream_tick(self.upstream_cron, logical_date, self.timezone)

    def _awaited(self, context: Any) -> str:
        try:
            date = self.aligned_date(self._get_logical_date(context))
        except Exception:
            return f"the aligned run of {self.external_dag_id}"
        return f"{self.external_dag_id} run with logical date {date.isoformat()} (task {CERTIFY_TASK_ID})"

    def execute(self, context: Any) -> None:
        from airflow.providers.standard.exceptions import ExternalTaskFailedError
        from airflow.sdk.exceptions import AirflowSensorTimeout

        try:
            super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowSensorTimeout(
                f"timed out after {timedelta(seconds=self.timeout)} waiting for {self._awaited(context)}"
            ) from exc
        except ExternalTaskFailedError as exc:
            raise AirflowFailException(f"upstream failed: {self._awaited(context)} did not certify") from exc

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """In deferrable mode a timeout arrives here: name the run waited for."""
        from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout as exc:
            raise AirflowSensorTimeout(
                f"timed out after {timedelta(seconds=self.timeout)} waiting for {self._awaited(context)}"
            ) from exc

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        if event and event.get("status") == "failed":
            raise AirflowFailException(f"upstream failed: {self._awaited(context)} did not certify")
        super().execute_complete(context, event)
