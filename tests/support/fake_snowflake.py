"""Snowflake emulated in-process: fakesnow, plus the Snowflake statements it lacks.

fakesnow emulates Snowflake on DuckDB underneath the real ``snowflake.connector`` API,
so the real ``SnowflakeHook`` and connector run against it. It does not implement
managed-access schemas, schema ``SWAP``, database roles, grants or ``QUERY_TAG``. This
test-support layer (not dagmesh code) gives the emulator those semantics, so the whole
mesh can run on it:

* ``... WITH MANAGED ACCESS`` creates a plain schema (the emulator enforces no access),
  and ``CREATE OR REPLACE SCHEMA`` replaces one that has tables;
* ``ALTER SCHEMA a SWAP WITH b`` exchanges the two schemas' tables;
* ``QUERY_TAG``, database roles, grants and revokes are accepted and recorded, and
  ``SHOW GRANTS OF DATABASE ROLE`` answers from the recorded grants;
* connecting with a role Snowflake does not know fails as Snowflake does (error 390189).

The exact text of those statements is pinned by unit tests and parsed with sqlglot.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import fakesnow
import snowflake.connector
from fakesnow.cursor import FakeSnowflakeCursor

ACCEPTED = [
    r"^ALTER SESSION SET QUERY_TAG",
    r"^CREATE DATABASE ROLE",
    r"^GRANT ",
    r"^REVOKE ",
]
_SWAP = re.compile(r"^ALTER SCHEMA (\S+) SWAP WITH (\S+)$", re.IGNORECASE)
_MANAGED = re.compile(r"\s+WITH MANAGED ACCESS\s*$", re.IGNORECASE)
_REPLACE_SCHEMA = re.compile(r"^CREATE OR REPLACE SCHEMA (\S+)", re.IGNORECASE)
_SHOW_GRANTS_OF = re.compile(r"^SHOW GRANTS OF DATABASE ROLE (\S+)$", re.IGNORECASE)
_GRANT_ROLE = re.compile(r"^GRANT DATABASE ROLE (\S+) TO DATABASE ROLE (\S+)$", re.IGNORECASE)
_REVOKE_ROLE = re.compile(r"^REVOKE DATABASE ROLE (\S+) FROM DATABASE ROLE (\S+)$", re.IGNORECASE)


@dataclass
class FakeSnowflake:
    """What the emulated account saw: every statement, and the grants between roles."""

    roles: set[str]
    statements: list[str] = field(default_factory=list)
    #: reader role -> roles it is granted to (fully qualified, upper case)
    role_grants: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def matching(self, pattern: str) -> list[str]:
        return [s for s in self.statements if re.search(pattern, s, re.IGNORECASE)]


@contextmanager
def fake_snowflake(
    db_path: Path | None = None, roles: tuple[str, ...] = ("MESH_TRANSFORMER",)
) -> Iterator[FakeSnowflake]:
    """Patch ``snowflake.connector`` with the emulator for the duration of the block."""
    account = FakeSnowflake(roles={r.upper() for r in roles})
    original_execute = FakeSnowflakeCursor.execute

    def execute(cursor: Any, command: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        statement = " ".join(command.split())
        with account.lock:
            account.statements.append(statement)
        if swap := _SWAP.match(statement):
            _swap_schemas(cursor, original_execute, _name(swap.group(1)), _name(swap.group(2)))
            return cursor
        if shown := _SHOW_GRANTS_OF.match(statement):
            role = _name(shown.group(1))
            rows = sorted(account.role_grants.get(role, ()))
            values = ", ".join(f"('{role}', 'DATABASE_ROLE', '{g}')" for g in rows) or "(NULL, NULL, NULL)"
            listing = (
                "SELECT NULL AS created_on, role, granted_to, grantee_name, NULL AS granted_by "
                f"FROM (VALUES {values}) AS g(role, granted_to, grantee_name) WHERE role IS NOT NULL"
            )
            return original_execute(cursor, listing)
        if granted := _GRANT_ROLE.match(statement):
            account.role_grants.setdefault(_name(granted.group(1)), set()).add(_name(granted.group(2)))
        if revoked := _REVOKE_ROLE.match(statement):
            account.role_grants.get(_name(revoked.group(1)), set()).discard(_name(revoked.group(2)))
        if replaced := _REPLACE_SCHEMA.match(statement):
            # DuckDB will not replace a schema that has tables: drop it first, as Snowflake does.
            original_execute(cursor, f"DROP SCHEMA IF EXISTS {replaced.group(1)} CASCADE")
        return original_execute(cursor, _MANAGED.sub("", command), params, *args, **kwargs)

    with ExitStack() as stack:
        stack.enter_context(fakesnow.patch(db_path=db_path, nop_regexes=ACCEPTED))
        fake_connect = snowflake.connector.connect

        def connect(**kwargs: Any) -> Any:
            role = (kwargs.get("role") or "").upper()
            if role and role not in account.roles:
                raise snowflake.connector.errors.DatabaseError(
                    msg=f"Role '{role}' specified in the connect string is not granted to this user. "
                    "Contact your local system administrator, or attempt to login with another role, "
                    "e.g. PUBLIC.",
                    errno=390189,
                )
            connection = fake_connect(**kwargs)
            if db_path is not None:
                # Snowflake shows every database of the account; fakesnow attaches only the
                # ones a session names, so attach those an earlier process left on disk.
                cursor = connection.cursor()
                for database in sorted(p.stem for p in Path(db_path).glob("*.db")):
                    original_execute(cursor, f"CREATE DATABASE IF NOT EXISTS {database}")
            return connection

        stack.enter_context(mock.patch("snowflake.connector.connect", connect))
        stack.enter_context(mock.patch.object(FakeSnowflakeCursor, "execute", execute))
        yield account


def _name(quoted: str) -> str:
    """``"MESH"."PAYER"`` as ``MESH.PAYER`` (dagmesh quotes every name, in upper case)."""
    return quoted.replace('"', "").upper()


def _swap_schemas(cursor: Any, execute: Any, first: str, second: str) -> None:
    """Exchange two schemas' tables through a third (DuckDB has no schema rename).

    Names arrive as ``DATABASE.SCHEMA`` (upper case, unquoted); they are quoted again here,
    as a table may be called like a keyword."""
    database = first.split(".")[0] if "." in first else None
    scratch = f"{database}.DAGMESH_SWAP" if database else "DAGMESH_SWAP"

    def quoted(name: str) -> str:
        return ".".join(f'"{part}"' for part in name.split("."))

    def tables(schema: str) -> list[str]:
        db, name = schema.split(".") if "." in schema else (database, schema)
        execute(
            cursor,
            f"SELECT table_name FROM {db}.information_schema.tables WHERE table_schema = '{name.upper()}'",
        )
        return [row[0] for row in cursor.fetchall()]

    def move(source: str, target: str) -> None:
        execute(cursor, f"DROP SCHEMA IF EXISTS {quoted(target)} CASCADE")
        execute(cursor, f"CREATE SCHEMA {quoted(target)}")
        for table in tables(source):
            execute(
                cursor,
                f'CREATE TABLE {quoted(target)}."{table}" AS SELECT * FROM {quoted(source)}."{table}"',
            )
        execute(cursor, f"DROP SCHEMA {quoted(source)} CASCADE")

    move(first, scratch)
    move(second, first)
    move(scratch, second)


#: The Airflow connection the emulated environments use (as AIRFLOW_CONN_SNOWFLAKE_FAKE).
CONNECTION_ID = "snowflake_fake"
CONNECTION = json.dumps(
    {
        "conn_type": "snowflake",
        "login": "dagmesh",
        "password": "not-a-secret",
        "extra": {"account": "emulated", "warehouse": "COMPUTE_WH", "database": "MESH"},
    }
)


def add_environment(project: Path, name: str = "fake", **settings: str) -> None:
    """Add a Snowflake environment (the emulated account by default) to a project copy."""
    values = {
        "conn_id": CONNECTION_ID,
        "database": "MESH",
        "warehouse": "COMPUTE_WH",
        "role": "MESH_TRANSFORMER",
    }
    values.update(settings)
    spec = ", ".join(f"{k}: {v}" for k, v in values.items())
    mesh = project / "dag_configs" / "mesh.yaml"
    text = mesh.read_text()
    anchor = "default_environment:"
    assert anchor in text
    mesh.write_text(text.replace(anchor, f"  {name}: {{engine: snowflake, {spec}}}\n{anchor}", 1))
