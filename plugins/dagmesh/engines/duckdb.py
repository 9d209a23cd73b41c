"""The embedded engine: one DuckDB file holds raw data, every domain and the registry.

Differences from the base engine:

* Statements (and domain SQL, written in Snowflake's dialect) are rendered for DuckDB.
* A raw source ``RAW.AMA.PHYSICIANS`` lives in schema ``raw_ama`` of the same file
  (one file is one catalog in DuckDB).
* Publishing copies the build schema's tables into the published schema inside one
  transaction, so readers see the old version or the new one, never a mix.
* DuckDB lets one process at a time open the file for writing. Under ``dagmesh airflow``
  one process holds it and the tasks send it their SQL (:mod:`.duckdb_server`); otherwise
  opening retries while another process holds the lock.
* A reader (the REST API) opens the file read-only for each query and closes it right
  after, so a writer waits at most one query; while a writer has the file, the reader
  waits briefly and then gives up with :class:`WarehouseBusy`. (Through a server, it
  reads in a read-only transaction, without waiting.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagmesh import progress
from dagmesh.config.model import Environment, environment_path
from dagmesh.engines import duckdb_server
from dagmesh.engines.base import Engine, QueryTag, RawDataGenerator, Session, WarehouseBusy, WarehouseError
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation

#: The name a branch's new file is attached under while the warehouse is copied into it.
BRANCH_ALIAS = "dagmesh_branch"

#: How long opening the warehouse waits for another process to release the file.
LOCK_WAIT_SECONDS = 120.0
#: The longest pause between two tries (tasks of other domains hold the file for well
#: under a second at a time: a longer pause would mostly leave it unused).
WRITE_POLL_SECONDS = 0.2
#: The name an attached source database has while `dagmesh load` copies a table from it.
ATTACHED_ALIAS = "dagmesh_source"
#: How long a reader (the REST API) waits for a writer before saying the warehouse is busy.
READ_WAIT_SECONDS = 2.0
#: What a busy reader tells its caller to wait before asking again.
RETRY_AFTER_SECONDS = 5


#: Connections of one process to one file share a database instance, which closes with the last
#: of them. Opening while another thread closes that last one races in DuckDB ("Unique file
#: handle conflict"): threads of one process (`dagmesh run` builds domains at the same time)
#: take turns to open and close.
_OPEN_OR_CLOSE = threading.Lock()


def _close(connection: Any) -> None:
    with _OPEN_OR_CLOSE:
        connection.close()


class DuckDBSession(Session):
    def __init__(self, connection: Any) -> None:
        super().__init__("duckdb")
        self.connection = connection

    def execute_text(self, text: str) -> None:
        self._run(text)

    def query_text(self, text: str) -> list[tuple[Any, ...]]:
        return list(self._run(text).fetchall())

    def _run(self, text: str) -> Any:
        import duckdb

        try:
            return self.connection.execute(text)
        except duckdb.Error as exc:
            raise WarehouseError(_explain(exc, text)) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.begin()
        try:
            yield
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()


class DuckDBReader(Session):
    """Reads only: each query opens the file read-only and closes it again."""

    def __init__(self, engine: DuckDBEngine) -> None:
        super().__init__("duckdb")
        self.engine = engine

    def execute_text(self, text: str) -> None:
        raise WarehouseError("a reader does not change the warehouse")

    def query_text(self, text: str) -> list[tuple[Any, ...]]:
        connection = self.engine._connect(read_only=True)
        try:
            return DuckDBSession(connection).query_text(text)
        finally:
            _close(connection)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield


class DuckDBEngine(Engine):
    name = "duckdb"
    dialect = "duckdb"

    @property
    def path(self) -> Path:
        return self._path_of(self.environment)

    def source_relation(self, table: str) -> Relation:
        return raw_relation(table)

    @contextmanager
    def session(self, tag: QueryTag | None = None) -> Iterator[Session]:
        connection = self._connect()
        try:
            session = DuckDBSession(connection)
            session.run_all(sql.duckdb_settings())
            yield session
        finally:
            _close(connection)

    @contextmanager
    def held(self) -> Iterator[None]:
        """The file stays open (this process's sessions share it) until the block ends: opening
        and closing it for every session would cost tens of milliseconds each (with a checkpoint
        on every close). Other processes wait for the file while it is held."""
        connection = self._connect()
        try:
            yield
        finally:
            _close(connection)

    @contextmanager
    def reader(self) -> Iterator[Session]:
        yield DuckDBReader(self)

    def has_warehouse(self) -> bool:
        return self.path.is_file()

    def _connect(self, read_only: bool = False) -> Any:
        """The warehouse through its server when one runs (:mod:`.duckdb_server`), else the file."""
        remote = duckdb_server.connect(self.path, read_only)
        return remote if remote is not None else connect_file(self.path, read_only)

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
            return generate(session.connection, scale, raw_table_name, loaded_at, progress)

    def load_files(self, table: str, files: Sequence[Path], file_format: str) -> int:
        target = raw_relation(table)
        with self.session() as session:
            if file_format != "duckdb":
                with session.transaction():
                    session.execute(sql.create_schema(target.schema_relation))
                    query = sql.select_from_files([str(f) for f in files], file_format)
                    session.execute(sql.create_table_as(target, query))
                return int(session.query(sql.count_rows(target))[0][0])
            if len(files) != 1:
                raise WarehouseError(f"{table} names {len(files)} DuckDB databases; name one")
            assert isinstance(session, DuckDBSession)
            if isinstance(session.connection, duckdb_server.RemoteConnection):
                # Below, the connection gives up reaching files for good: the server's would too.
                raise WarehouseError(
                    f"{table} is read from a DuckDB database, which loads only while no "
                    "`dagmesh airflow` serves the warehouse: stop it, load, start it again"
                )
            # An attached database (read-only): its table SCHEMA.TABLE, as the source names it. It
            # arrives like any file of a pull request, so only a base table is copied (a view could
            # read anything) and, once it is attached, this connection reaches no other file.
            _, schema, name = table.lower().split(".")
            session.execute(sql.attach(str(files[0]), ATTACHED_ALIAS, read_only=True))
            try:
                kinds = session.query(sql.table_kind(ATTACHED_ALIAS, schema, name))
                if [str(k) for (k,) in kinds] != ["BASE TABLE"]:
                    found = "a view" if kinds else "no such table"
                    raise WarehouseError(
                        f"{files[0].name} has {found} {schema}.{name}: a source copies a table"
                    )
                session.execute(sql.no_external_access())
                with session.transaction():
                    session.execute(sql.create_schema(target.schema_relation))
                    attached = Relation(schema, name, ATTACHED_ALIAS)
                    session.execute(sql.create_table_as(target, sql.select_all(attached)))
            finally:
                session.execute(sql.detach(ATTACHED_ALIAS))
            return int(session.query(sql.count_rows(target))[0][0])

    def publish(self, session: Session, domain: str, ports: Collection[str], state: Collection[str]) -> None:
        build, published, kept = (
            self.build_schema(domain),
            self.published_schema(domain),
            self.state_schema(domain),
        )
        public, private = self._public(ports), self._listed(state)
        tables = self.list_tables(session, build)
        for schema in (published, kept):
            session.execute(sql.create_schema(schema))
        for table in tables:
            target = published if table.lower() in public else kept if table.lower() in private else None
            if target is not None:
                session.run_all(self.copy_table(build.child(table), target.child(table)))
        self._drop_all_but(session, published, public)
        self._drop_all_but(session, kept, {t.lower() for t in tables} & private)

    def _path_of(self, env: Environment) -> Path:
        path = Path(environment_path(env) or "")
        return path if path.is_absolute() else self.project_root / path

    def branch_plan(self, target: Environment) -> list[str]:
        return [f"copy every schema of {self.path} into {self._path_of(target)} (DuckDB COPY FROM DATABASE)"]

    def create_branch(self, target: Environment) -> None:
        destination = self._path_of(target)
        if destination.exists():
            raise WarehouseError(f"{destination} already exists")
        with self.session() as session:
            (catalog,) = session.query(sql.current_database())[0]
            session.execute(sql.attach(str(destination), BRANCH_ALIAS))
            try:
                session.execute(sql.copy_database(str(catalog), BRANCH_ALIAS))
            finally:
                session.execute(sql.detach(BRANCH_ALIAS))

    def drop_plan(self) -> list[str]:
        return [f"delete {self.path}"]

    def drop(self) -> None:
        if duckdb_server.answers(self.path):
            raise WarehouseError(
                f"{self.path} is open in a warehouse server (`dagmesh airflow`): stop it first"
            )
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)

    def describe(self) -> str:
        return f"DuckDB warehouse {self.path}"


def connect_file(path: Path, read_only: bool = False) -> Any:
    """Open the warehouse file, waiting while another process has it open for writing."""
    import duckdb

    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    wait = READ_WAIT_SECONDS if read_only else LOCK_WAIT_SECONDS
    deadline = time.monotonic() + wait
    delay, waited = 0.05, 0.0
    while True:
        try:
            with _OPEN_OR_CLOSE:
                return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            locked = "lock" in str(exc).lower()
            if locked and read_only and time.monotonic() > deadline:
                raise WarehouseBusy(
                    f"the DuckDB warehouse {path} is being written by another process",
                    RETRY_AFTER_SECONDS,
                ) from exc
            if not locked or time.monotonic() > deadline:
                raise WarehouseError(f"cannot open DuckDB warehouse {path}: {exc}") from exc
            if read_only:
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            if waited < 1.0 <= waited + delay:  # said once: waits under a second are normal
                until = datetime.now(UTC) + timedelta(seconds=deadline - time.monotonic())
                progress.waiting(f"the DuckDB warehouse {path}: another process has it open", until)
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, WRITE_POLL_SECONDS)


def raw_relation(table: str) -> Relation:
    """Where a raw table ``DATABASE.SCHEMA.TABLE`` lives in a DuckDB file: schema ``database_schema``."""
    database, schema, name = table.lower().split(".")
    return Relation(f"{database}_{schema}", name)


def raw_table_name(table: str) -> str:
    """:func:`raw_relation` as DuckDB SQL names it (for the example's raw-data generator)."""
    return raw_relation(table).sql("duckdb")


def _explain(exc: Exception, sql: str) -> str:
    first = " ".join(sql.split())
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{exc}\n  while running: {first}"
