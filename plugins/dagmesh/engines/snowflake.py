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

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from dagmesh.config.model import Environment, SnowflakeEnvironment
from dagmesh.engines.base import (
    Engine,
    QueryTag,
    RawDataGenerator,
    Session,
    WarehouseConfigError,
    WarehouseError,
)
from dagmesh.engines.duckdb import raw_relation, raw_table_name
from dagmesh.mesh.access import AccessPlan, consumer_role
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation, Sql


class SnowflakeSession(Session):
    def __init__(self, connection: Any) -> None:
        super().__init__("snowflake")
        self.connection = connection

    def _cursor(self, text: str) -> Any:
        import snowflake.connector

        cursor = self.connection.cursor()
        try:
            cursor.execute(text)
        except snowflake.connector.errors.Error as exc:
            cursor.close()
            raise WarehouseError(f"{exc}\n  while running: {' '.join(text.split())[:160]}") from exc
        return cursor

    def execute_text(self, text: str) -> None:
        self._cursor(text).close()

    def query_text(self, text: str) -> list[tuple[Any, ...]]:
        cursor = self._cursor(text)
        try:
            return [tuple(row) for row in cursor.fetchall()]
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
    def settings(self) -> SnowflakeEnvironment:
        """The environment's Snowflake settings (connection, database, warehouse, role)."""
        env = self.environment
        assert isinstance(env, SnowflakeEnvironment), "a Snowflake engine runs a Snowflake environment"
        return env

    @property
    def database(self) -> str:
        database = self.settings.database
        if not database:
            raise WarehouseConfigError(
                f"environment '{self.environment.name}' names no database; set database: in mesh.yaml"
            )
        return database.upper()

    def ident(self, name: str) -> str:
        return name.upper()

    @property
    def catalog(self) -> str:
        return self.database

    def source_relation(self, table: str) -> Relation:
        database, schema, name = table.split(".")
        return Relation(schema.upper(), name.upper(), database.upper())

    # ------------------------------------------------------------------ sessions

    def hook(self) -> Any:
        """The provider's hook for this environment's connection, database, warehouse and role."""
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        env = self.settings
        options = {"database": self.database, "warehouse": env.warehouse, "role": env.role}
        return SnowflakeHook(snowflake_conn_id=env.conn_id, **{k: v for k, v in options.items() if v})

    @contextmanager
    def session(self, tag: QueryTag | None = None) -> Iterator[Session]:
        connection = self._connect()
        try:
            session = SnowflakeSession(connection)
            if tag is not None:
                session.execute(sql.set_query_tag(tag.to_json()))
            yield session
        finally:
            connection.close()

    def _connect(self) -> Any:
        import snowflake.connector
        from airflow.exceptions import AirflowNotFoundException

        env = self.settings
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

    def check_connection(self) -> None:
        with self.session() as session:
            session.query(sql.current_role())

    # ------------------------------------------------------------------ statements

    def reset_build_schema(self, domain: str) -> list[Sql]:
        return [sql.create_managed_schema(self.build_schema(domain), replace=True)]

    def copy_table(self, source: Relation, target: Relation) -> list[Sql]:
        return [sql.clone_table(source, target)]

    def publish_statements(self, domain: str) -> list[Sql]:
        build, published = self.build_schema(domain), self.published_schema(domain)
        return [sql.create_managed_schema(published), sql.swap_schemas(build, published)]

    def publish(self, session: Session, domain: str, ports: Collection[str], state: Collection[str]) -> None:
        session.run_all(self.publish_statements(domain))
        # The swap published every model: clone the state models to the state schema (where
        # no other table stays), then take every model that is not a port out of consumers' sight.
        published, kept = self.published_schema(domain), self.state_schema(domain)
        public, private = self._public(ports), self._listed(state)
        session.execute(sql.create_schema(kept))
        tables = self.list_tables(session, published)
        for table in tables:
            if table.lower() in private:
                session.run_all(self.copy_table(published.child(table), kept.child(table)))
        self._drop_all_but(session, kept, {t.lower() for t in tables} & private)
        self._drop_all_but(session, published, public)

    def role(self, name: str) -> Relation:
        """A database role of the environment's database."""
        return Relation(self.ident(name), None, self.database)

    def grants(self, plan: AccessPlan) -> list[Sql]:
        statements: list[Sql] = []
        created: set[str] = set()

        def create(role: str) -> None:
            if role not in created:
                created.add(role)
                statements.append(sql.create_database_role(self.role(role)))

        for access in plan.ports:
            reader = self.role(access.reader)
            create(access.reader)
            schema = self.published_schema(access.port.domain)
            statements.append(sql.grant_to_database_role("USAGE", "SCHEMA", schema, reader))
            table = self.port_relation(access.port)
            statements.append(sql.grant_to_database_role("SELECT", "TABLE", table, reader))
            for consumer in access.consumers:
                create(consumer_role(consumer))
                statements.append(sql.grant_database_role(reader, self.role(consumer_role(consumer))))
        return statements

    def revocations(self, reader: str, grantees: Sequence[str], consumers: Sequence[str]) -> list[Sql]:
        """Revoke a reader role from roles that no longer consume its port."""
        wanted = {consumer_role(c) for c in consumers}
        stale = sorted({g.split(".")[-1].strip('"').upper() for g in grantees} - wanted)
        return [sql.revoke_database_role(self.role(reader), self.role(grantee)) for grantee in stale]

    def apply_grants(self, session: Session, plan: AccessPlan) -> None:
        session.run_all(self.grants(plan))
        for access in plan.ports:
            rows = session.query(sql.show_grants_of_database_role(self.role(access.reader)))
            # created_on, role, granted_to, grantee_name, granted_by
            grantees = [str(r[3]) for r in rows if len(r) > 3 and str(r[2]).upper() == "DATABASE_ROLE"]
            session.run_all(self.revocations(access.reader, grantees, access.consumers))

    # ------------------------------------------------------------------ environments

    def _clone(self, target: Environment) -> Sql:
        # Zero-copy: the clone shares storage with its source until either changes.
        database = target.database if isinstance(target, SnowflakeEnvironment) else None
        return sql.clone_database(self.database, (database or "").upper())

    def branch_plan(self, target: Environment) -> list[str]:
        return [sql.render(self._clone(target), self.dialect)]

    def create_branch(self, target: Environment) -> None:
        with self.session() as session:
            session.execute(self._clone(target))

    def drop_plan(self) -> list[str]:
        return [sql.render(sql.drop_database(self.database), self.dialect)]

    def drop(self) -> None:
        with self.session() as session:
            session.execute(sql.drop_database(self.database))

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
        counts = generate(local, scale, raw_table_name, loaded_at, lambda table, rows: None)
        with self.session() as session:
            assert isinstance(session, SnowflakeSession)
            for table in counts:
                target = self.source_relation(table)
                local_table = sql.render(sql.describe(raw_relation(table)), "duckdb")
                columns = [
                    (str(c[0]).upper(), _snowflake_type(str(c[1])))
                    for c in local.execute(local_table).fetchall()
                ]
                assert target.catalog is not None and target.name is not None
                session.execute(sql.create_database(target.catalog))
                session.execute(sql.create_schema(target.schema_relation))
                session.execute(sql.create_table(target, columns, if_not_exists=False))
                frame = local.execute(sql.render(sql.select_all(raw_relation(table)), "duckdb")).df()
                frame.columns = [str(c).upper() for c in frame.columns]
                write_pandas(
                    session.connection,
                    frame,
                    target.name,
                    database=target.catalog,
                    schema=target.schema,
                    auto_create_table=False,
                    use_logical_type=True,
                )
                progress(table, counts[table])
        return counts

    def describe(self) -> str:
        env = self.settings
        return f"Snowflake database {self.database} (environment '{env.name}', connection '{env.conn_id}')"


def _snowflake_type(duckdb_type: str) -> str:
    upper = duckdb_type.upper()
    if upper.startswith("DECIMAL"):
        return upper.replace("DECIMAL", "NUMBER")
    return _RAW_TYPES.get(upper, "VARCHAR")
