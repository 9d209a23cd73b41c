"""SQL linting with sqlfluff, with a templater that knows dagmesh's functions.

Registered as the sqlfluff plugin ``dagmesh`` (entry point group ``sqlfluff``), so a
``.sqlfluff`` with ``templater = dagmesh`` works for ``dagmesh lint`` and for plain
``sqlfluff lint`` alike. ``ref('m')`` renders as ``m``, ``source('s')`` as ``s`` and
``port('d.p')`` as ``d.p``: real-looking table names the SQL parser accepts. The
incremental branch (``is_incremental()``) is rendered too, so it is linted.
"""

from __future__ import annotations

from typing import Any

from sqlfluff.core.plugin import hookimpl
from sqlfluff.core.templaters.base import RawTemplater
from sqlfluff.core.templaters.jinja import JinjaTemplater


class DagmeshTemplater(JinjaTemplater):
    """Jinja plus ``ref()``, ``source()``, ``port()``, ``is_incremental()`` and ``this``."""

    name = "dagmesh"

    def get_context(self, fname: str | None, config: Any) -> dict[str, Any]:
        context = super().get_context(fname, config)
        context.update(
            ref=lambda name: name,
            source=lambda name: name,
            port=lambda name: name,
            is_incremental=lambda: True,
            this="this",
        )
        return context


@hookimpl
def get_templaters() -> list[type[RawTemplater]]:
    return [DagmeshTemplater]
