"""Snowflake, through the Airflow provider's ``SnowflakeHook``.

Differences from the base engine:

* Identifiers are upper case and qualified with the environment's database; SQL is
  already Snowflake's and runs as written.
* Build schemas are ``WITH MANAGED ACCESS``; an incremental model starts from a
  zero-copy ``CLONE`` of its published table.
* Publishing is ``ALTER SCHEMA <build> SWAP WITH <published>``: atomic, and the
  previous version ends up in the build schema. A swap moves grants with the schema,
  so certify re-grants every port's reader role right after it.
* Every session first sets a JSON ``QUERY_TAG`` (mesh, domain, stage, DAG run, build).
* Raw example data is generated in DuckDB and loaded with ``write_pandas`` into tables
  created with the generator's column types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from dagmesh.config.model import Environment
from dagmesh.engines.base import (
    Engine,
    QueryTag,
    RawDataGenerator,
    Session,
    WarehouseConfigError,
    WarehouseError,
    sql_literal,
)
from dagmesh.engines.duckdb import raw_relation
from dagmesh.mesh.access import AccessPlan, consumer_role


class SnowflakeSession(Session):
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def _cursor(self, sql: str, params: Sequence[Any] | None) -> Any:
        import snowflake.connector

        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, list(params) if params else None)
        except snowflake.connector.errors.Error as exc:
            cursor.close()
            raise WarehouseError(f"{exc}\n  while running: {' '.join(sql.split())[:160]}") from exc
        return cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor(sql, params).close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._cursor(sql, params)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        import snowflake.connector

        if not rows:
            return
        cursor = self.connection.cursor()
        try:
            cursor.executemany(sql, [list(r) for r in rows])
        except snowflake.connector.errors.Error as exc:
            raise WarehouseError(f"{exc}\n  while running: {' '.join(sql.split())[:160]}") from exc
        finally:
            cursor.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements auto-commit. The publish inside is a SWAP, which is atomic on its own
        and commits implicitly (as all Snowflake DDL does), so BEGIN/COMMIT around it would
        promise nothing; certify is idempotent instead (the build marker says what is published).
        """
        yield


#: DuckDB column types of generated raw data, as Snowflake types.
_RAW_TYPES = {
    "VARCHAR": "VARCHAR",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "DOUBLE": "FLOAT",
    "FLOAT": "FLOAT",
    "BIGINT": "NUMBER(38, 0)",
    "INTEGER": "NUMBER(38, 0)",
    "SMALLINT": "NUMBER(38, 0)",
    "HUGEINT": "NUMBER(38, 0)",
}


class SnowflakeEngine(Engine):
    name = "snowflake"
    dialect = "snowflake"
    placeholder = "%s"

    @property
    def database(self) -> str:
        database = self.environment.database
        if not database:
            raise WarehouseConfigError(
                f"environment '{self.environment.name}' names no database; set database: in mesh.yaml"
            )
        return database.upper()

    def ident(self, name: str) -> str:
        return name.upper()

    def schema_ref(self, schema: str) -> str:
        return f"{self.database}.{schema}"

    def source_relation(self, table: str) -> str:
        return table

    def information_schema(self) -> str:
        return f"{self.database}.INFORMATION_SCHEMA"

    # ------------------------------------------------------------------ sessions

    def hook(self) -> Any:
        """The provider's hook for this environment's connection, database, warehouse and role."""
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        env = self.environment
        options = {"database": self.database, "warehouse": env.warehouse, "role": env.role}
        return SnowflakeHook(snowflake_conn_id=env.conn_id, **{k: v for k, v in options.items() if v})

    @contextmanager
    def session(self, tag: QueryTag | None = None) -> Iterator[Session]:
        connection = self._connect()
        try:
            session = SnowflakeSession(connection)
            if tag is not None:
                session.execute(self.query_tag_sql(tag))
            yield session
        finally:
            connection.close()

    def _connect(self) -> Any:
        import snowflake.connector
        from airflow.exceptions import AirflowNotFoundException

        env = self.environment
        try:
            return self.hook().get_conn()
        except AirflowNotFoundException as exc:
            raise WarehouseConfigError(
                f"environment '{env.name}' uses the Airflow connection '{env.conn_id}', which does not "
                f"exist; create it (airflow connections add {env.conn_id} --conn-type snowflake ...) or set "
                f"AIRFLOW_CONN_{(env.conn_id or '').upper()}"
            ) from exc
        except snowflake.connector.errors.Error as exc:
            reason = str(exc)
            if env.role and "role" in reason.lower():
                raise WarehouseConfigError(
                    f"environment '{env.name}': role '{env.role}' does not exist or is not granted to the "
                    f"user of connection '{env.conn_id}' ({reason.strip()})"
                ) from exc
            raise WarehouseError(
                f"environment '{env.name}': cannot connect with Airflow connection '{env.conn_id}': {reason}"
            ) from exc

    def query_tag_sql(self, tag: QueryTag) -> str:
        return f"ALTER SESSION SET QUERY_TAG = {sql_literal(tag.to_json())}"

    def check_connection(self) -> None:
        with self.session() as session:
            session.query("SELECT CURRENT_ROLE()")

    # ------------------------------------------------------------------ statements

    def reset_build_schema_sql(self, domain: str) -> list[str]:
        return [f"CREATE OR REPLACE SCHEMA {self.schema_ref(self.build_schema(domain))} WITH MANAGED ACCESS"]

    def copy_table_sql(self, source: str, target: str) -> list[str]:
        return [f"CREATE OR REPLACE TABLE {target} CLONE {source}"]

    def publish_sql(self, domain: str) -> list[str]:
        build = self.schema_ref(self.build_schema(domain))
        published = self.schema_ref(self.published_schema(domain))
        return [
            f"CREATE SCHEMA IF NOT EXISTS {published} WITH MANAGED ACCESS",
            f"ALTER SCHEMA {build} SWAP WITH {published}",
        ]

    def publish(self, session: Session, domain: str) -> None:
        session.run_all(self.publish_sql(domain))

    def role_ref(self, role: str) -> str:
        return f"{self.database}.{role}"

    def grant_sql(self, plan: AccessPlan) -> list[str]:
        statements: list[str] = []
        created: set[str] = set()

        def create(role: str) -> None:
            if role not in created:
                created.add(role)
                statements.append(f"CREATE DATABASE ROLE IF NOT EXISTS {self.role_ref(role)}")

        for access in plan.ports:
            reader = self.role_ref(access.reader)
            create(access.reader)
            schema = self.schema_ref(self.published_schema(access.port.domain))
            statements.append(f"GRANT USAGE ON SCHEMA {schema} TO DATABASE ROLE {reader}")
            table = self.qualify(self.published_schema(access.port.domain), access.port.port)
            statements.append(f"GRANT SELECT ON TABLE {table} TO DATABASE ROLE {reader}")
            for consumer in access.consumers:
                create(consumer_role(consumer))
                statements.append(
                    f"GRANT DATABASE ROLE {reader} TO DATABASE ROLE {self.role_ref(consumer_role(consumer))}"
                )
        return statements

    def revoke_sql(self, reader: str, grantees: Sequence[str], consumers: Sequence[str]) -> list[str]:
        """Revoke a reader role from roles that no longer consume its port."""
        wanted = {consumer_role(c) for c in consumers}
        stale = sorted({g.split(".")[-1].upper() for g in grantees} - wanted)
        return [
            f"REVOKE DATABASE ROLE {self.role_ref(reader)} FROM DATABASE ROLE {self.role_ref(grantee)}"
            for grantee in stale
        ]

    def apply_grants(self, session: Session, plan: AccessPlan) -> None:
        session.run_all(self.grant_sql(plan))
        for access in plan.ports:
            rows = session.query(f"SHOW GRANTS OF DATABASE ROLE {self.role_ref(access.reader)}")
            # created_on, role, granted_to, grantee_name, granted_by
            grantees = [str(r[3]) for r in rows if len(r) > 3 and str(r[2]).upper() == "DATABASE_ROLE"]
            session.run_all(self.revoke_sql(access.reader, grantees, access.consumers))

    # ------------------------------------------------------------------ environments

    def branch_plan(self, target: Environment) -> list[str]:
        # Zero-copy: the clone shares storage with its source until either changes.
        return [f"CREATE DATABASE {(target.database or '').upper()} CLONE {self.database}"]

    def create_branch(self, target: Environment) -> None:
        with self.session() as session:
            session.run_all(self.branch_plan(target))

    def drop_plan(self) -> list[str]:
        return [f"DROP DATABASE IF EXISTS {self.database}"]

    def drop(self) -> None:
        with self.session() as session:
            session.run_all(self.drop_plan())

    # ------------------------------------------------------------------ raw data

    def load_raw(
        self,
        generate: RawDataGenerator,
        scale: float,
        loaded_at: datetime,
        progress: Callable[[str, int], None],
    ) -> dict[str, int]:
        import duckdb
        from snowflake.connector.pandas_tools import write_pandas

        local = duckdb.connect()
        counts = generate(local, scale, raw_relation, loaded_at, lambda table, rows: None)
        with self.session() as session:
            assert isinstance(session, SnowflakeSession)
            for table in counts:
                database, schema, name = table.upper().split(".")
                relation = raw_relation(table)
                columns = local.execute(f"DESCRIBE {relation}").fetchall()
                spec = ", ".join(f"{c[0].upper()} {_snowflake_type(str(c[1]))}" for c in columns)
                session.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
                session.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.{schema}")
                session.execute(f"CREATE OR REPLACE TABLE {database}.{schema}.{name} ({spec})")
                frame = local.execute(f"SELECT * FROM {relation}").df()
                frame.columns = [str(c).upper() for c in frame.columns]
                write_pandas(
                    session.connection,
                    frame,
                    name,
                    database=database,
                    schema=schema,
                    auto_create_table=False,
                    use_logical_type=True,
                )
                progress(table, counts[table])
        return counts

    def describe(self) -> str:
        env = self.environment
        return f"Snowflake database {self.database} (environment '{env.name}', connection '{env.conn_id}')"


def _snowflake_type(duckdb_type: str) -> str:
    upper = duckdb_type.upper()
    if upper.startswith("DECIMAL"):
        return upper.replace("DECIMAL", "NUMBER")
    return _RAW_TYPES.get(upper, "VARCHAR")
