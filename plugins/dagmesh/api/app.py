"""The domain query by URL: dagmesh's REST API and the Mesh page, on Airflow's api-server.

The dagmesh Airflow plugin mounts :func:`create_app` under ``/dagmesh``:

* ``/dagmesh/api/v1/...`` answers from :class:`~dagmesh.query.service.MeshQuery` (its
  OpenAPI schema is ``/dagmesh/openapi.json``, browsable at ``/dagmesh/docs``);
* ``/dagmesh/ui/`` is the Mesh page Airflow shows in its navigation (it reads only the
  API, with the caller's own Airflow login).

Callers authenticate exactly as with Airflow's API (a bearer token from ``/auth/token``,
or the UI's session cookie) and see a domain only when Airflow lets them read its DAG.
While a DuckDB warehouse is being written, reads that cannot get in within two seconds
answer ``503`` with ``Retry-After``.
"""

# Not ``from __future__ import annotations``: FastAPI reads the routes' annotations, some of
# them local to create_app, at run time.
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from dagmesh.engines.base import WarehouseBusy
from dagmesh.query import facts
from dagmesh.query.service import MeshQuery

PREFIX = "/dagmesh"
API = "/api/v1"
UI_DIR = Path(__file__).resolve().parent / "ui"
#: How long a loaded project is reused before its files are read again.
PROJECT_TTL_SECONDS = 10.0

Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]
Offset = Annotated[int, Query(ge=0, description="items to skip")]


class ProjectUnavailable(Exception):
    pass


class Projects:
    """The mesh the api-server serves, loaded at most every few seconds (the configs are
    read through the parse cache, so re-reading an unchanged mesh is cheap)."""

    def __init__(self, root: Callable[[], Path]) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._loaded: tuple[float, Any] | None = None

    def get(self) -> Any:
        with self._lock:
            if self._loaded is None or time.monotonic() - self._loaded[0] > PROJECT_TTL_SECONDS:
                self._loaded = (time.monotonic(), self._load())
            return self._loaded[1]

    def _load(self) -> Any:
        from dagmesh.config.environments import active_environment_name
        from dagmesh.config.project import load_project
        from dagmesh.engines import engine_for
        from dagmesh.mesh.analysis import analyze

        project = load_project(self._root())
        if project.mesh is None:
            problems = "; ".join(str(p) for p in project.diagnostics.errors[:5])
            raise ProjectUnavailable(f"the mesh cannot be read until mesh.yaml is fixed: {problems}")
        analysis = analyze(project)
        environment = project.mesh.environments[active_environment_name(project.mesh)]
        return project, analysis, engine_for(project.root, project.mesh, environment)


def airflow_project_root() -> Path:
    """The project of Airflow's DAG folder (``$DAGMESH_PROJECT_DIR`` when set)."""
    from airflow.configuration import conf

    from dagmesh.config.files import project_root_for

    return project_root_for(Path(conf.get("core", "dags_folder")))


def airflow_readable_dags() -> Callable[..., set[str]]:
    """A dependency: the DAG ids the caller may read, as Airflow's auth manager decides;
    an unauthenticated caller gets 401 from Airflow's own check."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import GetUserDep

    def readable(user: GetUserDep) -> set[str]:
        return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))

    return readable


def create_app(
    root: Callable[[], Path] = airflow_project_root,
    readable_dags: Callable[..., set[str]] | None = None,
) -> FastAPI:
    """The dagmesh app; ``root`` finds the project and ``readable_dags`` (a FastAPI
    dependency) says which domains a caller may see."""
    projects = Projects(root)
    access = readable_dags or airflow_readable_dags()

    def query(visible: Annotated[set[str], Depends(access)]) -> MeshQuery:
        try:
            project, analysis, engine = projects.get()
        except ProjectUnavailable as exc:
            raise HTTPException(503, str(exc)) from exc
        return MeshQuery(project, analysis, engine, visible=visible)

    Q = Annotated[MeshQuery, Depends(query)]
    app = FastAPI(
        title="dagmesh",
        version="1",
        description="The domain query: what each domain of the mesh built, tested, certified and "
        "published, and from which upstream builds. Authenticate as with Airflow's API.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )

    @app.exception_handler(WarehouseBusy)
    def busy(request: Request, exc: WarehouseBusy) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{exc}; retry in {exc.retry_after} s"},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after)},
        )

    api = APIRouter(prefix=API)

    @api.get("/domains", summary="Every domain you may read, with its state and published version")
    def domains(
        q: Q,
        layer: str | None = None,
        state: facts.State | None = None,
        owner: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> facts.Page[facts.DomainSummary]:
        found = [
            d
            for d in q.domains()
            if (layer is None or d.layer == layer)
            and (state is None or d.state == state)
            and (owner is None or d.owner == owner)
        ]
        return facts.Page(items=found[offset : offset + limit], total=len(found), limit=limit, offset=offset)

    @api.get("/domains/{name}", summary="One domain: config, ports with contracts, inputs, consumers")
    def domain(q: Q, name: str) -> facts.DomainDetail:
        return _found(q.domain(name), f"domain '{name}'")

    @api.get("/domains/{name}/builds", summary="A domain's builds, newest first")
    def builds(
        q: Q, name: str, state: str | None = None, limit: Limit = 20, offset: Offset = 0
    ) -> facts.Page[facts.BuildSummary]:
        return _found(q.builds(name, state, limit, offset), f"domain '{name}'")

    @api.get("/builds/{build_id}", summary="One build: models, every check, the upstream builds it read")
    def build(q: Q, build_id: str) -> facts.BuildDetail:
        return _found(q.build(build_id), f"build '{build_id}'")

    @api.get(
        "/domains/{name}/certifications",
        summary="A domain's certifications, newest first, with the upstream builds each used",
    )
    def certifications(
        q: Q, name: str, limit: Limit = 20, offset: Offset = 0
    ) -> facts.Page[facts.Certification]:
        return _found(q.certifications(name, limit, offset), f"domain '{name}'")

    @api.get("/lineage", summary="The domain graph, published versions, consumers in sync or not")
    def lineage(q: Q) -> facts.Lineage:
        return q.lineage()

    @api.get("/health", summary="Per domain: overdue for its schedule, out of sync, failing or running")
    def health(q: Q, state: facts.State | None = None) -> list[facts.Health]:
        return [h for h in q.health() if state is None or h.state == state]

    @api.get("/domains/{name}/contracts", summary="The ODCS v3 data contract of each output port")
    def contracts(q: Q, name: str) -> list[dict[str, Any]]:
        return _found(q.contracts(name), f"domain '{name}'")

    @api.get(
        "/domains/{name}/contracts/{port}",
        summary="One port's ODCS v3 data contract (JSON, or YAML with format=yaml)",
        response_model=None,
    )
    def contract(q: Q, name: str, port: str, format: str = "json") -> Any:
        found = [c for c in _found(q.contracts(name), f"domain '{name}'") if c["name"] == f"{name}.{port}"]
        document = _found(found[0] if found else None, f"port '{name}.{port}'")
        if format == "yaml":
            import yaml

            return PlainTextResponse(yaml.safe_dump(document, sort_keys=False), media_type="application/yaml")
        return document

    app.include_router(api)

    @app.get("/ui", include_in_schema=False)
    def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/ui/")

    @app.get("/ui/", include_in_schema=False)
    def ui() -> FileResponse:
        return FileResponse(UI_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/ui/static", StaticFiles(directory=UI_DIR), name="ui-static")
    return app


def _found(value: Any, what: str) -> Any:
    if value is None:
        raise HTTPException(404, f"{what} not found")
    return value
