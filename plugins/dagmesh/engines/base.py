"""What every warehouse engine provides: names, sessions, and the statements of a build.

An engine is built from one environment of ``mesh.yaml``. The base class holds
everything that is the same on every warehouse; :mod:`dagmesh.engines.duckdb` and
:mod:`dagmesh.engines.snowflake` override only what differs. Statements are sqlglot
trees from :mod:`dagmesh.sql.statements`; a session renders them in the engine's
dialect. Domain SQL is Snowflake's dialect (what users write), parsed once with
:meth:`Engine.query` and rendered for the warehouse like any other statement.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from dagmesh.config.model import EngineName, Environment, Mesh, PortRef
from dagmesh.mesh.access import AccessPlan
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation, Sql

#: A marker table in every build schema naming the build it holds. After a publish
#: the published schema carries it too, which makes publishing idempotent.
BUILD_MARKER = "dagmesh_build"


class RawDataGenerator(Protocol):
    """``generate()`` of a project's ``include/raw_data.py`` (see ``dagmesh seed``)."""

    def __call__(
        self,
        con: Any,
        scale: float,
        relation: Callable[[str], str],
        loaded_at: datetime,
        progress: Callable[[str, int], None],
    ) -> dict[str, int]: ...


class WarehouseError(Exception):
    """A statement failed in the warehouse; the message says which and why."""


class WarehouseBusy(WarehouseError):
    """Another process is writing the warehouse and a reader may not wait longer (the REST
    API answers 503 with ``Retry-After``)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WarehouseConfigError(WarehouseError):
    """The environment cannot reach its warehouse as configured (unknown connection,
    missing role or database). Retrying does not help; the message names what to fix."""


@dataclass(frozen=True)
class QueryTag:
    """Attached to every statement a task runs, so warehouse history is traceable."""

    mesh: str
    domain: str
    stage: str
    dag_run_id: str = ""
    build_id: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


class Session(ABC):
    """One open connection; statements are rendered in the warehouse's dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def execute(self, statement: Sql) -> None:
        self.execute_text(self.render(statement))

    def query(self, statement: Sql) -> list[tuple[Any, ...]]:
        return self.query_text(self.render(statement))

    def run_all(self, statements: Sequence[Sql]) -> None:
        for statement in statements:
            self.execute(statement)

    def render(self, statement: Sql) -> str:
        from sqlglot.errors import UnsupportedError

        try:
            return sql.render(statement, self.dialect)
        except UnsupportedError as exc:
            raise WarehouseError(f"this SQL cannot be written for {self.dialect}: {exc}") from exc

    @abstractmethod
    def execute_text(self, text: str) -> None:
        """Run one rendered statement."""

    @abstractmethod
    def query_text(self, text: str) -> list[tuple[Any, ...]]:
        """Run one rendered query and return its rows."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Everything inside commits together or not at all."""


class Engine(ABC):
    """A warehouse for one environment of one mesh."""

    name: ClassVar[EngineName]
    #: sqlglot dialect statements are rendered in for the warehouse.
    dialect: ClassVar[str]

    def __init__(self, project_root: Path, mesh: Mesh, environment: Environment) -> None:
        self.project_root = project_root
        self.mesh = mesh
        self.environment = environment

    # ------------------------------------------------------------------ names

    def ident(self, name: str) -> str:
        """How the warehouse stores an unquoted name (Snowflake folds to upper case)."""
        return name

    @property
    def catalog(self) -> str | None:
        """The database every name is qualified with (none on DuckDB: one file, one catalog)."""
        return None

    def schema(self, name: str) -> Relation:
        return Relation(self.ident(name), None, self.catalog)

    def published_schema(self, domain: str) -> Relation:
        return self.schema(domain)

    def build_schema(self, domain: str) -> Relation:
        return self.schema(f"{domain}__build")

    @property
    def registry_schema(self) -> Relation:
        return self.schema("mesh_meta")

    def table(self, schema: Relation, name: str) -> Relation:
        return schema.child(self.ident(name))

    def port_relation(self, port: PortRef) -> Relation:
        """The published table of an upstream output port."""
        return self.table(self.published_schema(port.domain), port.port)

    @abstractmethod
    def source_relation(self, table: str) -> Relation:
        """The relation a declared raw source (``DATABASE.SCHEMA.TABLE``) is read from."""

    # ------------------------------------------------------------------ sessions

    @abstractmethod
    def session(self, tag: QueryTag | None = None) -> AbstractContextManager[Session]:
        """Open a connection; statements in it carry ``tag`` where the warehouse supports it."""

    def reader(self) -> AbstractContextManager[Session]:
        """A session that only reads (the REST API's), holding no lock longer than one query
        where the warehouse has locks; by default an ordinary session."""
        return self.session()

    def held(self) -> AbstractContextManager[None]:
        """Keep what sessions share open for the block (several sessions in a row, one build);
        by default nothing is kept."""
        return nullcontext()

    def load_files(self, table: str, files: Sequence[Path], file_format: str) -> int:
        """Replace source ``table`` with the rows of ``files``; returns its row count. Only
        the embedded engine loads files: a real warehouse has its own ingestion."""
        raise WarehouseError(
            f"{self.describe()} reads {table} where it is; file sources are loaded only into a DuckDB "
            "environment"
        )

    def has_warehouse(self) -> bool:
        """Whether the warehouse exists yet (a reader never creates it)."""
        return True

    def check_connection(self) -> None:
        """Fail with one clear message when the warehouse cannot be reached."""
        with self.session() as session:
            session.query(sql.one())

    @abstractmethod
    def load_raw(
        self,
        generate: RawDataGenerator,
        scale: float,
        loaded_at: datetime,
        progress: Callable[[str, int], None],
    ) -> dict[str, int]:
        """Write synthetic raw data where the mesh's sources are read from."""

    # ------------------------------------------------------------------ statements

    def reset_build_schema(self, domain: str) -> list[Sql]:
        """Statements leaving the domain's build schema empty and ready."""
        schema = self.build_schema(domain)
        return [sql.drop_schema(schema), sql.create_schema(schema, if_not_exists=False)]

    def create_table_as(self, target: Relation, query: Any) -> list[Sql]:
        return [sql.create_table_as(target, query)]

    def copy_table(self, source: Relation, target: Relation) -> list[Sql]:
        """Start ``target`` as a copy of ``source`` (incremental models' previous state)."""
        return [sql.create_table_as(target, sql.select_all(source))]

    def marker(self, domain: str, build_id: str) -> list[Sql]:
        relation = self.table(self.build_schema(domain), BUILD_MARKER)
        return [
            sql.create_table(relation, [("build_id", "VARCHAR")], if_not_exists=False),
            sql.insert_rows(relation, ["build_id"], [(build_id,)]),
        ]

    @abstractmethod
    def publish(self, session: Session, domain: str, ports: Collection[str], state: Collection[str]) -> None:
        """Atomically make the build schema's tables the domain's published tables: the
        ``ports`` (and the build marker) where consumers read, the ``state`` models (the
        incremental ones that are not ports: the next build starts from them) in the domain's
        state schema (:meth:`state_schema`), out of consumers' sight. Other models are not
        copied: they stay in the build schema until the next build replaces them."""

    def state_schema(self, domain: str) -> Relation:
        """Where a domain's certified incremental models that are not ports are kept (each
        starts its next build from there)."""
        return self.schema(f"{domain}__state")

    def certified_table(self, domain: str, model: str, is_port: bool) -> Relation:
        """Where the last certified version of a model is."""
        schema = self.published_schema(domain) if is_port else self.state_schema(domain)
        return self.table(schema, model)

    def _public(self, ports: Collection[str]) -> set[str]:
        """The published tables' names as the catalog lists them (lower case to compare)."""
        return self._listed([*ports, BUILD_MARKER])

    def _listed(self, models: Collection[str]) -> set[str]:
        """Models' table names as the catalog lists them (lower case to compare)."""
        return {self.ident(name).lower() for name in models}

    def _drop_all_but(self, session: Session, schema: Relation, keep: Collection[str]) -> None:
        """Drop every table of ``schema`` whose catalog name (lower case) is not in ``keep``."""
        for table in self.list_tables(session, schema):
            if table.lower() not in keep:
                session.execute(sql.drop_table(schema.child(table)))

    def grants(self, plan: AccessPlan) -> list[Sql]:
        """The statements giving each port's reader role exactly its port, and each
        consumer domain's role the readers of the ports it consumes.

        Warehouses without access control (DuckDB) have none.
        """
        return []

    def grant_sql(self, plan: AccessPlan) -> list[str]:
        """:meth:`grants` as the warehouse runs them (for people to review)."""
        return [sql.render(s, self.dialect) for s in self.grants(plan)]

    def apply_grants(self, session: Session, plan: AccessPlan) -> None:
        """Run :meth:`grants` (certify does after every publish)."""
        session.run_all(self.grants(plan))

    def published_build_id(self, session: Session, domain: str) -> str | None:
        """The build whose tables are published now, from the marker table."""
        schema = self.published_schema(domain)
        if not self.table_exists(session, schema, BUILD_MARKER):
            return None
        rows = session.query(sql.select(self.table(schema, BUILD_MARKER), ["build_id"]))
        return str(rows[0][0]) if rows else None

    # ------------------------------------------------------------------ environments

    @abstractmethod
    def branch_plan(self, target: Environment) -> list[str]:
        """What :meth:`create_branch` does, for people to review (SQL where there is SQL)."""

    @abstractmethod
    def create_branch(self, target: Environment) -> None:
        """Make ``target`` an isolated copy of this environment's warehouse."""

    @abstractmethod
    def drop_plan(self) -> list[str]:
        """What :meth:`drop` does, for people to review."""

    @abstractmethod
    def drop(self) -> None:
        """Delete this environment's warehouse (a branch made by :meth:`create_branch`)."""

    # ------------------------------------------------------------------ catalog

    def list_tables(self, session: Session, schema: Relation) -> list[str]:
        return [str(r[0]) for r in session.query(sql.table_names(self.catalog, schema.schema))]

    def table_exists(self, session: Session, schema: Relation, table: str) -> bool:
        return self.ident(table).lower() in {t.lower() for t in self.list_tables(session, schema)}

    def columns_listing(self, relation: Relation) -> Any:
        """A scalar subquery listing ``name:type:scale`` of a table (see :func:`sql.columns_listing`)."""
        assert relation.name is not None
        return sql.columns_listing(self.catalog, relation.schema, relation.name)

    def describe(self) -> str:
        """One line saying where this engine writes, for people."""
        return f"{self.name} environment '{self.environment.name}'"
