"""Everything ``dagmesh validate`` checks, beyond what DAG parsing checks.

:func:`dagmesh.mesh.analysis.analyze` runs on every DAG parse and stays cheap; this
adds the checks that need a SQL parser (syntax, no backdoors) and, with a base
revision, breaking changes to output-port contracts.
"""

from __future__ import annotations

from dagmesh.config.files import DataFilesError, GitFiles, data_files
from dagmesh.config.model import Domain, ExpressionTest
from dagmesh.config.project import Project, load_project
from dagmesh.errors import Location, did_you_mean
from dagmesh.mesh.analysis import MeshAnalysis, analyze, reference_problems
from dagmesh.mesh.contracts import breaking_changes
from dagmesh.mesh.schedules import alignment_problem


def validate(project: Project, base: str | None = None) -> MeshAnalysis:
    """All checks of the project; problems land in ``project.diagnostics``.

    Raises :class:`~dagmesh.config.files.GitError` when ``base`` cannot be read.
    """
    analysis = analyze(project)
    if project.mesh is None:
        return analysis  # every domain waits for mesh.yaml; its own file's problems are reported
    check_sql(analysis)
    check_alignment(analysis)
    check_file_sources(project)
    for display, problems in project.library.problems.items():  # macros/*.sql
        for problem in problems:
            project.diagnostics.error(Location(display, problem.line, problem.col), problem.message)
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


def check_file_sources(project: Project) -> None:
    """A source's files must stay inside the project; no file yet is a warning (data files
    are often kept out of git)."""
    for domain in project.domains.values():
        for source in domain.sources.values():
            if source.path is None:
                continue
            try:
                found = data_files(project.root, source.path)
            except DataFilesError as exc:
                project.diagnostics.error(source.where("path"), str(exc))
                continue
            if not found:
                project.diagnostics.warning(
                    source.where("path"), f"'{source.path}' matches no file yet: `dagmesh load` needs one"
                )


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
    """What only a SQL parser can tell: SQL that would not run, or not mean the same, on an
    engine the mesh's environments use; and config values that become SQL.

    Syntax, template rules and undeclared reads are checked by the analysis (at every DAG
    parse too, so a domain with such SQL gets no DAG).
    """
    from dagmesh.sql.portability import portability_problems

    project = analysis.project
    assert project.mesh is not None
    engines = sorted({env.engine for env in project.mesh.environments.values()})
    for domain in project.domains.values():
        for sql in [m.sql for m in domain.models] + [t.sql for t in domain.tests]:
            text = project.read_sql(sql)
            if text is None:
                continue  # reported by the analysis
            display = project.sql_display_path(sql)
            if reference_problems(project, sql):
                continue  # refused already: one message per problem
            for engine in engines:
                for problem in portability_problems(text, engine):
                    analysis.report(
                        domain.name, Location(display, problem.line, problem.col), problem.message
                    )
        check_sql_values(analysis, domain)


def check_sql_values(analysis: MeshAnalysis, domain: Domain) -> None:
    """Config values that end up in SQL: an ``expression`` test must be one row-level condition
    over the port's columns; an incremental port's ``unique_key`` must name its columns."""
    from dagmesh.sql.references import ConditionError, condition, output_columns

    for port in domain.outputs.values():
        for test in port.tests:
            if not isinstance(test, ExpressionTest):
                continue
            try:
                condition(test.sql, list(port.columns))
            except ConditionError as exc:
                analysis.report(domain.name, test.loc, f"expression test of port '{port.name}': {exc}")
    for model in domain.models:
        published = domain.outputs.get(model.name)
        if published is not None:
            columns: list[str] | None = list(published.columns)
            whose = "its port"
        else:
            text = analysis.project.read_sql(model.sql)
            columns = output_columns(text) if text is not None else None
            whose = "what its SQL selects"
        known = columns or []
        for key in model.unique_key if known else ():
            if key not in known:
                analysis.report(
                    domain.name,
                    model.loc,
                    f"unique_key '{key}' of model '{model.name}' is not a column of {whose}"
                    f"{did_you_mean(key, known)} ({', '.join(known)})",
                )
