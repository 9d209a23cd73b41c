"""What every warehouse engine provides: names, sessions, and the statements of a build.

An engine is built from one environment of ``mesh.yaml``. The base class holds
everything that is the same on every warehouse; :mod:`dagmesh.engines.duckdb` and
:mod:`dagmesh.engines.snowflake` override only what differs. SQL handed to an engine
is Snowflake's dialect (what users write); :meth:`Engine.to_warehouse_sql` translates.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from dagmesh.config.model import EngineName, Environment, Mesh, PortRef
from dagmesh.mesh.access import AccessPlan

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
    """One open connection; statements run in the warehouse's own dialect."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Everything inside commits together or not at all."""

    def run_all(self, statements: Sequence[str]) -> None:
        for statement in statements:
            self.execute(statement)


class Engine(ABC):
    """A warehouse for one environment of one mesh."""

    name: ClassVar[EngineName]
    #: sqlglot dialect statements must be in when they reach the warehouse.
    dialect: ClassVar[str]
    #: Parameter placeholder of the warehouse's Python driver.
    placeholder: ClassVar[str] = "?"

    def __init__(self, project_root: Path, mesh: Mesh, environment: Environment) -> None:
        self.project_root = project_root
        self.mesh = mesh
        self.environment = environment

    # ------------------------------------------------------------------ names

    def ident(self, name: str) -> str:
        """How an unquoted identifier is stored (Snowflake folds to upper case)."""
        return name

    def published_schema(self, domain: str) -> str:
        return self.ident(domain)

    def build_schema(self, domain: str) -> str:
        return self.ident(f"{domain}__build")

    @property
    def registry_schema(self) -> str:
        return self.ident("mesh_meta")

    def schema_ref(self, schema: str) -> str:
        """A schema as DDL names it (Snowflake qualifies it with the database)."""
        return schema

    def qualify(self, schema: str, table: str) -> str:
        return f"{self.schema_ref(schema)}.{self.ident(table)}"

    def port_relation(self, port: PortRef) -> str:
        """The published table of an upstream output port."""
        return self.qualify(self.published_schema(port.domain), port.port)

    @abstractmethod
    def source_relation(self, table: str) -> str:
        """The relation a declared raw source (``DATABASE.SCHEMA.TABLE``) is read from."""

    # ------------------------------------------------------------------ sessions

    @abstractmethod
    def session(self, tag: QueryTag | None = None) -> AbstractContextManager[Session]:
        """Open a connection; statements in it carry ``tag`` where the warehouse supports it."""

    def check_connection(self) -> None:
        """Fail with one clear message when the warehouse cannot be reached."""
        with self.session() as session:
            session.query("SELECT 1")

    @abstractmethod
    def load_raw(
        self,
        generate: RawDataGenerator,
        scale: float,
        loaded_at: datetime,
        progress: Callable[[str, int], None],
    ) -> dict[str, int]:
        """Write synthetic raw data where the mesh's sources are read from."""

    # ------------------------------------------------------------------ dialect

    def to_warehouse_sql(self, sql: str) -> str:
        """Translate Snowflake-dialect SQL to the warehouse's dialect."""
        return sql

    # ------------------------------------------------------------------ statements

    def reset_build_schema_sql(self, domain: str) -> list[str]:
        """Statements leaving the domain's build schema empty and ready."""
        schema = self.schema_ref(self.build_schema(domain))
        return [f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}"]

    def create_table_as_sql(self, relation: str, select_sql: str) -> list[str]:
        return [f"CREATE OR REPLACE TABLE {relation} AS {select_sql}"]

    def copy_table_sql(self, source: str, target: str) -> list[str]:
        """Start ``target`` as a copy of ``source`` (incremental models' previous state)."""
        return [f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {source}"]

    def marker_sql(self, domain: str, build_id: str) -> list[str]:
        relation = self.qualify(self.build_schema(domain), BUILD_MARKER)
        return [
            f"CREATE OR REPLACE TABLE {relation} (build_id VARCHAR)",
            f"INSERT INTO {relation} VALUES ('{_sql_string(build_id)}')",
        ]

    @abstractmethod
    def publish(self, session: Session, domain: str) -> None:
        """Atomically make the build schema's tables the domain's published tables."""

    def grant_sql(self, plan: AccessPlan) -> list[str]:
        """The statements giving each port's reader role exactly its port, and each
        consumer domain's role the readers of the ports it consumes.

        Warehouses without access control (DuckDB) have none.
        """
        return []

    def apply_grants(self, session: Session, plan: AccessPlan) -> None:
        """Run :meth:`grant_sql` (certify does after every publish)."""
        session.run_all(self.grant_sql(plan))

    def published_build_id(self, session: Session, domain: str) -> str | None:
        """The build whose tables are published now, from the marker table."""
        relation = self.qualify(self.published_schema(domain), BUILD_MARKER)
        if not self.table_exists(session, self.published_schema(domain), BUILD_MARKER):
            return None
        rows = session.query(f"SELECT build_id FROM {relation}")
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

    def schema_literal(self, schema: str) -> str:
        """A schema name as information_schema stores it."""
        return schema

    def information_schema(self) -> str:
        return "information_schema"

    def list_tables(self, session: Session, schema: str) -> list[str]:
        rows = session.query(
            f"SELECT table_name FROM {self.information_schema()}.tables "
            f"WHERE table_schema = '{_sql_string(self.schema_literal(schema))}' ORDER BY table_name"
        )
        return [str(r[0]) for r in rows]

    def table_exists(self, session: Session, schema: str, table: str) -> bool:
        return self.ident(table).lower() in {t.lower() for t in self.list_tables(session, schema)}

    def columns_subquery(self, schema: str, table: str) -> str:
        """A scalar subquery (Snowflake dialect) listing ``name:type:scale`` of a table.

        Fused into the standard test query so the contract check costs no extra query.
        """
        return (
            "(SELECT LISTAGG(LOWER(column_name) || ':' || data_type || ':' || "
            "COALESCE(TO_VARCHAR(numeric_scale), ''), ',') WITHIN GROUP (ORDER BY ordinal_position) "
            f"FROM {self.information_schema()}.columns "
            f"WHERE table_schema = '{_sql_string(self.schema_literal(schema))}' "
            f"AND table_name = '{_sql_string(self.ident(table))}')"
        )

    def describe(self) -> str:
        """One line saying where this engine writes, for people."""
        return f"{self.name} environment '{self.environment.name}'"


def _sql_string(value: str) -> str:
    return value.replace("'", "''")


def sql_literal(value: Any) -> str:
    """A Python value as a SQL literal (strings quoted, numbers bare, booleans TRUE/FALSE)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return f"'{_sql_string(str(value))}'"
