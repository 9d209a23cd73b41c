"""Checks that need the whole mesh, and the model order of every domain.

:func:`analyze` runs on every DAG parse, so it reads SQL files only through the
Jinja parser (no SQL parser). Each problem is attributed to the domain it breaks:
a broken domain gets no DAG, every other domain still does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dagmesh.config import cache as parse_cache
from dagmesh.config.model import Consume, Domain, PortRef
from dagmesh.config.project import Project
from dagmesh.errors import ConfigError, Location, did_you_mean
from dagmesh.mesh.graph import MeshGraph, effective_via, model_order
from dagmesh.templating.template import SqlProblem, TemplateInfo, template_calls


@dataclass
class MeshAnalysis:
    project: Project
    graph: MeshGraph
    #: Problems of each domain, by domain name (a domain with errors gets no DAG).
    problems: dict[str, list[ConfigError]] = field(default_factory=dict)
    #: Build order of each domain's models, from ``ref()``.
    model_order: dict[str, list[str]] = field(default_factory=dict)
    #: ``ref()`` dependencies of each model, by domain.
    model_refs: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def report(self, domain: str, where: Location, message: str, severity: str = "error") -> None:
        problem = ConfigError.at(where, message, "warning" if severity == "warning" else "error")
        self.problems.setdefault(domain, []).append(problem)
        self.project.diagnostics.add(problem)

    def errors_of(self, domain: str) -> list[ConfigError]:
        own = [p for p in self.problems.get(domain, []) if p.is_error]
        path = self.project.domain_files.get(domain)
        parsed = [p for p in self.project.diagnostics.errors if path and p.path == path]
        return sorted(set(own + parsed))

    @property
    def mesh_errors(self) -> list[ConfigError]:
        mesh_path = self.project.mesh.path if self.project.mesh else "dag_configs/mesh.yaml"
        return [
            p for p in self.project.diagnostics.errors if p.path == mesh_path or self.project.mesh is None
        ]

    def buildable(self) -> list[str]:
        """Domains whose DAG can be built, in dependency order."""
        if self.project.mesh is None:
            return []
        # A focused load checked only its domain; the upstreams loaded with it are context.
        names = [self.project.focus] if self.project.focus else self.graph.order()
        return [name for name in names if name in self.graph.order() and not self.errors_of(name)]

    def broken(self) -> dict[str, list[ConfigError]]:
        """Every domain (by name, or by file when unnamed) that gets no DAG, with its errors."""
        buildable = set(self.buildable())
        mesh_errors = self.mesh_errors if self.project.mesh is None else []
        result = {
            name: self.errors_of(name) + mesh_errors
            for name in self.project.domain_files
            if name not in buildable
        }
        for path in self.project.unnamed_files:
            result[path] = [p for p in self.project.diagnostics.errors if p.path == path] + mesh_errors
        return result


def analyze(project: Project) -> MeshAnalysis:
    """All mesh-level checks that are cheap enough for DAG-parse time."""
    mesh = project.mesh
    layers = mesh.policy.layers if mesh else ()
    analysis = MeshAnalysis(project, MeshGraph(project.domains, layers))
    if mesh is None:
        return analysis
    checked = [project.domains[project.focus]] if project.focus else list(project.domains.values())
    for domain in checked:
        _check_consumes(analysis, domain)
        _check_schedule(analysis, domain)
        _check_sql(analysis, domain)
    for cycle in analysis.graph.cycles:
        path = " -> ".join(cycle)
        for name in cycle[:-1]:
            domain = project.domains[name]
            consume = next(
                c for c in domain.consumes if c.port.domain in cycle and _next(cycle, name) == c.port.domain
            )
            analysis.report(name, consume.loc, f"dependency cycle: {path} (each domain consumes the next)")
    if project.focus is None:
        project.cache.prune()  # a partial load would drop the other domains' entries
    return analysis


def _next(cycle: list[str], name: str) -> str:
    return cycle[cycle.index(name) + 1]


def _check_consumes(analysis: MeshAnalysis, domain: Domain) -> None:
    project = analysis.project
    assert project.mesh is not None
    layers = project.mesh.policy.layers
    known = set(project.domain_files)
    for consume in domain.consumes:
        ref = consume.port
        if ref.domain not in known:
            analysis.report(
                domain.name,
                consume.loc,
                f"consumes '{ref}', but there is no domain '{ref.domain}'{did_you_mean(ref.domain, known)}",
            )
            continue
        upstream = project.domains.get(ref.domain)
        if upstream is None:
            continue  # its own file is broken; that is reported there
        if ref.port not in upstream.outputs:
            analysis.report(
                domain.name,
                consume.loc,
                f"consumes '{ref}', but domain {ref.domain} has no output port '{ref.port}'"
                f"{did_you_mean(ref.port, upstream.outputs)}; it publishes: {', '.join(upstream.outputs)}",
            )
        if layers.index(upstream.layer) >= layers.index(domain.layer):
            analysis.report(
                domain.name,
                consume.loc,
                f"a {domain.layer} domain cannot consume {ref.domain} ({upstream.layer}): dependencies "
                f"must point to earlier layers ({' -> '.join(layers)})",
            )
        _check_via(analysis, domain, upstream, consume)


def _check_via(analysis: MeshAnalysis, domain: Domain, upstream: Domain, consume: Consume) -> None:
    via = effective_via(domain, consume)
    if via == "sensor":
        if domain.schedule.kind == "on_upstream":
            analysis.report(
                domain.name,
                consume.loc,
                f"'{consume.port}' uses via: sensor, but {domain.name} is scheduled on_upstream: "
                "its runs are triggered by Asset events and have no logical date for a sensor to align on. "
                "Use via: asset, or give the domain a cron schedule",
            )
        elif upstream.schedule.kind != "cron":
            reason = (
                "its runs are triggered by Asset events and have no logical date to wait for"
                if upstream.schedule.kind == "on_upstream"
                else "it only runs when triggered by hand"
            )
            why = (
                "uses via: sensor"
                if consume.via == "sensor"
                else f"is waited for with a sensor ({domain.name} runs on a cron schedule)"
            )
            analysis.report(
                domain.name,
                consume.loc,
                f"'{consume.port}' {why}, but {upstream.name} is not on a cron schedule: "
                f"{reason}. Use schedule: on_upstream for {domain.name} (and via: asset), "
                f"or give {upstream.name} a cron schedule",
            )
    elif domain.schedule.kind == "cron":
        analysis.report(
            domain.name,
            consume.loc,
            f"'{consume.port}' uses via: asset, but {domain.name} runs on a cron schedule and Asset events "
            "do not trigger it. Use schedule: on_upstream, or via: sensor on a cron-scheduled upstream",
        )


def _check_schedule(analysis: MeshAnalysis, domain: Domain) -> None:
    schedule = domain.schedule
    if schedule.kind != "on_upstream":
        return
    asset_inputs = {c.port for c in domain.consumes if effective_via(domain, c) == "asset"}
    if not asset_inputs:
        analysis.report(
            domain.name,
            schedule.loc,
            "schedule: on_upstream needs at least one consumed port to trigger on (consumes is empty)",
        )
        return
    if schedule.condition is None:
        return
    for ref in schedule.condition.ports():
        if ref not in asset_inputs:
            analysis.report(
                domain.name,
                schedule.loc,
                f"the on_upstream condition names '{ref}', which {domain.name} does not consume via asset",
            )


def _check_sql(analysis: MeshAnalysis, domain: Domain) -> None:
    project = analysis.project
    models = {m.name for m in domain.models}
    consumed = {c.port for c in domain.consumes}
    refs: dict[str, list[str]] = {}
    for model in domain.models:
        display = project.sql_display_path(model.sql)
        info = template_info(project, model.sql)
        if info is None:
            analysis.report(domain.name, model.loc, f"model '{model.name}': SQL file {display} not found")
            refs[model.name] = []
            continue
        _check_template(analysis, domain, model.sql, info, models, consumed)
        refs[model.name] = [r for r in info.args("ref") if r in models]
        if model.name in refs[model.name]:
            analysis.report(
                domain.name,
                _call_loc(display, info, "ref", model.name),
                f"model '{model.name}' refs itself",
            )
            refs[model.name].remove(model.name)
        call = next((c for c in info.calls if c.func == "is_incremental"), None)
        if call is not None and model.materialized != "incremental":
            analysis.report(
                domain.name,
                Location(display, call.line, call.col),
                f"is_incremental() in model '{model.name}', which is not materialized: incremental",
            )
    for test in domain.tests:
        display = project.sql_display_path(test.sql)
        info = template_info(project, test.sql)
        if info is None:
            analysis.report(domain.name, test.loc, f"test '{test.name}': SQL file {display} not found")
            continue
        _check_template(analysis, domain, test.sql, info, models, consumed)
        if test.name in domain.outputs:
            analysis.report(
                domain.name,
                test.loc,
                f"test '{test.name}' has the name of an output port; rename it",
            )
    order, cycles = model_order([m.name for m in domain.models], refs)
    for cycle in cycles:
        first = domain.model(cycle[0])
        assert first is not None
        analysis.report(domain.name, first.loc, f"models ref each other in a cycle: {' -> '.join(cycle)}")
    analysis.model_order[domain.name] = order
    analysis.model_refs[domain.name] = refs


def _elsewhere(analysis: MeshAnalysis, domain: Domain, name: str) -> str:
    """A hint when ``ref(name)`` names another domain's port or model (dbt projects ref anything)."""
    for other in analysis.project.domains.values():
        if other.name == domain.name:
            continue
        if name in other.outputs:
            return (
                f"; '{name}' is an output port of domain {other.name}: read it with "
                f"port('{other.name}.{name}') and add {other.name}.{name} to consumes"
            )
        if other.model(name) is not None:
            ports = ", ".join(f"port('{other.name}.{p}')" for p in other.outputs)
            return f"; '{name}' is a model inside domain {other.name}; other domains read its ports ({ports})"
    return ""


def template_info(project: Project, sql_path: str) -> TemplateInfo | None:
    """The template calls and problems of ``sql/<sql_path>`` (cached by content); ``None``
    when the file does not exist. A file that is not UTF-8 text is one problem."""
    text = project.read_sql(sql_path)
    if text is None:
        return None
    unreadable = project.unreadable(project.sql_display_path(sql_path))
    if unreadable is not None:
        return TemplateInfo((), (SqlProblem(unreadable.message, unreadable.line, unreadable.col),))
    cache_key = parse_cache.key("sql", text)
    info = project.cache.recall(cache_key)
    if isinstance(info, TemplateInfo):
        return info
    data = project.cache.get(cache_key)
    try:
        info = TemplateInfo.from_data(data)
    except (TypeError, ValueError, KeyError):
        info = template_calls(text)
        project.cache.put(cache_key, info.to_data())
    project.cache.remember(cache_key, info)
    return info


def reference_problems(project: Project, sql_path: str) -> list[SqlProblem]:
    """Syntax errors and undeclared reads of ``sql/<sql_path>`` (cached by content: the SQL
    parser is imported only when a SQL file changed)."""
    text = project.read_sql(sql_path) or ""
    cache_key = parse_cache.key("references", text)
    problems = project.cache.recall(cache_key)
    if isinstance(problems, list):
        return problems
    data = project.cache.get(cache_key)
    try:
        problems = [SqlProblem.from_data(p) for p in data]
    except (TypeError, ValueError):
        from dagmesh.sql.references import check_references

        problems = check_references(text)
        project.cache.put(cache_key, [p.to_data() for p in problems])
    project.cache.remember(cache_key, problems)
    return problems


def _call_loc(display: str, info: TemplateInfo, func: str, arg: str) -> Location:
    call = next((c for c in info.calls if c.func == func and c.arg == arg), None)
    return Location(display, call.line, call.col) if call else Location(display)


def _check_template(
    analysis: MeshAnalysis,
    domain: Domain,
    sql_path: str,
    info: TemplateInfo,
    models: set[str],
    consumed: set[PortRef],
) -> None:
    display = analysis.project.sql_display_path(sql_path)
    expansion = analysis.project.expansion_problems(sql_path)
    for problem in expansion:  # a macro or var() call that could not be expanded
        analysis.report(domain.name, Location(display, problem.line, problem.col), problem.message)
    lines = {p.line for p in expansion}
    macros = sorted(analysis.project.library.macros)
    for problem in info.problems:
        if problem.line in lines:
            continue
        message = problem.message
        unknown = re.match(r"unknown function '(\w+)\(\)'", message)
        if unknown and macros:
            hint = did_you_mean(unknown.group(1), macros)
            known = ", ".join(macros)
            message = f"{unknown.group(0)}{hint}; a model may call ref, source, port, var and macros: {known}"
        analysis.report(domain.name, Location(display, problem.line, problem.col), message)
    if not info.problems:
        # No backdoors: checked on every parse (from the cache unless the file changed), so a
        # domain whose SQL reads behind the mesh's back gets no DAG.
        for problem in reference_problems(analysis.project, sql_path):
            analysis.report(domain.name, Location(display, problem.line, problem.col), problem.message)
    consumed_names = sorted(str(p) for p in consumed)
    for call in info.calls:
        where = Location(display, call.line, call.col)
        if call.func == "ref" and call.arg not in models:
            analysis.report(
                domain.name,
                where,
                f"ref('{call.arg}'): domain {domain.name} has no model '{call.arg}'"
                f"{did_you_mean(str(call.arg), models)}{_elsewhere(analysis, domain, str(call.arg))}",
            )
        elif call.func == "source" and call.arg not in domain.sources:
            analysis.report(
                domain.name,
                where,
                f"source('{call.arg}'): domain {domain.name} declares no source '{call.arg}'"
                f"{did_you_mean(str(call.arg), domain.sources)}",
            )
        elif call.func == "port" and call.arg not in consumed_names:
            analysis.report(
                domain.name,
                where,
                f"port('{call.arg}'): domain {domain.name} does not consume '{call.arg}'"
                f"{did_you_mean(str(call.arg), consumed_names)}; add it to consumes",
            )
