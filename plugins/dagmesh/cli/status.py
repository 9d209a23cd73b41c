"""``dagmesh status`` and ``dagmesh show``: the domain query, as the REST API answers it.

Both ask :class:`~dagmesh.query.service.MeshQuery`, so ``--json`` prints exactly what
the API's ``/domains`` and ``/domains/{name}`` (or ``/builds/{id}``) return.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from dagmesh.cli.common import CliError, Style, open_project, table, target_engine
from dagmesh.engines.base import WarehouseError
from dagmesh.query import facts
from dagmesh.query.service import MeshQuery


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    status = commands.add_parser(
        "status",
        parents=[shared],
        help="every domain's state, latest build and published version (table or --json)",
        description="Show each domain's latest build and what is certified and published.",
    )
    status.add_argument("--json", action="store_true", help="print a JSON list, one object per domain")
    status.add_argument("--env", help="environment to read (default: the active one)")
    status.set_defaults(show=False)
    show = commands.add_parser(
        "show",
        parents=[shared],
        help="one domain: ports, inputs, builds, certifications; or one build with its checks",
        description="Show one domain (or, with --build, one build with every check and the inputs it read).",
    )
    show.add_argument("domain", metavar="DOMAIN")
    show.add_argument("--build", metavar="ID", help="show this build of the domain")
    show.add_argument("--json", action="store_true", help="print JSON, as the REST API answers")
    show.add_argument("--env", help="environment to read (default: the active one)")
    show.set_defaults(show=True)


def run(args: argparse.Namespace) -> int:
    project, analysis = open_project(args.project)
    query = MeshQuery(project, analysis, target_engine(project, args.env))
    try:
        if not args.show:
            return _print(args, query.domains(), render_status)
        if not query.visible(args.domain):
            raise CliError(f"unknown domain '{args.domain}'")
        if args.build:
            build = query.build(args.build)
            if build is None or build.domain != args.domain:
                raise CliError(f"domain {args.domain} has no build '{args.build}'")
            return _print(args, build, render_build)
        detail = query.domain(args.domain)
        builds = query.builds(args.domain, limit=5)
        certifications = query.certifications(args.domain, limit=5)
        assert detail is not None and builds is not None and certifications is not None
        if args.json:
            print(json.dumps(_data(detail), indent=2))
            return 0
        print(render_domain(detail, builds.items, certifications.items))
        return 0
    except WarehouseError as exc:
        raise CliError(f"cannot read the registry: {exc}", code=1) from exc


def _print(args: argparse.Namespace, value: Any, render: Any) -> int:
    print(json.dumps(_data(value), indent=2) if args.json else render(value))
    return 0


def _data(value: BaseModel | list[Any]) -> Any:
    if isinstance(value, list):
        return [v.model_dump(mode="json") for v in value]
    return value.model_dump(mode="json")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _tests(counts: facts.TestCounts) -> str:
    warned = f", {counts.warned} warn" if counts.warned else ""
    return f"{counts.passed} passed, {counts.failed} failed{warned}"


def render_status(domains: list[facts.DomainSummary]) -> str:
    style = Style()
    rows = [
        [
            d.name,
            d.layer or "?",
            style.state(d.state),
            f"v{d.published.version}" if d.published else "-",
            _when(d.published.certified_at if d.published else None),
            _tests(d.latest_build.tests) if d.latest_build else "-",
            d.latest_build.build_id if d.latest_build else "-",
        ]
        for d in domains
    ]
    lines = [
        table(["DOMAIN", "LAYER", "STATE", "VERSION", "CERTIFIED AT (UTC)", "TESTS", "LATEST BUILD"], rows)
    ]
    for d in domains:
        if d.state == "failed" and d.latest_build and d.latest_build.message:
            lines.append(f"\n{d.name}: {d.latest_build.message}")
        if d.problems:
            lines.append(f"\n{d.name} has no DAG until its config is fixed:")
            lines += [f"  {p}" for p in d.problems]
    return "\n".join(lines)


def render_domain(
    d: facts.DomainDetail, builds: list[facts.BuildSummary], certifications: list[facts.Certification]
) -> str:
    style = Style()
    lines = [
        f"{style.bold(d.name)} ({d.layer}, owner {d.owner}): {style.state(d.state)}",
        f"schedule: {d.schedule}",
    ]
    if d.health.overdue and d.health.due_since:
        lines.append(f"overdue: a certification was due after {_when(d.health.due_since)}")
    for ancestor, version in d.health.behind.items():
        lines.append(f"out of sync: built from an older {ancestor} than the published v{version}")
    if d.published:
        when = _when(d.published.certified_at)
        lines.append(f"published: v{d.published.version} (build {d.published.build_id}, {when})")
    lines.append("")
    port_rows = [
        [
            p.name,
            f"v{p.version}",
            ", ".join(p.primary_key) or "-",
            len(p.columns),
            f"v{p.published.port_version}, {p.published.row_count} rows" if p.published else "-",
        ]
        for p in d.ports
    ]
    lines += ["ports:", table(["PORT", "CONTRACT", "PRIMARY KEY", "COLUMNS", "PUBLISHED"], port_rows), ""]
    if d.inputs:
        lines.append("inputs: " + ", ".join(f"{i.port} (via {i.via})" for i in d.inputs))
    if d.consumers:
        lines.append("consumers: " + ", ".join(d.consumers))
    if builds:
        rows = [
            [b.build_id, style.state(b.state), _when(b.started_at), _tests(b.tests), b.message[:60]]
            for b in builds
        ]
        lines += ["", "latest builds:", table(["BUILD", "STATE", "STARTED (UTC)", "TESTS", "MESSAGE"], rows)]
    if certifications:
        rows = [
            [f"v{c.version}", c.build_id, _when(c.certified_at), _lineage(c.lineage)] for c in certifications
        ]
        lines += ["", "certifications:", table(["VERSION", "BUILD", "CERTIFIED (UTC)", "BUILT FROM"], rows)]
    for problem in d.problems:
        lines.append(problem)
    return "\n".join(lines)


def render_build(b: facts.BuildDetail) -> str:
    style = Style()
    lines = [
        f"build {b.build_id} of {b.domain}: {style.state(b.state)}",
        f"run {b.run_id or '-'}, started {_when(b.started_at)}, finished {_when(b.finished_at)}",
    ]
    if b.failure:
        lines += ["", "why it failed:", *[f"  {line}" for line in b.failure.splitlines()]]
    if b.inputs:
        rows = [
            [i.port, i.upstream_build_id, f"v{i.upstream_version}", _lineage(i.lineage)] for i in b.inputs
        ]
        lines += ["", "read:", table(["PORT", "UPSTREAM BUILD", "VERSION", "BUILT FROM"], rows)]
    if b.models:
        rows = [[m.model, m.materialized, str(m.row_count), f"{m.seconds:.2f} s"] for m in b.models]
        lines += ["", "models:", table(["MODEL", "MATERIALIZED", "ROWS", "TIME"], rows)]
    if b.checks:
        rows = [
            [c.test_id, c.severity, _check_state(style, c.status), c.observed, c.threshold] for c in b.checks
        ]
        lines += ["", "checks:", table(["CHECK", "SEVERITY", "STATUS", "OBSERVED", "EXPECTED"], rows)]
    if b.certification:
        lines += ["", f"certified as v{b.certification.version} at {_when(b.certification.certified_at)}"]
    return "\n".join(lines)


def _check_state(style: Style, status: str) -> str:
    return {"pass": style.good, "fail": style.bad}.get(status, style.warn)(status)


def _lineage(lineage: dict[str, int]) -> str:
    return ", ".join(f"{name} v{version}" for name, version in sorted(lineage.items())) or "-"
