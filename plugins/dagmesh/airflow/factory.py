"""One Airflow DAG per domain, with the mesh's standard stages.

This module is where the mesh model meets Airflow; nothing else builds DAGs::

    [wait_for_upstream]  sensors on cron-scheduled upstreams (only when needed)
    check_inputs         sources fresh; upstream ports certified and consistent
    build                prepare >> models in ref() order
    test                 one fused check task per output port + custom SQL tests
    certify              publish: the gate, and the only task with Asset outlets
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
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
)
from dagmesh.airflow.sensors import UpstreamCertifiedSensor
from dagmesh.config.environments import environments, warehouse_pool
from dagmesh.config.model import AssetCondition, Domain, Mesh, PortRef
from dagmesh.mesh.analysis import MeshAnalysis
from dagmesh.mesh.graph import Edge
from dagmesh.mesh.schedules import human
from dagmesh.stages.tasks import GROUPS, StageTask, domain_tasks


def port_asset(mesh: str, port: PortRef) -> Asset:
    """The Asset an output port's certifications are published as."""
    return Asset(
        uri=f"mesh://{mesh}/{port.domain}/{port.port}",
        name=f"{mesh}.{port.domain}.{port.port}",
        group="dagmesh",
    )


def build_dag(analysis: MeshAnalysis, domain: Domain, pool: str | None) -> DAG:
    """The DAG of one (valid) domain; its warehouse tasks run in ``pool``."""
    project = analysis.project
    mesh = project.mesh
    assert mesh is not None
    edges = analysis.graph.edges_into(domain.name)
    dag = DAG(
        dag_id=domain.name,
        description=(domain.description.splitlines() or [f"{domain.layer} domain {domain.name}"])[0][:200],
        schedule=_schedule(mesh, domain, edges),
        start_date=_start_date(mesh),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": domain.owner,
            "retries": domain.retries,
            "retry_delay": domain.retry_delay,
        },
        tags=_tags(mesh, domain),
        doc_md=domain_doc(analysis, domain, edges),
        params={
            "full_refresh": Param(
                False,
                type="boolean",
                title="Full refresh",
                description="Rebuild incremental models from scratch instead of merging new rows.",
            )
        },
    )
    common: dict[str, Any] = {"project_dir": str(project.root), "domain": domain.name}
    warehouse: dict[str, Any] = {**common, **({"pool": pool} if pool else {})}
    assets = {name: port_asset(mesh.name, PortRef(domain.name, name)) for name in domain.outputs}
    plan = domain_tasks(domain, analysis.model_order[domain.name], analysis.model_refs[domain.name])
    with dag:
        sensor_edges = [e for e in edges if e.via == "sensor"]
        wait = None
        if sensor_edges:
            with TaskGroup(
                "wait_for_upstream", tooltip="Wait until cron-scheduled upstreams certified this period"
            ) as wait:
                _sensors(mesh, str(project.root), sensor_edges)
        groups = {name: TaskGroup(name, tooltip=tooltip) for name, tooltip in GROUPS.items()}
        operators: dict[str, BaseOperator] = {}
        for task in plan:
            with groups[task.group]:
                operator = _operator(task, assets, warehouse)
            operators[task.task_id] = operator
            for upstream in task.upstream:
                operators[upstream] >> operator
        if wait is not None:
            wait >> groups["check_inputs"]
    return dag


def _operator(task: StageTask, assets: dict[str, Asset], warehouse: dict[str, Any]) -> BaseOperator:
    """The operator that runs ``task`` of the plan."""
    name = task.name
    if task.kind == "sources":
        return CheckSourcesOperator(task_id=name, opens_build=task.opens_build, **warehouse)
    if task.kind == "upstreams":
        return ResolveUpstreamsOperator(task_id=name, opens_build=task.opens_build, **warehouse)
    if task.kind == "prepare":
        return PrepareBuildOperator(task_id=name, **warehouse)
    if task.kind == "model":
        return BuildModelOperator(task_id=name, model=name, **warehouse)
    if task.kind == "checks":
        return PortChecksOperator(task_id=name, port=name, **warehouse)
    if task.kind == "custom":
        return CustomCheckOperator(task_id=name, test=name, **warehouse)
    return CertifyOperator(task_id=name, port_assets=assets, retries=0, **warehouse)


def _schedule(mesh: Mesh, domain: Domain, edges: list[Edge]) -> Any:
    schedule = domain.schedule
    if schedule.kind == "cron":
        assert schedule.cron is not None
        # A cron domain that waits for cron upstreams runs its latest tick as soon as it is
        # unpaused (its sensors then wait for that period's upstream certifications); one
        # that only reads raw sources waits for its next tick, or a trigger.
        waits = any(e.via == "sensor" for e in edges)
        return CronTriggerTimetable(schedule.cron, timezone=mesh.defaults.timezone, run_immediately=waits)
    if schedule.kind == "manual":
        return None
    inputs = [e.consume.port for e in edges if e.via == "asset"]
    condition = schedule.condition
    if condition is None or not condition.items:
        assets = [port_asset(mesh.name, ref) for ref in inputs]
        op = condition.op if condition else "all"
        return AssetAny(*assets) if op == "any" else AssetAll(*assets)
    return _condition(mesh.name, condition)


def _condition(mesh: str, condition: AssetCondition) -> Any:
    items = [
        _condition(mesh, item) if isinstance(item, AssetCondition) else port_asset(mesh, item)
        for item in condition.items
    ]
    return AssetAny(*items) if condition.op == "any" else AssetAll(*items)


def _start_date(mesh: Mesh) -> datetime | None:
    import pendulum

    start = mesh.defaults.start_date
    if start is None:
        return None
    return pendulum.datetime(start.year, start.month, start.day, tz=mesh.defaults.timezone)


def _tags(mesh: Mesh, domain: Domain) -> list[str]:
    tags = ["mesh", domain.layer, domain.name, *mesh.defaults.tags, *domain.tags]
    return list(dict.fromkeys(tags))


def _sensors(mesh: Mesh, project_dir: str, edges: list[Edge]) -> None:
    """One sensor per upstream domain waited for; it reads the upstream's schedule when it runs."""
    settings = mesh.sensors
    ports: dict[str, list[PortRef]] = {}
    for edge in edges:
        ports.setdefault(edge.upstream, []).append(edge.consume.port)
    for upstream, refs in ports.items():
        UpstreamCertifiedSensor(
            task_id=upstream,
            project_dir=project_dir,
            upstream=upstream,
            port_assets=[port_asset(mesh.name, ref) for ref in refs],
            mode="poke",
            deferrable=settings.mode == "deferrable",
            poke_interval=settings.poke_interval.total_seconds(),
            timeout=settings.timeout.total_seconds(),
            retries=0,
        )


def domain_doc(analysis: MeshAnalysis, domain: Domain, edges: list[Edge]) -> str:
    """The DAG's ``doc_md``: what the domain is, who owns it, its ports, inputs and waits.

    It is built from the domain's own config (and mesh.yaml) only, so another domain's
    change never gives this DAG a new version; the config version names the exact
    config and SQL the DAG was built from.
    """
    mesh = analysis.project.mesh
    assert mesh is not None
    schedule = domain.schedule
    sensor_edges = [e for e in edges if e.via == "sensor"]
    when = {
        "cron": f"`{schedule.cron}` ({mesh.defaults.timezone})"
        + ("; its latest tick runs as soon as it is unpaused" if sensor_edges else ""),
        "manual": "manual",
    }.get(schedule.kind, "when its inputs certify (Assets)")
    lines = [
        f"# {domain.name}",
        "",
        domain.description or f"A {domain.layer} domain of the {mesh.name} mesh.",
        "",
        f"**Layer:** {domain.layer} · **Owner:** {domain.owner} · **Runs:** {when} · "
        f"**Config:** `{domain.path}` · **Config version:** `{analysis.project.config_version(domain.name)}`",
        "",
    ]
    if edges:
        lines += ["## Inputs", "", "| port | via |", "|---|---|"]
        lines += [f"| `{e.consume.port}` | {e.via} |" for e in edges]
        lines.append("")
    if sensor_edges:
        upstreams = ", ".join(dict.fromkeys(e.upstream for e in sensor_edges))
        lines += [
            "## Waits for",
            "",
            f"`wait_for_upstream` waits until each of {upstreams} has certified for this run's period: "
            "the period that starts at the upstream's latest schedule tick at or before this run's "
            "logical date (a run without one uses the time it was triggered), or a later period. Any "
            "upstream run counts: scheduled, triggered by hand, or a backfill. A failed upstream run "
            "does not end the wait; a re-run that certifies does. After `sensors.timeout` "
            f"({human(mesh.sensors.timeout)}) the run fails saying what it waited for.",
            "",
        ]
    if domain.sources:
        lines += ["## Raw sources", "", "| source | table | freshness |", "|---|---|---|"]
        for source in domain.sources.values():
            fresh = source.freshness
            limit = f"error after {fresh.error_after}" if fresh and fresh.error_after else "-"
            lines.append(f"| {source.name} | `{source.table}` | {limit} |")
        lines.append("")
    lines += [
        "## Output ports",
        "",
        "| port | version | primary key | columns |",
        "|---|---|---|---|",
    ]
    for port in domain.outputs.values():
        columns = ", ".join(f"{c.name} {c.type}" for c in port.columns.values())
        lines.append(
            f"| `{domain.name}.{port.name}` | {port.version} | {', '.join(port.primary_key) or '-'} "
            f"| {columns} |"
        )
    lines += [
        "",
        "## Stages",
        "",
        "check_inputs → build → test → certify. The test tasks measure and record every check; "
        "`certify` publishes only when every blocking check passed (otherwise it fails with the "
        "list of failed checks, and the last certified version stays published), and it is the only "
        "task that emits the output ports' Asset events.",
    ]
    return "\n".join(lines)


def build_dags(analysis: MeshAnalysis, environment: str, only: str | None = None) -> Mapping[str, DAG]:
    """The DAG of every buildable domain (or only ``only``), by dag id, for ``environment``."""
    project = analysis.project
    assert project.mesh is not None
    pool = warehouse_pool(environments(project.mesh, project.root).get(environment))
    names = analysis.buildable()
    if only is not None:
        names = [n for n in names if n == only]
    return {name: build_dag(analysis, project.domains[name], pool) for name in names}
