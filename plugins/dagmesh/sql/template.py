"""The Jinja layer of a domain's SQL: ``ref()``, ``source()``, ``port()``.

:func:`template_calls` finds the calls without rendering anything (Jinja's parser
only, no SQL parser), so it is cheap enough for DAG-parse time, where it gives the
model dependencies. :func:`render` turns a template into warehouse SQL once an engine
has said what each reference is called.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import jinja2
from jinja2 import nodes

#: Functions a domain's SQL may call, and whether each takes one literal argument.
FUNCTIONS: dict[str, bool] = {"ref": True, "source": True, "port": True, "is_incremental": False}
#: Plain variables a template may use.
VARIABLES = ("this",)


@dataclass(frozen=True)
class TemplateCall:
    """One ``{{ func('arg') }}`` in a SQL file; ``line``/``col`` are 1-based."""

    func: str
    arg: str | None
    line: int
    col: int


@dataclass(frozen=True)
class TemplateProblem:
    message: str
    line: int
    col: int = 1


@dataclass(frozen=True)
class TemplateInfo:
    calls: tuple[TemplateCall, ...]
    problems: tuple[TemplateProblem, ...]

    def args(self, func: str) -> list[str]:
        return [c.arg for c in self.calls if c.func == func and c.arg is not None]


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


@functools.lru_cache(maxsize=4096)
def template_calls(text: str) -> TemplateInfo:
    """Every template function call in ``text``, with problems (unknown names, syntax)."""
    try:
        tree = _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateInfo((), (TemplateProblem(f"template syntax error: {exc.message}", exc.lineno),))
    lines = text.splitlines()
    calls: list[TemplateCall] = []
    problems: list[TemplateProblem] = []
    seen_cols: dict[tuple[int, str], int] = {}
    for call in tree.find_all(nodes.Call):
        if not isinstance(call.node, nodes.Name):
            problems.append(TemplateProblem("only ref(), source() and port() may be called", call.lineno))
            continue
        func = call.node.name
        col = _column(lines, call.lineno, func, seen_cols)
        if func not in FUNCTIONS:
            problems.append(
                TemplateProblem(
                    f"unknown function '{func}()'; SQL may call {', '.join(f + '()' for f in FUNCTIONS)}",
                    call.lineno,
                    col,
                )
            )
            continue
        takes_arg = FUNCTIONS[func]
        args = call.args
        if not takes_arg:
            if args or call.kwargs:
                problems.append(TemplateProblem(f"{func}() takes no arguments", call.lineno, col))
            calls.append(TemplateCall(func, None, call.lineno, col))
            continue
        if (
            len(args) != 1
            or call.kwargs
            or not isinstance(args[0], nodes.Const)
            or not isinstance(args[0].value, str)
        ):
            problems.append(
                TemplateProblem(
                    f"{func}() takes exactly one quoted name, e.g. {func}('name')", call.lineno, col
                )
            )
            continue
        calls.append(TemplateCall(func, args[0].value, call.lineno, col))
    # Function names, and bare names passed to them (already reported above), are not variables.
    skip = {id(c.node) for c in tree.find_all(nodes.Call)}
    skip |= {id(a) for c in tree.find_all(nodes.Call) for a in c.args if isinstance(a, nodes.Name)}
    for name in tree.find_all(nodes.Name):
        if id(name) in skip or name.ctx != "load":
            continue
        if name.name not in VARIABLES:
            col = _column(lines, name.lineno, name.name, seen_cols)
            problems.append(TemplateProblem(f"unknown template variable '{name.name}'", name.lineno, col))
    calls.sort(key=lambda c: (c.line, c.col))
    return TemplateInfo(tuple(calls), tuple(problems))


def _column(lines: list[str], line: int, word: str, seen: dict[tuple[int, str], int]) -> int:
    """1-based column of the next ``word`` on ``line`` (Jinja nodes carry only lines)."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    start = seen.get((line, word), 0)
    match = re.compile(rf"\b{re.escape(word)}\b").search(text, start)
    if match is None:
        return 1
    seen[(line, word)] = match.end()
    return match.start() + 1


@dataclass(frozen=True)
class Resolver:
    """What each template function renders to, for one model of one domain."""

    ref: Callable[[str], str]
    source: Callable[[str], str]
    port: Callable[[str], str]
    this: str = ""
    incremental: bool = False


def render(text: str, resolver: Resolver) -> str:
    """The template with every call replaced by the relation it names."""
    template = _ENV.from_string(text)
    return template.render(
        ref=resolver.ref,
        source=resolver.source,
        port=resolver.port,
        is_incremental=lambda: resolver.incremental,
        this=resolver.this,
    )
