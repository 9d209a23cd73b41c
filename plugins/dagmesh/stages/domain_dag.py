"""The DAG of one valid domain, as data (:class:`~dagmesh.stages.dag_spec.DagSpec`).

Every domain gets the mesh's standard stages::

    [wait_for_upstream]  sensors on cron-scheduled upstreams (only when needed)
    check_inputs         sources fresh; upstream ports certified and consistent
    build                prepare >> models in ref() order
    test                 one fused check task per output port + custom SQL tests
    certify              publish: the gate, and the only task with Asset outlets

:func:`dagmesh.airflow.factory.build_dag` turns the spec into the Airflow DAG.
"""

from __future__ import annotations

from pathlib import Path

from dagmesh.config.environments import STATE_FILE, active_environment_name, environments, warehouse_pool
from dagmesh.config.files import FilesRecord, RecordingFiles
from dagmesh.config.model import AssetCondition, Domain, Mesh, PortRef
from dagmesh.config.project import load_project
from dagmesh.errors import ConfigError
from dagmesh.mesh.analysis import MeshAnalysis, analyze
from dagmesh.mesh.graph import Edge
from dagmesh.mesh.schedules import human
from dagmesh.stages.dag_spec import (
    ConditionSpec,
    DagSpec,
    ScheduleSpec,
    SensorSpec,
    TaskSpec,
    port_asset_spec,
)
from dagmesh.stages.tasks import TOOLTIPS, StageTask, by_domain, by_stage, domain_tasks


def fresh_dag_spec(root: Path, name: str) -> tuple[DagSpec | None, list[ConfigError] | None, FilesRecord]:
    """Domain ``name``'s spec read from the project at ``root`` (its config, its direct
    upstreams', ``mesh.yaml``); or ``None`` and its problems (none when it depends on a
    broken domain; ``None`` when no config file defines it). With the record of every file
    that decided the answer (see :mod:`dagmesh.airflow.dag_cache`)."""
    files = RecordingFiles(root)
    project = load_project(root, files, only=name)
    files.read(STATE_FILE.as_posix())  # the environments `dagmesh env create` made decide the pool
    analysis = analyze(project)
    if name in analysis.buildable():
        assert project.mesh is not None
        return dag_spec(analysis, name, active_environment_name(project.mesh)), [], files.record
    return None, analysis.broken().get(name), files.record


def dag_spec(analysis: MeshAnalysis, name: str, environment: str) -> DagSpec:
    """The DAG of buildable domain ``name`` when it runs in ``environment``."""
    project = analysis.project
    mesh = project.mesh
    assert mesh is not None
    domain = project.domains[name]
    edges = analysis.graph.edges_into(name)
    start = mesh.defaults.start_date
    plan = domain_tasks(domain, analysis.model_order[name], analysis.model_refs[name])
    if domain.task_granularity == "stage":
        plan = by_stage(plan)
    elif domain.task_granularity == "domain":
        plan = by_domain(plan)
    return {
        "dag_id": name,
        "description": (domain.description.splitlines() or [f"{domain.layer} domain {name}"])[0][:200],
        "schedule": _schedule(mesh, domain, edges),
        "start_date": None if start is None else [start.year, start.month, start.day, mesh.defaults.timezone],
        "owner": domain.owner,
        "retries": domain.retries,
        "retry_delay_seconds": domain.retry_delay.total_seconds(),
        "tags": list(dict.fromkeys(["mesh", domain.layer, name, *mesh.defaults.tags, *domain.tags])),
        "doc_md": domain_doc(analysis, domain, edges),
        "pool": warehouse_pool(environments(mesh, project.root).get(environment)),
        "sensors": _sensors(mesh, [e for e in edges if e.via == "sensor"]),
        "groups": {str(t.group): TOOLTIPS[t.group] for t in plan},
        "tasks": [_task(t) for t in plan],
        "port_assets": {port: port_asset_spec(mesh.name, name, port) for port in domain.outputs},
    }


def _task(task: StageTask) -> TaskSpec:
    return {
        "group": task.group,
        "name": task.name,
        "kind": task.kind,
        "upstream": list(task.upstream),
        "opens_build": task.opens_build,
        "steps": [_task(step) for step in task.steps],
    }


def _schedule(mesh: Mesh, domain: Domain, edges: list[Edge]) -> ScheduleSpec:
    schedule = domain.schedule
    if schedule.kind == "cron":
        assert schedule.cron is not None
        # A cron domain that waits for cron upstreams runs its latest tick as soon as it is
        # unpaused (its sensors then wait for that period's upstream certifications); one
        # that only reads raw sources waits for its next tick, or a trigger.
        waits = any(e.via == "sensor" for e in edges)
        return {"cron": schedule.cron, "timezone": mesh.defaults.timezone, "run_immediately": waits}
    if schedule.kind == "manual":
        return None
    condition = schedule.condition
    if condition is None or not condition.items:
        inputs = [e.consume.port for e in edges if e.via == "asset"]
        return {
            "op": condition.op if condition else "all",
            "items": [port_asset_spec(mesh.name, ref.domain, ref.port) for ref in inputs],
        }
    return _condition(mesh.name, condition)


def _condition(mesh: str, condition: AssetCondition) -> ConditionSpec:
    return {
        "op": condition.op,
        "items": [
            _condition(mesh, item)
            if isinstance(item, AssetCondition)
            else port_asset_spec(mesh, item.domain, item.port)
            for item in condition.items
        ],
    }


def _sensors(mesh: Mesh, edges: list[Edge]) -> list[SensorSpec]:
    """One sensor per upstream domain waited for; it reads the upstream's schedule when it runs."""
    ports: dict[str, list[PortRef]] = {}
    for edge in edges:
        ports.setdefault(edge.upstream, []).append(edge.consume.port)
    settings = mesh.sensors
    return [
        {
            "upstream": upstream,
            "port_assets": [port_asset_spec(mesh.name, ref.domain, ref.port) for ref in refs],
            "deferrable": settings.mode == "deferrable",
            "poke_interval": settings.poke_interval.total_seconds(),
            "timeout": settings.timeout.total_seconds(),
        }
        for upstream, refs in ports.items()
    ]


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
