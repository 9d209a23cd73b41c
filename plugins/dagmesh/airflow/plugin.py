"""The dagmesh Airflow plugin, registered through the ``airflow.plugins`` entry point.

It adds the REST API and the Mesh page (:mod:`dagmesh.api.app`) to the api-server under
``/dagmesh``, and the page to Airflow's navigation. Every Airflow process imports
plugins, the DAG processor included, so the app is built on its first request: importing
the plugin costs nothing at DAG-parse time. On a SQLite metadata database (``dagmesh
airflow``, the compose file) it also makes changing requests take turns
(:mod:`dagmesh.airflow.sqlite_writes`), which keeps Airflow's own API from stalling. In a
scheduler that forks its tasks (LocalExecutor), it imports the tasks' code before the
executor starts (:mod:`dagmesh.airflow.preload`), so no task imports it again.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from dagmesh.airflow import preload
from dagmesh.airflow.sqlite_writes import OneWriterAtATime, sqlite_metadata_db

PREFIX = "/dagmesh"


class _AppOnFirstRequest:
    """An ASGI app that builds dagmesh's FastAPI app when the api-server first calls it."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from dagmesh.api.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class DagmeshPlugin(AirflowPlugin):
    name = "dagmesh"
    fastapi_apps = [{"app": _AppOnFirstRequest(), "url_prefix": PREFIX, "name": "dagmesh"}]
    fastapi_root_middlewares = (
        [{"middleware": OneWriterAtATime, "name": "dagmesh: one SQLite writer at a time"}]
        if sqlite_metadata_db()
        else []
    )
    listeners = [preload]
    external_views = [
        {
            "name": "Mesh",
            "href": f"{PREFIX}/ui/",
            "url_route": "mesh",
            "destination": "nav",
            "icon": f"{PREFIX}/ui/static/icon.svg",
        }
    ]
