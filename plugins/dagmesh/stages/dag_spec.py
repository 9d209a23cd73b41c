"""What one domain's Airflow DAG is, as plain JSON data: the ``DagSpec``.

:func:`dagmesh.stages.domain_dag.dag_spec` makes it from the analysed mesh and
:func:`dagmesh.airflow.factory.build_dag` makes the DAG of it, so a spec read back from
:mod:`dagmesh.airflow.dag_cache` builds exactly the DAG a fresh parse builds. This module
imports nothing but the standard library: the DAG files' cached path (a few
milliseconds per domain) must not pay for the config model.
"""

from __future__ import annotations

from typing import Literal, TypedDict, final

#: The Asset group of every output port.
ASSET_GROUP = "dagmesh"


@final  # lets ``"key" in spec`` tell the kinds apart
class AssetSpec(TypedDict):
    uri: str
    name: str


def port_asset_spec(mesh: str, domain: str, port: str) -> AssetSpec:
    """The Asset an output port's certifications are published as."""
    return {"uri": f"mesh://{mesh}/{domain}/{port}", "name": f"{mesh}.{domain}.{port}"}


@final  # lets ``"key" in spec`` tell the kinds apart
class CronSpec(TypedDict):
    cron: str
    timezone: str
    #: Run the latest tick as soon as the DAG is unpaused (it waits for cron upstreams).
    run_immediately: bool


@final  # lets ``"key" in spec`` tell the kinds apart
class ConditionSpec(TypedDict):
    op: Literal["all", "any"]
    items: list[AssetSpec | ConditionSpec]


#: ``None`` runs only when triggered.
ScheduleSpec = CronSpec | ConditionSpec | None


class SensorSpec(TypedDict):
    #: The task id: the upstream domain waited for.
    upstream: str
    port_assets: list[AssetSpec]
    deferrable: bool
    poke_interval: float
    timeout: float


class TaskSpec(TypedDict):
    """A :class:`dagmesh.stages.tasks.StageTask`, as data."""

    group: str
    name: str
    kind: str
    upstream: list[str]
    opens_build: bool
    #: A combined task's steps (``task_granularity`` ``stage`` or ``domain``); empty otherwise.
    steps: list[TaskSpec]


class DagSpec(TypedDict):
    dag_id: str
    description: str
    schedule: ScheduleSpec
    #: ``[year, month, day, timezone]``, or ``None``.
    start_date: list[int | str] | None
    owner: str
    retries: int
    retry_delay_seconds: float
    tags: list[str]
    doc_md: str
    #: The Airflow pool of the warehouse tasks (``None``: the default pool).
    pool: str | None
    sensors: list[SensorSpec]
    #: Task groups in build order, with their tooltips.
    groups: dict[str, str]
    tasks: list[TaskSpec]
    #: Output port -> the Asset the gate emits for it.
    port_assets: dict[str, AssetSpec]
