"""The Airflow DAG of a domain, made from its spec (:mod:`dagmesh.stages.dag_spec`).

This module is where the mesh meets Airflow; nothing else builds DAGs. What the DAG
holds (stages, tasks, schedule, sensors, docs) is decided by
:func:`dagmesh.stages.domain_dag.dag_spec`; this module only makes the Airflow objects,
so a spec read back from the DAG cache builds the same DAG as a fresh parse.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    AssetAll,
    AssetAny,
    BaseOperator,
    CronTriggerTimetable,
    Param,
    TaskGroup,
)

from dagmesh.airflow.operators import (
    BuildModelOperator,
    CertifyOperator,
    CheckSourcesOperator,
    CustomCheckOperator,
    PortChecksOperator,
    PrepareBuildOperator,
    ResolveUpstreamsOperator,
    StageOperator,
)
from dagmesh.airflow.sensors import UpstreamCertifiedSensor
from dagmesh.stages.dag_spec import (
    ASSET_GROUP,
    AssetSpec,
    ConditionSpec,
    DagSpec,
    ScheduleSpec,
    SensorSpec,
    TaskSpec,
)

#: The tooltip of the group of sensors, when a domain waits for cron upstreams.
WAIT_TOOLTIP = "Wait until cron-scheduled upstreams certified this period"


class DomainDag(DAG):
    """A domain's DAG: Airflow's DAG, hashed on its id.

    Airflow hashes a DAG on its id, task ids, dates and schedule, and every ``>>`` hashes
    the DAG twice; an asset schedule alone takes about 25 µs to hash, so wiring a domain's
    tasks cost more than making them. DAGs that are equal have the same id, so this hash
    agrees with equality, and it no longer changes as tasks are added.
    """

    def __hash__(self) -> int:
        return hash((type(self), self.dag_id))


def asset(spec: AssetSpec) -> Asset:
    return Asset(uri=spec["uri"], name=spec["name"], group=ASSET_GROUP)


def build_dag(spec: DagSpec, project_dir: str) -> DAG:
    """The DAG ``spec`` describes, its tasks working on the project at ``project_dir``."""
    dag = DomainDag(
        dag_id=spec["dag_id"],
        description=spec["description"],
        schedule=_schedule(spec["schedule"]),
        start_date=_start_date(spec["start_date"]),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": spec["owner"],
            "retries": spec["retries"],
            "retry_delay": timedelta(seconds=spec["retry_delay_seconds"]),
        },
        tags=spec["tags"],
        doc_md=spec["doc_md"],
        params={
            "full_refresh": Param(
                False,
                type="boolean",
                title="Full refresh",
                description="Rebuild incremental models from scratch instead of merging new rows.",
            )
        },
    )
    warehouse: dict[str, Any] = {"project_dir": project_dir, "domain": spec["dag_id"]}
    if spec["pool"]:
        warehouse["pool"] = spec["pool"]
    assets = {port: asset(a) for port, a in spec["port_assets"].items()}
    with dag:
        wait = None
        if spec["sensors"]:
            with TaskGroup("wait_for_upstream", tooltip=WAIT_TOOLTIP) as wait:
                for sensor in spec["sensors"]:
                    _sensor(sensor, project_dir)
        groups = {name: TaskGroup(name, tooltip=tooltip) for name, tooltip in spec["groups"].items()}
        operators: dict[str, BaseOperator] = {}
        for task in spec["tasks"]:
            with groups[task["group"]]:
                operator = _operator(task, assets, warehouse)
            operators[operator.task_id] = operator
            for upstream in task["upstream"]:
                operators[upstream] >> operator
        if wait is not None:
            wait >> groups[spec["tasks"][0]["group"]]
    return dag


def _operator(task: TaskSpec, assets: dict[str, Asset], warehouse: dict[str, Any]) -> BaseOperator:
    """The operator that runs ``task`` of the plan."""
    name, kind = task["name"], task["kind"]
    if kind == "sources":
        return CheckSourcesOperator(task_id=name, opens_build=task["opens_build"], **warehouse)
    if kind == "upstreams":
        return ResolveUpstreamsOperator(task_id=name, opens_build=task["opens_build"], **warehouse)
    if kind == "prepare":
        return PrepareBuildOperator(task_id=name, **warehouse)
    if kind == "model":
        return BuildModelOperator(task_id=name, model=name, **warehouse)
    if kind == "checks":
        return PortChecksOperator(task_id=name, port=name, **warehouse)
    if kind == "custom":
        return CustomCheckOperator(task_id=name, test=name, **warehouse)
    if kind == "stage":
        certifies = any(step["kind"] == "certify" for step in task["steps"])
        return StageOperator(
            task_id=name, steps=task["steps"], port_assets=assets if certifies else None, **warehouse
        )
    if kind == "certify":
        return CertifyOperator(task_id=name, port_assets=assets, retries=0, **warehouse)
    raise ValueError(f"unknown task kind {kind!r}")


def _schedule(spec: ScheduleSpec) -> Any:
    if spec is None:
        return None
    if "cron" in spec:
        return CronTriggerTimetable(
            spec["cron"], timezone=spec["timezone"], run_immediately=spec["run_immediately"]
        )
    return _condition(spec)


def _condition(spec: ConditionSpec) -> AssetAll | AssetAny:
    items = [_condition(item) if "op" in item else asset(item) for item in spec["items"]]
    return AssetAny(*items) if spec["op"] == "any" else AssetAll(*items)


def _start_date(spec: list[int | str] | None) -> Any:
    if spec is None:
        return None
    import pendulum

    year, month, day, timezone = spec
    return pendulum.datetime(int(year), int(month), int(day), tz=str(timezone))


def _sensor(spec: SensorSpec, project_dir: str) -> UpstreamCertifiedSensor:
    return UpstreamCertifiedSensor(
        task_id=spec["upstream"],
        project_dir=project_dir,
        upstream=spec["upstream"],
        port_assets=[asset(a) for a in spec["port_assets"]],
        mode="poke",
        deferrable=spec["deferrable"],
        poke_interval=spec["poke_interval"],
        timeout=spec["timeout"],
        retries=0,
    )
