"""The embedded engine: one DuckDB file holds raw data, every domain and the registry.

Differences from the base engine:

* SQL is transpiled from Snowflake's dialect with sqlglot.
* A raw source ``RAW.AMA.PHYSICIANS`` lives in schema ``raw_ama`` of the same file
  (one file is one catalog in DuckDB).
* Publishing copies the build schema's tables into the published schema inside one
  transaction, so readers see the old version or the new one, never a mix.
* DuckDB lets one process at a time open the file for writing; opening retries while
  another process holds the lock (Airflow tasks run in separate processes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagmesh import progress
from dagmesh.config.model import Environment, default_duckdb_path
from dagmesh.engines.base import Engine, QueryTag, RawDataGenerator, Session, WarehouseError

#: How long opening the warehouse waits for another process to release the file.
LOCK_WAIT_SECONDS = 120.0


class DuckDBSession(Session):
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._run(sql, params).fetchall())

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        import duckdb

        if not rows:
            return
        try:
            self.connection.executemany(sql, [list(r) for r in rows])
        except duckdb.Error as exc:
            raise WarehouseError(_explain(exc, sql)) from exc

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        import duckdb

        try:
            return self.connection.execute(sql, list(params) if params else None)
        except duckdb.Error as exc:
            raise WarehouseError(_explain(exc, sql)) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.begin()
        try:
            yield
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()


class DuckDBEngine(Engine):
    name = "duckdb"
    dialect = "duckdb"

    @property
    def path(self) -> Path:
        return self._path_of(self.environment)

    def source_relation(self, table: str) -> str:
        return raw_relation(table)

    def to_warehouse_sql(self, sql: str) -> str:
        import sqlglot
        from sqlglot.errors import ParseError

        try:
            statements = sqlglot.transpile(sql, read="snowflake", write="duckdb")
        except ParseError as exc:
            raise WarehouseError(f"SQL is not valid Snowflake SQL: {exc}") from exc
        return ";\n".join(statements)

    @contextmanager
    def session(self, tag: QueryTag | None = None) -> Iterator[Session]:
        connection = self._connect()
        try:
            yield DuckDBSession(connection)
        finally:
            connection.close()

    def _connect(self) -> Any:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        delay, waited = 0.05, 0.0
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"cannot open DuckDB warehouse {self.path}: {exc}") from exc
                if waited < 1.0 <= waited + delay:  # said once: waits under a second are normal
                    until = datetime.now(UTC) + timedelta(seconds=deadline - time.monotonic())
                    progress.waiting(f"the DuckDB warehouse {self.path}: another process has it open", until)
                time.sleep(delay)
                waited += delay
                delay = min(delay * 2, 1.0)

    def load_raw(
        self,
        generate: RawDataGenerator,
        scale: float,
        loaded_at: datetime,
        progress: Callable[[str, int], None],
    ) -> dict[str, int]:
        # The generator is DuckDB SQL: it writes straight into the warehouse file.
        with self.session() as session:
            assert isinstance(session, DuckDBSession)
            return generate(session.connection, scale, self.source_relation, loaded_at, progress)

    def publish(self, session: Session, domain: str) -> None:
        build, published = self.build_schema(domain), self.published_schema(domain)
        tables = self.list_tables(session, build)
        session.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema_ref(published)}")
        for table in tables:
            session.execute(f"CREATE OR REPLACE TABLE {published}.{table} AS SELECT * FROM {build}.{table}")
        for stale in set(self.list_tables(session, published)) - set(tables):
            session.execute(f"DROP TABLE {published}.{stale}")

    def _path_of(self, env: Environment) -> Path:
        path = Path(env.path or default_duckdb_path(env.name))
        return path if path.is_absolute() else self.project_root / path

    def branch_plan(self, target: Environment) -> list[str]:
        return [f"copy every schema of {self.path} into {self._path_of(target)} (DuckDB COPY FROM DATABASE)"]

    def create_branch(self, target: Environment) -> None:
        destination = self._path_of(target)
        if destination.exists():
            raise WarehouseError(f"{destination} already exists")
        with self.session() as session:
            (catalog,) = session.query("SELECT current_database()")[0]
            session.execute(f"ATTACH '{destination}' AS dagmesh_branch")
            try:
                session.execute(f"COPY FROM DATABASE {catalog} TO dagmesh_branch")
            finally:
                session.execute("DETACH dagmesh_branch")

    def drop_plan(self) -> list[str]:
        return [f"delete {self.path}"]

    def drop(self) -> None:
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)

    def describe(self) -> str:
        return f"DuckDB warehouse {self.path}"


def raw_relation(table: str) -> str:
    """Where a raw table ``DATABASE.SCHEMA.TABLE`` lives in a DuckDB file: ``database_schema.table``."""
    database, schema, name = table.lower().split(".")
    return f"{database}_{schema}.{name}"


def _explain(exc: Exception, sql: str) -> str:
    first = " ".join(sql.split())
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{exc}\n  while running: {first}"
