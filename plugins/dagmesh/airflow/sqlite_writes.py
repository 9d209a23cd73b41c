"""One changing request at a time in an api-server whose metadata database is SQLite.

Airflow's audit log is an ``async`` dependency of every REST call that changes something
(a trigger, a pause, a clear): it commits its record through a synchronous session, on
the api-server's event loop. Meanwhile another changing request (a second trigger, or a
task's ``PATCH .../run`` on the execution API) may hold SQLite's one write lock: its
endpoint wrote on a worker thread, and it commits when its session dependency closes,
which the event loop has to schedule. The loop waits for the lock, the lock's holder
waits for the loop: both stall for SQLite's busy timeout (5 s), then the audit record
fails and its request answers 500 "Database error". A dozen triggers at once (a user
starting several domains, or ``dagmesh airflow`` right after it starts) lose most of
them that way.

This ASGI middleware lets one changing request (any method but ``GET``, ``HEAD`` and
``OPTIONS``) through at a time; the others wait on the event loop without blocking it.
SQLite serializes writers anyway, so this costs nothing a writer would not wait for.
Reading requests pass untouched. The plugin installs it only when the metadata
database is SQLite (see :func:`sqlite_metadata_db`); Postgres and MySQL do not need it.
"""

from __future__ import annotations

import asyncio
from typing import Any

#: Methods that change nothing: they never wait for a changing request.
READING = frozenset({"GET", "HEAD", "OPTIONS"})


class OneWriterAtATime:
    """Pure ASGI middleware: changing HTTP requests take turns, reading ones do not wait."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._turn = asyncio.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in READING:
            await self.app(scope, receive, send)
            return
        async with self._turn:
            await self.app(scope, receive, send)


def sqlite_metadata_db() -> bool:
    """Whether this Airflow keeps its metadata in SQLite (as ``dagmesh airflow`` does)."""
    from airflow.configuration import conf

    return conf.get("database", "sql_alchemy_conn", fallback="").startswith("sqlite")
