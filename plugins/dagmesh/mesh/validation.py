"""Everything ``dagmesh validate`` checks, beyond what DAG parsing checks.

:func:`dagmesh.mesh.analysis.analyze` runs on every DAG parse and stays cheap; this
adds the checks that need a SQL parser (syntax, no backdoors) and, with a base
revision, breaking changes to output-port contracts.
"""

from __future__ import annotations

from dagmesh.config.files import GitFiles
from dagmesh.config.project import Project, load_project
from dagmesh.errors import Location
from dagmesh.mesh.analysis import MeshAnalysis, analyze
from dagmesh.mesh.contracts import breaking_changes
from dagmesh.mesh.schedules import alignment_problem


def validate(project: Project, base: str | None = None) -> MeshAnalysis:
    """All checks of the project; problems land in ``project.diagnostics``.

    Raises :class:`~dagmesh.config.files.GitError` when ``base`` cannot be read.
    """
    analysis = analyze(project)
    check_sql(analysis)
    check_alignment(analysis)
    if base is not None:
        before = load_project(project.root, GitFiles(project.root, base))
        if before.mesh is None:
            project.diagnostics.warning(
                Location("dag_configs/mesh.yaml"),
                f"cannot compare contracts with {base}: its mesh.yaml is missing or invalid",
            )
        else:
            project.diagnostics.extend(breaking_changes(before, project, base))
    return analysis


def check_alignment(analysis: MeshAnalysis) -> None:
    """Sensor dependencies whose schedules make the consumer wait long or read old data.

    Crons that never fire are rejected when configs are parsed; what is left here is
    advice (and too slow for every DAG parse: it steps through many cron ticks).
    """
    mesh = analysis.project.mesh
    assert mesh is not None
    for edge in analysis.graph.edges:
        consumer = analysis.project.domains[edge.consumer]
        upstream = analysis.project.domains.get(edge.upstream)
        if edge.via != "sensor" or upstream is None or not consumer.schedule.cron:
            continue
        if not upstream.schedule.cron:
            continue
        found = alignment_problem(
            upstream.name,
            upstream.schedule.cron,
            consumer.name,
            consumer.schedule.cron,
            mesh.defaults.timezone,
        )
        if found is not None:
            analysis.report(consumer.name, edge.consume.loc, found[1], severity=found[0])


def check_sql(analysis: MeshAnalysis) -> None:
    """Parse every model and test of every domain: syntax errors and undeclared tables."""
    from dagmesh.sql.references import check_references

    project = analysis.project
    for domain in project.domains.values():
        for sql in [m.sql for m in domain.models] + [t.sql for t in domain.tests]:
            text = project.read_sql(sql)
            if text is None:
                continue  # reported by the analysis
            display = project.sql_display_path(sql)
            for problem in check_references(text):
                analysis.report(domain.name, Location(display, problem.line, problem.col), problem.message)
