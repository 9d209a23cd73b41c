"""Macros and ``var()``: shared SQL snippets, expanded into a model's text before anything
else reads it.

A project may keep Jinja macros in ``macros/*.sql`` (dagmesh ships a few, see
:data:`BUILTIN`), and ``mesh.yaml`` may declare ``vars:``. A model or test calls them as
``{{ cents_to_dollars('amount_cents') }}`` or ``{{ var('start_date') }}`` with literal
arguments. Macros arrive in pull requests like models, so they follow the same rules
(:mod:`dagmesh.templating.template`): no attribute access, filters, loops, assignments,
imports or reads; a macro body may use its parameters, ``{% if %}``, ``var()`` and other
macros (never itself, directly or not), and render in Jinja's sandbox. A macro reads no
table: ``ref``/``source``/``port`` stay in the model, where the mesh sees them.

:func:`expand` replaces each such call in a SQL file by its rendered text, kept on the
call's line (newlines become spaces, ``--`` comments are dropped), so every later check,
located error and build works on the expanded text at the user's lines. A call that
cannot be expanded is left as it is, and the template check reports it there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import jinja2
from jinja2 import nodes

from dagmesh.templating.template import ALLOWED_NODES, FUNCTIONS, MAX_RENDERED_CHARS, SqlProblem, sandbox

#: The folder of a project's macros, relative to its root.
MACRO_DIR = "macros"

#: Macros every project has (a project's own macro of the same name is an error).
BUILTIN = {
    "dagmesh/surrogate_key.sql": """\
{#- A stable key from up to six columns: md5 of their text, nulls as '' and '-' between. -#}
{% macro surrogate_key(c1, c2=none, c3=none, c4=none, c5=none, c6=none) -%}
md5(coalesce(cast({{ c1 }} as varchar), '')
{%- if c2 %} || '-' || coalesce(cast({{ c2 }} as varchar), ''){% endif %}
{%- if c3 %} || '-' || coalesce(cast({{ c3 }} as varchar), ''){% endif %}
{%- if c4 %} || '-' || coalesce(cast({{ c4 }} as varchar), ''){% endif %}
{%- if c5 %} || '-' || coalesce(cast({{ c5 }} as varchar), ''){% endif %}
{%- if c6 %} || '-' || coalesce(cast({{ c6 }} as varchar), ''){% endif %})
{%- endmacro %}
""",
    "dagmesh/date_spine.sql": """\
{#- One row per day from start_date to end_date (at most 100 years), as a subquery:
    from ({{ date_spine('2024-01-01', '2024-12-31') }}) as days -#}
{% macro date_spine(start_date, end_date) -%}
select cast(dateadd(day, row_number() over (order by seq4()) - 1, cast('{{ start_date }}' as date)) as date)
    as date_day
from table(generator(rowcount => 36600))
qualify date_day <= cast('{{ end_date }}' as date)
{%- endmacro %}
""",
}

#: A macro body may hold what model SQL may (a template's root aside), and ``~``.
_BODY_NODES = (*(n for n in ALLOWED_NODES if n is not nodes.Template), nodes.Concat)
_PARSER = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class Library:
    """The macros and vars of one project, checked; ``problems`` by file."""

    macros: dict[str, str] = field(default_factory=dict)  # name -> file it is defined in
    vars: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # every macro file without problems, concatenated
    problems: dict[str, list[SqlProblem]] = field(default_factory=dict)

    @property
    def names(self) -> frozenset[str]:
        """What a model may call besides ref/source/port/is_incremental."""
        return frozenset({*self.macros, "var"})

    @functools.cached_property
    def module(self) -> Any:
        """The macros, compiled once, in the sandbox; their ``var()`` reads :attr:`vars`."""
        return _SANDBOX.from_string(self.source, globals={"var": self.var}).module

    def var(self, name: str) -> str:
        if name not in self.vars:
            raise jinja2.UndefinedError(f"var('{name}') is not declared in mesh.yaml vars:")
        return _sql_text(self.vars[name])


def library(files: dict[str, str], variables: dict[str, Any]) -> Library:
    """The macros of ``files`` (``{display path: text}``, the built-in ones added) and the
    mesh's ``vars``; a file that breaks a rule contributes no macro."""
    every = {**{f"(dagmesh)/{k}": v for k, v in BUILTIN.items()}, **files}
    problems: dict[str, list[SqlProblem]] = {}
    defined_in: dict[str, str] = {}
    bodies: dict[str, nodes.Macro] = {}
    for display, text in every.items():
        found, defined = _check_file(text)
        for name, node in defined.items():
            if name in defined_in or name in FUNCTIONS or name == "var":
                elsewhere = defined_in.get(name, "dagmesh")
                found.append(SqlProblem(f"macro '{name}' is already defined ({elsewhere})", node.lineno))
        if found:
            problems[display] = found
            continue
        for name, node in defined.items():
            defined_in[name], bodies[name] = display, node
    callable_names = {*bodies, "var"}
    for name, body in bodies.items():
        for call in body.find_all(nodes.Call):
            callee = call.node.name if isinstance(call.node, nodes.Name) else ""
            if callee and callee not in callable_names and callee not in FUNCTIONS:
                problems.setdefault(defined_in[name], []).append(
                    SqlProblem(f"unknown macro '{callee}()' in macro '{name}'", call.lineno)
                )
    for name, cycle in _cycles(bodies).items():
        problems.setdefault(defined_in[name], []).append(
            SqlProblem(f"macro '{name}' calls itself ({' -> '.join(cycle)})", bodies[name].lineno)
        )
    macros = {name: display for name, display in defined_in.items() if display not in problems}
    source = "\n".join(text for display, text in every.items() if display not in problems)
    return Library(macros, dict(variables), source, problems)


def _check_file(text: str) -> tuple[list[SqlProblem], dict[str, nodes.Macro]]:
    problems, defined = _checked_file(text)
    return list(problems), dict(defined)


@functools.lru_cache(maxsize=256)
def _checked_file(text: str) -> tuple[tuple[SqlProblem, ...], dict[str, nodes.Macro]]:
    """A macro file's problems and macros (cached by text: the built-in ones are read for
    every project loaded, at every DAG parse)."""
    found, defined = _parse_file(text)
    return tuple(found), defined


def _parse_file(text: str) -> tuple[list[SqlProblem], dict[str, nodes.Macro]]:
    try:
        tree = _PARSER.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return [SqlProblem(f"template syntax error: {exc.message}", exc.lineno or 1)], {}
    problems: list[SqlProblem] = []
    defined: dict[str, nodes.Macro] = {}
    for node in tree.body:
        if isinstance(node, nodes.Macro):
            defined[node.name] = node
            params = {a.name for a in node.args}
            for default in node.defaults:
                if not isinstance(default, nodes.Const):
                    problems.append(
                        SqlProblem("a macro parameter's default must be a literal", default.lineno)
                    )
            for child in node.body:
                problems += _check_body(child, params)
        elif isinstance(node, nodes.Output) and all(
            isinstance(n, nodes.TemplateData) and not n.data.strip() for n in node.nodes
        ):
            continue
        else:
            problems.append(
                SqlProblem("a macro file holds only {% macro %} ... {% endmacro %} blocks", node.lineno)
            )
    return problems, defined


def _check_body(node: nodes.Node, params: set[str]) -> list[SqlProblem]:
    if not isinstance(node, _BODY_NODES):
        return [
            SqlProblem(
                f"'{type(node).__name__}' is not allowed in a macro (the rules of model SQL apply)",
                node.lineno,
            )
        ]
    if (
        isinstance(node, nodes.Name)
        and node.name not in params
        and node.name not in ("true", "false", "none")
    ):
        return [SqlProblem(f"unknown name '{node.name}' in a macro: use its parameters", node.lineno)]
    if isinstance(node, nodes.Call):
        if not isinstance(node.node, nodes.Name):
            return [SqlProblem("a macro may only call other macros and var()", node.lineno)]
        if node.node.name in FUNCTIONS:
            return [
                SqlProblem(
                    f"{node.node.name}() is not allowed in a macro: read tables in the model, where the mesh "
                    "sees what it reads",
                    node.lineno,
                )
            ]
        if node.kwargs or node.dyn_args or node.dyn_kwargs:
            return [SqlProblem("macro calls take no keyword arguments", node.lineno)]
        return [p for a in node.args for p in _check_body(a, params)]
    return [p for child in node.iter_child_nodes() for p in _check_body(child, params)]


def _cycles(bodies: dict[str, nodes.Macro]) -> dict[str, list[str]]:
    calls = {
        name: {c.node.name for c in body.find_all(nodes.Call) if isinstance(c.node, nodes.Name)} & set(bodies)
        for name, body in bodies.items()
    }
    found: dict[str, list[str]] = {}
    for start in bodies:
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            current, path = stack.pop()
            for callee in calls[current]:
                if callee == start:
                    found.setdefault(start, [*path, start])
                elif callee not in seen:
                    seen.add(callee)
                    stack.append((callee, [*path, callee]))
    return found


_SANDBOX = sandbox()


def expand(text: str, lib: Library) -> tuple[str, list[SqlProblem]]:
    """``text`` with every macro and ``var()`` call replaced by what it renders to, and the
    problems of calls that could not be expanded (left as written)."""
    if "{{" not in text or not any(f"{name}(" in text for name in lib.names):
        return text, []  # the usual case, and the cheap one: nothing to expand
    try:
        tokens = list(_PARSER.lex(text))
    except jinja2.TemplateSyntaxError:
        return text, []  # the template check reports it
    if "".join(value for _, _, value in tokens) != text:
        return text, []
    pieces: list[str] = []
    problems: list[SqlProblem] = []
    index = 0
    while index < len(tokens):
        line, kind, value = tokens[index]
        if kind != "variable_begin":
            pieces.append(value)
            index += 1
            continue
        end = next((j for j in range(index, len(tokens)) if tokens[j][1] == "variable_end"), len(tokens) - 1)
        span = "".join(v for _, _, v in tokens[index : end + 1])
        pieces.append(_expand_call(span, line, lib, problems))
        index = end + 1
    return "".join(pieces), problems


def _expand_call(span: str, line: int, lib: Library, problems: list[SqlProblem]) -> str:
    try:
        tree = _PARSER.parse(span)
    except jinja2.TemplateSyntaxError:
        return span
    calls = list(tree.find_all(nodes.Call))
    if len(calls) != 1 or not isinstance(calls[0].node, nodes.Name) or calls[0].node.name not in lib.names:
        return span
    call = calls[0]
    name = call.node.name  # type: ignore[attr-defined]
    if (
        not all(isinstance(a, nodes.Const) for a in call.args)
        or call.kwargs
        or call.dyn_args
        or call.dyn_kwargs
    ):
        problems.append(SqlProblem(f"{name}() takes literal arguments only", line))
        return span
    args = [a.value for a in call.args]  # type: ignore[attr-defined]
    if name == "var":
        if len(args) != 1 or not isinstance(args[0], str):
            problems.append(SqlProblem("var() takes one quoted name, e.g. var('start_date')", line))
            return span
        if args[0] not in lib.vars:
            known = ", ".join(sorted(lib.vars)) or "none"
            message = f"var('{args[0]}') is not declared in mesh.yaml vars: (declared: {known})"
            problems.append(SqlProblem(message, line))
            return span
        return lib.var(args[0])
    try:
        rendered = str(getattr(lib.module, name)(*args))
    except (jinja2.TemplateError, TypeError) as exc:
        problems.append(SqlProblem(f"{name}(): {exc}", line))
        return span
    if len(rendered) > MAX_RENDERED_CHARS:
        problems.append(SqlProblem(f"{name}() renders to more than {MAX_RENDERED_CHARS:,} characters", line))
        return span
    return one_line(rendered)


def one_line(rendered: str) -> str:
    """A macro's output as :func:`expand` puts it in a model: on one line, without ``--`` comments."""
    return " ".join(re.sub(r"--[^\n]*", "", rendered).split())


def _sql_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)
