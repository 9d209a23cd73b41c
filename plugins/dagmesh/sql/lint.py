"""SQL linting with sqlfluff, with a templater that knows dagmesh's functions.

Registered as the sqlfluff plugin ``dagmesh`` (entry point group ``sqlfluff``), so a
``.sqlfluff`` with ``templater = dagmesh`` works for ``dagmesh lint`` and for plain
``sqlfluff lint`` alike. ``ref('m')`` renders as ``m``, ``source('s')`` as ``s`` and
``port('d.p')`` as ``d.p``: real-looking table names the SQL parser accepts. The
incremental branch (``is_incremental()``) is rendered too, so it is linted.

Templates follow the same rules as everywhere else (:mod:`dagmesh.templating.template`): a file
that breaks them is one located templating error, and rendering happens in the same
sandbox. sqlfluff's own ways to run code from its config (``library_path``, macro paths,
dbt builtins) are not offered.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment
from sqlfluff.core.errors import SQLTemplaterError
from sqlfluff.core.plugin import hookimpl
from sqlfluff.core.templaters.base import RawTemplater, TemplatedFile
from sqlfluff.core.templaters.jinja import JinjaTemplater

from dagmesh.templating.macros import Library, expand, library, one_line
from dagmesh.templating.template import sandbox, template_calls


class DagmeshTemplater(JinjaTemplater):
    """Jinja plus ``ref()``, ``source()``, ``port()``, ``is_incremental()`` and ``this``."""

    name = "dagmesh"

    def get_context(self, fname: str | None, config: Any) -> dict[str, Any]:
        lib = _library(fname)
        return {
            **{name: _flat(getattr(lib.module, name)) for name in lib.macros},
            "var": lib.var,
            "ref": lambda name: name,
            "source": lambda name: name,
            "port": lambda name: name,
            "is_incremental": lambda: True,
            "this": "this",
        }

    def _get_jinja_env(self, config: Any = None) -> Environment:
        return sandbox(keep_trailing_newline=True)

    def _get_env_context(self, fname: str | None, config: Any, env: Environment) -> dict[str, Any]:
        return self.get_context(fname, config)  # no libraries, macros or dbt builtins

    def process(
        self, *, in_str: str, fname: str, config: Any = None, formatter: Any = None
    ) -> tuple[TemplatedFile, list[SQLTemplaterError]]:
        expanded, unexpanded = expand(in_str, _library(fname))
        problems = unexpanded or list(template_calls(expanded).problems)
        if problems:
            first = problems[0]
            raise SQLTemplaterError(first.message, line_no=first.line, line_pos=first.col)
        return super().process(in_str=in_str, fname=fname, config=config, formatter=formatter)


def _flat(macro: Any) -> Any:
    """A macro that renders as it does in a build (one line, no ``--`` comments)."""
    return lambda *args: one_line(str(macro(*args)))


@functools.lru_cache(maxsize=8)
def _project_library(root: Path) -> Library:
    from dagmesh.config.files import MESH_PATH
    from dagmesh.config.project import load_project

    if not (root / MESH_PATH).is_file():
        return library({}, {})
    return load_project(root).library


def _library(fname: str | None) -> Library:
    """The macros and vars of the project ``fname`` belongs to (the built-in macros alone
    outside a project)."""
    from dagmesh.config.files import project_root_for

    if not fname:
        return library({}, {})
    return _project_library(project_root_for(Path(fname).parent))


@hookimpl
def get_templaters() -> list[type[RawTemplater]]:
    return [DagmeshTemplater]
