"""The Jinja layer of a domain's SQL: the one place templates are checked and rendered.

Domain SQL arrives in pull requests, and ``dagmesh validate`` runs on them in CI, so a
template must not be able to run code, read files or the environment, or pull in other
templates. A template may only call ``ref()``, ``source()``, ``port()`` (each with one
quoted name) and ``is_incremental()``, read ``this``, and branch with ``{% if %}``.

:func:`template_calls` checks that against Jinja's parse tree, without running
anything, and returns every call (cheap enough for DAG-parse time) and every located
problem. :func:`render` renders only a template without problems, in Jinja's immutable
sandbox (no attribute access at all) and within size limits. With no loops, macros or
includes a template renders in time linear in its size, so the size limits bound the
rendering time as well. Validation, DAG parsing, builds and ``dagmesh lint`` all go
through this module.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: Functions a domain's SQL may call, and whether each takes one literal argument.
FUNCTIONS: dict[str, bool] = {"ref": True, "source": True, "port": True, "is_incremental": False}
#: Plain variables a template may use.
VARIABLES = ("this",)
#: A SQL file larger than this is refused before Jinja parses it.
MAX_TEMPLATE_CHARS = 1_000_000
#: Rendering stops (with a problem) once the output is larger than this.
MAX_RENDERED_CHARS = 10_000_000

#: The parse-tree nodes a template may contain; anything else is a located problem.
ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Call,
    nodes.If,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
)
_NOT_ALLOWED = {
    nodes.Getattr: "attribute access ({{ x.y }}) is not allowed in dagmesh SQL",
    nodes.Getitem: "item access ({{ x['y'] }}) is not allowed in dagmesh SQL",
    nodes.Include: "{% include %} is not allowed: a SQL file is self-contained",
    nodes.Import: "{% import %} is not allowed: a SQL file is self-contained",
    nodes.FromImport: "{% from ... import %} is not allowed: a SQL file is self-contained",
    nodes.Extends: "{% extends %} is not allowed: a SQL file is self-contained",
    nodes.Filter: "filters ({{ x | f }}) are not allowed in dagmesh SQL",
    nodes.Test: "tests ({{ x is y }}) are not allowed in dagmesh SQL",
    nodes.For: "{% for %} is not allowed in dagmesh SQL",
    nodes.Macro: "{% macro %} is not allowed in a model or test's SQL",
    nodes.Assign: "{% set %} is not allowed in dagmesh SQL",
    nodes.AssignBlock: "{% set %} is not allowed in dagmesh SQL",
}
_HINT = (
    "; a template may only call ref('model'), source('name'), port('domain.port') and "
    "is_incremental(), read this, and use {% if %}"
)


@dataclass(frozen=True)
class TemplateCall:
    """One ``{{ func('arg') }}`` in a SQL file; ``line``/``col`` are 1-based."""

    func: str
    arg: str | None
    line: int
    col: int


@dataclass(frozen=True)
class SqlProblem:
    """A problem at a place in a SQL file (template rules, syntax, reads, portability)."""

    message: str
    line: int
    col: int = 1

    def to_data(self) -> list[Any]:
        return [self.message, self.line, self.col]

    @classmethod
    def from_data(cls, data: list[Any]) -> SqlProblem:
        message, line, col = data
        return cls(str(message), int(line), int(col))


@dataclass(frozen=True)
class TemplateInfo:
    calls: tuple[TemplateCall, ...]
    problems: tuple[SqlProblem, ...]

    def args(self, func: str) -> list[str]:
        return [c.arg for c in self.calls if c.func == func and c.arg is not None]

    def to_data(self) -> dict[str, Any]:
        """As JSON-compatible data (for the parse cache)."""
        return {
            "calls": [[c.func, c.arg, c.line, c.col] for c in self.calls],
            "problems": [p.to_data() for p in self.problems],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TemplateInfo:
        return cls(
            tuple(
                TemplateCall(str(f), a if a is None else str(a), int(line), int(col))
                for f, a, line, col in data["calls"]
            ),
            tuple(SqlProblem.from_data(p) for p in data["problems"]),
        )


class TemplateViolation(Exception):
    """A template that breaks the rules was about to be rendered; ``problems`` say where."""

    def __init__(self, problems: tuple[SqlProblem, ...]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(f"{first.line}:{first.col}: {first.message}")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, without any attribute access (templates need none)."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False


def sandbox(**options: Any) -> jinja2.Environment:
    """The environment templates render in (``dagmesh lint`` adds sqlfluff's options)."""
    return _Sandbox(**{"undefined": jinja2.StrictUndefined, "autoescape": False, **options})


_PARSER = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
_SANDBOX = sandbox()


@functools.lru_cache(maxsize=4096)
def template_calls(text: str) -> TemplateInfo:
    """Every template function call in ``text``, and every problem, without rendering."""
    if len(text) > MAX_TEMPLATE_CHARS:
        return TemplateInfo(
            (), (SqlProblem(f"the SQL file is larger than {MAX_TEMPLATE_CHARS:,} characters", 1),)
        )
    try:
        tree = _PARSER.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateInfo((), (SqlProblem(f"template syntax error: {exc.message}", exc.lineno or 1),))
    lines = text.splitlines()
    found = _Walk(lines)
    found.visit(tree)
    found.calls.sort(key=lambda c: (c.line, c.col))
    return TemplateInfo(tuple(found.calls), tuple(found.problems))


class _Walk:
    """Collects calls and problems from a parse tree, not descending into what it refuses."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.calls: list[TemplateCall] = []
        self.problems: list[SqlProblem] = []
        self._seen_cols: dict[tuple[int, str], int] = {}

    def problem(self, node: nodes.Node, message: str, word: str = "") -> None:
        col = self.column(node.lineno, word) if word else 1
        self.problems.append(SqlProblem(message, node.lineno, col))

    def column(self, line: int, word: str) -> int:
        """1-based column of the next ``word`` on ``line`` (Jinja nodes carry only lines)."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        start = self._seen_cols.get((line, word), 0)
        match = re.compile(rf"\b{re.escape(word)}\b").search(text, start)
        if match is None:
            return 1
        self._seen_cols[(line, word)] = match.end()
        return match.start() + 1

    def visit(self, node: nodes.Node) -> None:
        if not isinstance(node, ALLOWED_NODES):
            message = _NOT_ALLOWED.get(type(node), f"'{type(node).__name__}' is not allowed in dagmesh SQL")
            self.problem(node, message + _HINT, _word(node))
            return
        if isinstance(node, nodes.Call):
            self.call(node)
            return
        if isinstance(node, nodes.Name) and node.name not in VARIABLES:
            self.problem(node, f"unknown template variable '{node.name}'{_HINT}", node.name)
            return
        for child in node.iter_child_nodes():
            self.visit(child)

    def call(self, call: nodes.Call) -> None:
        if not isinstance(call.node, nodes.Name):
            self.visit(call.node)  # reports what is called (an attribute, an item, ...)
            return
        func = call.node.name
        col = self.column(call.lineno, func)
        if func not in FUNCTIONS:
            self.problems.append(SqlProblem(f"unknown function '{func}()'{_HINT}", call.lineno, col))
            return
        args = call.args
        if call.kwargs or call.dyn_args or call.dyn_kwargs:
            self.problems.append(SqlProblem(f"{func}() takes no keyword arguments", call.lineno, col))
            return
        if not FUNCTIONS[func]:
            if args:
                self.problems.append(SqlProblem(f"{func}() takes no arguments", call.lineno, col))
                return
            self.calls.append(TemplateCall(func, None, call.lineno, col))
            return
        literal = [a.value for a in args if isinstance(a, nodes.Const) and isinstance(a.value, str)]
        if func == "source" and len(args) == 2 and len(literal) == 2:
            schema, table = literal
            example = f"sources: {{{table}: {{table: DATABASE.{schema.upper()}.{table.upper()}}}}}"
            self.problems.append(
                SqlProblem(
                    f"source('{schema}', '{table}') is dbt's form; in dagmesh a domain declares its raw "
                    f"tables under sources: with a name and reads one as source('name') (e.g. {example} "
                    f"and source('{table}'))",
                    call.lineno,
                    col,
                )
            )
            return
        if len(args) != 1 or len(literal) != 1:
            self.problems.append(
                SqlProblem(f"{func}() takes exactly one quoted name, e.g. {func}('name')", call.lineno, col)
            )
            return
        self.calls.append(TemplateCall(func, literal[0], call.lineno, col))


def _word(node: nodes.Node) -> str:
    """The word of the source line a refused node starts at, for its column."""
    node = _first_access(node)
    named = getattr(node, "attr", None) or getattr(node, "name", None)
    if isinstance(named, str):
        return named
    keywords: dict[type[nodes.Node], str] = {
        nodes.Include: "include",
        nodes.Import: "import",
        nodes.FromImport: "from",
        nodes.Extends: "extends",
        nodes.For: "for",
        nodes.Assign: "set",
        nodes.AssignBlock: "set",
    }
    return keywords.get(type(node), "")


def _first_access(node: nodes.Node) -> nodes.Node:
    """In ``x.a['b'].c()``, the first access read left to right (``.a``): what a chain is refused at."""
    first = node
    current: nodes.Node | None = node
    while current is not None:
        if isinstance(current, (nodes.Getattr, nodes.Getitem)):
            first = current
        current = getattr(current, "node", None)
    return first


@dataclass(frozen=True)
class Resolver:
    """What each template function renders to, for one model of one domain."""

    ref: Callable[[str], str]
    source: Callable[[str], str]
    port: Callable[[str], str]
    this: str = ""
    incremental: bool = False


def render(text: str, resolver: Resolver) -> str:
    """The template with every call replaced by the relation it names.

    Raises :class:`TemplateViolation` (with every located problem) for a template that
    breaks the rules, before anything of it runs.
    """
    problems = template_calls(text).problems
    if problems:
        raise TemplateViolation(problems)
    template = _SANDBOX.from_string(text)
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(
        ref=resolver.ref,
        source=resolver.source,
        port=resolver.port,
        is_incremental=lambda: resolver.incremental,
        this=resolver.this,
    ):
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise TemplateViolation(
                (SqlProblem(f"the SQL renders to more than {MAX_RENDERED_CHARS:,} characters", 1),)
            )
        chunks.append(chunk)
    return "".join(chunks)
