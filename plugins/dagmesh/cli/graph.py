"""``dagmesh graph``: the domain graph as text, Mermaid or Graphviz DOT."""

from __future__ import annotations

import argparse
from typing import Any

from dagmesh.cli.common import open_project
from dagmesh.mesh.analysis import MeshAnalysis


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "graph",
        parents=[shared],
        help="print the domain graph (text, mermaid, dot)",
        description="Print which domain consumes which port, and how each dependency is orchestrated.",
    )
    parser.add_argument("--format", choices=("text", "mermaid", "dot"), default="text")


def run(args: argparse.Namespace) -> int:
    _, analysis = open_project(args.project)
    render = {"text": text, "mermaid": mermaid, "dot": dot}[args.format]
    print(render(analysis))
    return 0


def text(analysis: MeshAnalysis) -> str:
    project = analysis.project
    assert project.mesh is not None
    lines = [f"mesh {project.mesh.name}"]
    for layer in project.mesh.policy.layers:
        members = [n for n in analysis.graph.order() if project.domains[n].layer == layer]
        if not members:
            continue
        lines.append(f"\n{layer}")
        for name in members:
            domain = project.domains[name]
            schedule = domain.schedule.cron or domain.schedule.kind
            lines.append(f"  {name}  [{schedule}]  ports: {', '.join(domain.outputs)}")
            for edge in analysis.graph.edges_into(name):
                lines.append(f"    <- {edge.consume.port}  ({edge.via})")
    broken = analysis.broken()
    if broken:
        lines.append("\nnot loaded (config errors): " + ", ".join(sorted(broken)))
    return "\n".join(lines)


def _domain_edges(analysis: MeshAnalysis) -> list[tuple[str, str, str]]:
    """(upstream, consumer, label) once per domain pair."""
    pairs: dict[tuple[str, str], set[str]] = {}
    for edge in analysis.graph.edges:
        pairs.setdefault((edge.upstream, edge.consumer), set()).add(edge.via)
    return [(up, down, "/".join(sorted(vias))) for (up, down), vias in pairs.items()]


def mermaid(analysis: MeshAnalysis) -> str:
    project = analysis.project
    assert project.mesh is not None
    lines = ["graph LR"]
    for layer in project.mesh.policy.layers:
        members = [n for n in analysis.graph.order() if project.domains[n].layer == layer]
        if members:
            lines.append(f"  subgraph {layer}")
            lines += [f"    {name}" for name in members]
            lines.append("  end")
    for up, down, label in _domain_edges(analysis):
        arrow = "-.->" if label == "sensor" else "-->"
        lines.append(f"  {up} {arrow}|{label}| {down}")
    return "\n".join(lines)


def dot(analysis: MeshAnalysis) -> str:
    project = analysis.project
    assert project.mesh is not None
    lines = [f'digraph "{project.mesh.name}" {{', "  rankdir=LR;", "  node [shape=box];"]
    for index, layer in enumerate(project.mesh.policy.layers):
        members = [n for n in analysis.graph.order() if project.domains[n].layer == layer]
        if members:
            lines.append(f'  subgraph cluster_{index} {{ label="{layer}"; {"; ".join(members)}; }}')
    for up, down, label in _domain_edges(analysis):
        style = ", style=dashed" if label == "sensor" else ""
        lines.append(f'  {up} -> {down} [label="{label}"{style}];')
    lines.append("}")
    return "\n".join(lines)
