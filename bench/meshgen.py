"""Synthetic meshes in dagmesh's config format, and the same DAGs written by hand.

``generate_mesh(root, n)`` writes ``n`` domains (40% mastered, 40% integrated, 20%
self-service; cron and Asset-triggered; sensors; incremental models; column, port and
custom tests) with their SQL. ``write_hand_written(root, target)`` writes, for every
domain, a plain Python DAG file with the same operators, arguments and dependencies
that the dagmesh loader builds: the baseline the loader is measured against.
"""

from __future__ import annotations

import random
from pathlib import Path

MESH_YAML = """\
mesh: bench
environments:
  dev: {engine: duckdb, path: .dagmesh/warehouse.duckdb}
defaults:
  owner: data-platform
  retries: 2
  retry_delay: 5m
policy:
  layers: [mastered, integrated, self_service]
"""


def _name(index: int) -> str:
    return f"domain_{index:04d}"


def generate_mesh(root: Path, count: int, seed: int = 7) -> list[str]:
    """Write a valid mesh of ``count`` domains under ``root``; returns the domain names."""
    rng = random.Random(seed)
    (root / "dag_configs").mkdir(parents=True, exist_ok=True)
    (root / "dag_configs" / "mesh.yaml").write_text(MESH_YAML)
    mastered = max(1, int(count * 0.4))
    integrated = max(1, int(count * 0.4))
    names = [_name(i) for i in range(count)]
    cron_integrated: list[str] = []
    for index, name in enumerate(names):
        if index < mastered:
            _mastered(root, name, index)
        elif index < mastered + integrated:
            upstream = rng.sample(names[:mastered], k=min(2, mastered))
            cron = rng.random() < 0.3
            _integrated(root, name, upstream, cron)
            if cron:
                cron_integrated.append(name)
        else:
            upstream = rng.sample(names[mastered : mastered + integrated], k=min(2, integrated))
            _self_service(root, name, upstream)
    return names


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _port_block(name: str, port: str, tests: bool) -> str:
    column_tests = "{type: varchar, tests: [not_null, unique]}" if tests else "varchar"
    return f"""  {port}:
    version: 1
    primary_key: [id]
    columns:
      id:       {{type: varchar}}
      code:     {column_tests}
      category: {{type: varchar, tests: [{{accepted_values: [A, B, C]}}]}}
      amount:   {{type: number, tests: [{{range: {{min: 0}}}}]}}
      updated:  timestamp
    tests:
      - {{row_count: {{min: 1}}}}
"""


def _select(*reads: str) -> str:
    joins = "\n".join(f"left join {read} as r{i} on t.id = r{i}.id" for i, read in enumerate(reads[1:], 1))
    return (
        "select\n    t.id,\n    t.code,\n    t.category,\n    t.amount,\n    t.updated\n"
        f"from {reads[0]} as t\n{joins}\n"
    )


def _mastered(root: Path, name: str, index: int) -> None:
    _write(
        root,
        f"dag_configs/mastered/{name}.yaml",
        f"""domain: {name}
layer: mastered
description: Mastered records of source system {index}.
owner: mdm-team
schedule: "{index % 60} {index % 5} * * *"
sources:
  raw_records: {{table: RAW.SYS{index}.RECORDS, freshness: {{column: updated, error_after: 2d}}}}
  raw_codes:   {{table: RAW.SYS{index}.CODES}}
models:
  - {{name: stg_records, sql: {name}/stg_records.sql}}
  - {{name: {name}, sql: {name}/{name}.sql}}
outputs:
{_port_block(name, name, tests=True)}tests:
  - {{sql: {name}/tests/no_orphans.sql}}
""",
    )
    _write(
        root,
        f"sql/{name}/stg_records.sql",
        _select("{{ source('raw_records') }}", "{{ source('raw_codes') }}"),
    )
    _write(root, f"sql/{name}/{name}.sql", _select("{{ ref('stg_records') }}"))
    _write(
        root,
        f"sql/{name}/tests/no_orphans.sql",
        "select id\nfrom {{ ref('" + name + "') }}\nwhere code is null\n",
    )


def _integrated(root: Path, name: str, upstream: list[str], cron: bool) -> None:
    consumes = "\n".join(f"  - {u}.{u}" for u in upstream)
    schedule = '"30 6 * * *"' if cron else "on_upstream"
    ports = "".join(_port_block(name, p, tests=False) for p in ("dim", "fact"))
    _write(
        root,
        f"dag_configs/integrated/{name}.yaml",
        f"""domain: {name}
layer: integrated
description: A warehouse joining {", ".join(upstream)}.
schedule: {schedule}
consumes:
{consumes}
sources:
  events: {{table: RAW.EVENTS.{name.upper()}}}
models:
  - {{name: dim, sql: {name}/dim.sql}}
  - {{name: fact, sql: {name}/fact.sql, materialized: incremental, unique_key: [id]}}
  - {{name: agg, sql: {name}/agg.sql}}
outputs:
{ports}""",
    )
    reads = [f"{{{{ port('{u}.{u}') }}}}" for u in upstream]
    _write(root, f"sql/{name}/dim.sql", _select(*reads))
    _write(root, f"sql/{name}/fact.sql", _select("{{ source('events') }}", "{{ ref('dim') }}"))
    _write(root, f"sql/{name}/agg.sql", _select("{{ ref('fact') }}", "{{ ref('dim') }}"))


def _self_service(root: Path, name: str, upstream: list[str]) -> None:
    consumes = "\n".join(f"  - {u}.{p}" for u in upstream for p in ("dim", "fact"))
    _write(
        root,
        f"dag_configs/self_service/{name}.yaml",
        f"""domain: {name}
layer: self_service
description: Self-service extract over {", ".join(upstream)}.
schedule: on_upstream
consumes:
{consumes}
models:
  - {{name: extract, sql: {name}/extract.sql}}
outputs:
{_port_block(name, "extract", tests=False)}""",
    )
    reads = [f"{{{{ port('{u}.{p}') }}}}" for u in upstream for p in ("dim", "fact")]
    _write(root, f"sql/{name}/extract.sql", _select(*reads))


# ---------------------------------------------------------------------- hand-written


_IMPORTS = [
    "from datetime import timedelta",
    "from airflow.sdk import DAG, Asset, AssetAll, CronTriggerTimetable, Param, TaskGroup, chain",
    "from dagmesh.airflow.operators import (",
    "    BuildModelOperator, CertifyOperator, CheckSourcesOperator, CustomCheckOperator,",
    "    PortChecksOperator, PrepareBuildOperator, ResolveUpstreamsOperator,",
    ")",
    "from dagmesh.airflow.sensors import UpstreamCertifiedSensor",
    "",
]


def write_hand_written(project: Path, target: Path, one_file: Path | None = None) -> int:
    """One plain Python DAG file per domain, equal to what the loader builds, in ``target``;
    and, with ``one_file``, the same DAGs in that one file. Returns the count."""
    import sys

    sys.path.insert(0, str(project.parent.parent / "plugins"))
    from dagmesh.config.environments import warehouse_pool
    from dagmesh.config.project import load_project
    from dagmesh.mesh.analysis import analyze
    from dagmesh.stages.domain_dag import domain_doc

    loaded = load_project(project)
    analysis = analyze(loaded)
    mesh = loaded.mesh
    assert mesh is not None and not loaded.diagnostics.errors, loaded.diagnostics.sorted()[:5]
    target.mkdir(parents=True, exist_ok=True)
    pool = warehouse_pool(mesh.environments[mesh.default_environment])
    bodies = []
    for name in analysis.buildable():
        domain = loaded.domains[name]
        edges = analysis.graph.edges_into(name)
        lines = [
            f"P = {str(project)!r}",
            f"W = dict(project_dir=P, domain={name!r}, pool={pool!r})",
        ]
        waits = any(e.via == "sensor" for e in edges)
        if domain.schedule.kind == "cron":
            schedule = (
                f"CronTriggerTimetable({domain.schedule.cron!r}, timezone='UTC', run_immediately={waits})"
            )
        else:
            assets = ", ".join(
                f"Asset(uri='mesh://bench/{e.consume.port.domain}/{e.consume.port.port}', "
                f"name='bench.{e.consume.port.domain}.{e.consume.port.port}', group='dagmesh')"
                for e in edges
                if e.via == "asset"
            )
            schedule = f"AssetAll({assets})"
        description = (domain.description.splitlines() or [""])[0]
        lines += [
            "with DAG(",
            f"    dag_id={name!r},",
            f"    description={description!r},",
            f"    schedule={schedule},",
            "    catchup=False,",
            "    max_active_runs=1,",
            f"    default_args={{'owner': {domain.owner!r}, 'retries': 2,",
            "        'retry_delay': timedelta(minutes=5)},",
            f"    tags={['mesh', domain.layer, name]!r},",
            f"    doc_md={domain_doc(analysis, domain, edges)!r},",
            "    params={'full_refresh': Param(False, type='boolean', title='Full refresh',",
            "        description='Rebuild incremental models from scratch instead of merging new rows.')},",
            ") as dag:",
        ]
        stages = []
        sensors: dict[str, list[str]] = {}
        for edge in edges:
            if edge.via == "sensor":
                sensors.setdefault(edge.upstream, []).append(edge.consume.port.port)
        if sensors:
            lines.append("    with TaskGroup('wait_for_upstream') as wait:")
            for upstream, ports in sensors.items():
                inlets = ", ".join(
                    f"Asset(uri='mesh://bench/{upstream}/{p}', name='bench.{upstream}.{p}', group='dagmesh')"
                    for p in ports
                )
                lines.append(
                    f"        UpstreamCertifiedSensor(task_id={upstream!r}, project_dir=P, "
                    f"upstream={upstream!r}, port_assets=[{inlets}], mode='poke', deferrable=False, "
                    "poke_interval=60.0, timeout=21600.0, retries=0)"
                )
            stages.append("wait")
        lines.append("    with TaskGroup('check_inputs') as check:")
        checks = []
        if domain.sources or not domain.consumes:
            lines.append("        sources = CheckSourcesOperator(task_id='sources', opens_build=True, **W)")
            checks.append("sources")
        if domain.consumes:
            lines.append(
                "        upstreams = ResolveUpstreamsOperator(task_id='upstreams', "
                f"opens_build={not checks}, **W)"
            )
            checks.append("upstreams")
        lines.append(f"        chain({', '.join(checks)})")
        lines.append("    with TaskGroup('build') as build:")
        lines.append("        prepare = PrepareBuildOperator(task_id='prepare', **W)")
        for model in analysis.model_order[name]:
            lines.append(f"        m_{model} = BuildModelOperator(task_id={model!r}, model={model!r}, **W)")
            refs = analysis.model_refs[name].get(model, [])
            for ref in refs:
                lines.append(f"        m_{ref} >> m_{model}")
            if not refs:
                lines.append(f"        prepare >> m_{model}")
        lines.append("    with TaskGroup('test') as test:")
        for port in domain.outputs:
            lines.append(f"        PortChecksOperator(task_id={port!r}, port={port!r}, **W)")
        for custom in domain.tests:
            lines.append(f"        CustomCheckOperator(task_id={custom.name!r}, test={custom.name!r}, **W)")
        assets = ", ".join(
            f"{port!r}: Asset(uri='mesh://bench/{name}/{port}', name='bench.{name}.{port}', group='dagmesh')"
            for port in domain.outputs
        )
        lines.append("    with TaskGroup('certify') as certify:")
        lines.append(f"        CertifyOperator(task_id='publish', port_assets={{{assets}}}, retries=0, **W)")
        lines.append(f"    chain({', '.join([*stages, 'check', 'build', 'test', 'certify'])})")
        body = "\n".join(lines) + "\n"
        bodies.append(body)
        (target / f"{name}.py").write_text("\n".join(_IMPORTS) + body)
    if one_file is not None:
        one_file.parent.mkdir(parents=True, exist_ok=True)
        one_file.write_text("\n".join(_IMPORTS) + "\n".join(bodies))
    return len(analysis.buildable())
