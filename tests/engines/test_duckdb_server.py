"""The warehouse server: one process holds the DuckDB file, the engines of other processes
send it their SQL, each client with its own transactions (a real server process each time)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import duckdb
import pytest

from dagmesh.engines import duckdb_server
from dagmesh.engines.base import WarehouseError
from dagmesh.engines.duckdb import DuckDBEngine, DuckDBSession
from tests.helpers import mesh_of


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBEngine:
    mesh = mesh_of({"dev": {"engine": "duckdb", "path": "wh.duckdb"}})
    engine = DuckDBEngine(tmp_path, mesh, mesh.environments["dev"])
    with engine.session() as session:
        session.execute_text("CREATE TABLE seen AS SELECT 1 AS n")
    return engine


def start_server(warehouse: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-m", duckdb_server.__name__, str(warehouse)])
    deadline = time.monotonic() + 60
    while not duckdb_server.answers(warehouse):
        assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    return server


@pytest.fixture
def served(engine: DuckDBEngine) -> Iterator[subprocess.Popen[bytes]]:
    server = start_server(engine.path)
    yield server
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def hung_up(sock: socket.socket) -> bool:
    """Whether the server closed the connection (a reset when it closed with our bytes unread)."""
    try:
        return duckdb_server.receive(sock) is None
    except ConnectionResetError:
        return True


def remote(session: object) -> bool:
    assert isinstance(session, DuckDBSession)
    return isinstance(session.connection, duckdb_server.RemoteConnection)


def test_while_served_the_file_is_held_and_engines_work_through_the_server(
    engine: DuckDBEngine, served: subprocess.Popen[bytes]
) -> None:
    with pytest.raises(duckdb.IOException, match="lock"):
        duckdb.connect(str(engine.path))  # another process has it open for writing

    with engine.session() as session:
        assert remote(session)
        session.execute_text("CREATE TABLE made AS SELECT 42 AS answer")
        assert session.query_text("SELECT answer FROM made") == [(42,)]


def test_each_client_has_its_own_transaction_and_none_waits_for_another(
    engine: DuckDBEngine, served: subprocess.Popen[bytes]
) -> None:
    with engine.session() as first, engine.session() as second:
        with first.transaction():
            first.execute_text("CREATE TABLE a AS SELECT 1 AS x")
            # The first has not committed: the second neither waits for it nor sees its table.
            second.execute_text("CREATE TABLE b AS SELECT 2 AS x")
            assert second.query_text(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'a'"
            ) == [(0,)]
        assert second.query_text("SELECT x FROM a") == [(1,)]


def test_a_failed_transaction_rolls_back_and_an_error_names_the_statement(
    engine: DuckDBEngine, served: subprocess.Popen[bytes]
) -> None:
    with engine.session() as session:
        failing = pytest.raises(WarehouseError, match=r"(?s)Catalog Error.*while running: SELECT \* FROM")
        with failing, session.transaction():
            session.execute_text("INSERT INTO seen VALUES (2)")
            session.execute_text("SELECT * FROM nowhere")
        assert session.query_text("SELECT n FROM seen") == [(1,)]


def test_values_arrive_with_their_types(engine: DuckDBEngine, served: subprocess.Popen[bytes]) -> None:
    query = (
        "SELECT 1.50::DECIMAL(10, 2), DATE '2026-03-31', TIMESTAMP '2026-03-31 12:00:01.5', "
        "TIMESTAMPTZ '2026-03-31 12:00:00+00', TIME '12:30:00', INTERVAL 3 DAY, [1, 2], "
        "{'a': 1, 'b': 'x'}, MAP([1], ['one']), 'ab'::BLOB, "
        "'5f0c8a3e-3f0b-4a5c-9a59-0d3c2f2b9b1e'::UUID, 'nan'::DOUBLE, NULL, true, 'text'"
    )
    with engine.session() as session:
        (row,) = session.query_text(query)

    assert row[:6] == (
        Decimal("1.50"),
        date(2026, 3, 31),
        datetime(2026, 3, 31, 12, 0, 1, 500000),
        row[3],
        clock(12, 30),
        timedelta(days=3),
    )
    assert row[3].utcoffset() == timedelta(0) and row[3].replace(tzinfo=None) == datetime(2026, 3, 31, 12)
    assert row[6:11] == (
        [1, 2],
        {"a": 1, "b": "x"},
        {1: "one"},
        b"ab",
        UUID("5f0c8a3e-3f0b-4a5c-9a59-0d3c2f2b9b1e"),
    )
    assert row[11] != row[11] and row[12:] == (None, True, "text")  # NaN, NULL, BOOLEAN, VARCHAR


def test_a_reader_cannot_write_through_the_server(
    engine: DuckDBEngine, served: subprocess.Popen[bytes]
) -> None:
    reader = duckdb_server.connect(engine.path, read_only=True)
    assert reader is not None
    try:
        with pytest.raises(duckdb.Error, match="read-only"):
            reader.execute("INSERT INTO seen VALUES (2)")
        with pytest.raises(duckdb.Error, match="not a request"):
            reader.begin()
        with pytest.raises(duckdb.Error, match="one statement at a time"):
            reader.execute("SELECT 1; DROP TABLE seen")
        assert reader.execute("SELECT n FROM seen").fetchall() == [(1,)]
    finally:
        reader.close()


def test_only_a_client_with_the_token_of_the_private_address_file_gets_in(
    engine: DuckDBEngine, served: subprocess.Popen[bytes]
) -> None:
    address = duckdb_server.address_file(engine.path)
    assert address.stat().st_mode & 0o777 == 0o600
    port = json.loads(address.read_text())["port"]

    with socket.create_connection(("127.0.0.1", port)) as flood:
        flood.sendall((1 << 30).to_bytes(4, "big"))  # announces a GiB before any token
        assert hung_up(flood)  # without reading it
    with socket.create_connection(("127.0.0.1", port)) as intruder:
        duckdb_server.send(intruder, {"token": "guessed", "read_only": False})
        assert duckdb_server.receive(intruder) == {
            "ok": False,
            "error": "Error",
            "message": "refused: wrong token",
        }
        duckdb_server.send(intruder, {"op": "execute", "sql": "DROP TABLE seen"})
        assert hung_up(intruder)
    with engine.session() as session:
        assert session.query_text("SELECT n FROM seen") == [(1,)]


def test_a_client_that_dies_mid_transaction_has_it_rolled_back(
    engine: DuckDBEngine, served: subprocess.Popen[bytes]
) -> None:
    dies = textwrap.dedent(
        f"""
        import os
        from dagmesh.engines import duckdb_server
        from pathlib import Path
        connection = duckdb_server.connect(Path({str(engine.path)!r}), read_only=False)
        connection.begin()
        connection.execute("CREATE TABLE claimed AS SELECT 'dead' AS owner")
        os._exit(9)
        """
    )
    assert subprocess.run([sys.executable, "-c", dies], check=False).returncode == 9

    # While the dead client's transaction stayed open, creating the same table would conflict
    # with it; once the server rolled it back, the name is free.
    deadline = time.monotonic() + 10
    with engine.session() as session:
        while True:
            try:
                session.execute_text("CREATE TABLE claimed AS SELECT 'alive' AS owner")
                break
            except WarehouseError as exc:
                assert "conflict" in str(exc) and time.monotonic() < deadline, exc
                time.sleep(0.2)
        assert session.query_text("SELECT owner FROM claimed") == [("alive",)]


def test_a_stopped_server_leaves_the_file_whole_and_engines_open_it_themselves(
    engine: DuckDBEngine, served: subprocess.Popen[bytes]
) -> None:
    with engine.session() as session:
        session.execute_text("CREATE TABLE kept AS SELECT 7 AS x")

    served.send_signal(signal.SIGTERM)
    assert served.wait(timeout=30) == 0

    assert not duckdb_server.address_file(engine.path).exists()
    with engine.session() as session:
        assert not remote(session)
        assert session.query_text("SELECT x FROM kept") == [(7,)]


def test_the_address_a_killed_server_left_behind_is_passed_over(
    engine: DuckDBEngine, served: subprocess.Popen[bytes]
) -> None:
    os.kill(served.pid, signal.SIGKILL)
    served.wait(timeout=30)
    assert duckdb_server.address_file(engine.path).exists()

    with engine.session() as session:
        assert not remote(session)
        assert session.query_text("SELECT n FROM seen") == [(1,)]


def test_a_duckdb_source_file_does_not_load_through_the_server(
    engine: DuckDBEngine, served: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    source = tmp_path / "source.duckdb"
    with duckdb.connect(str(source)) as con:
        con.execute("CREATE SCHEMA crm; CREATE TABLE crm.calls AS SELECT 1 AS id")

    with pytest.raises(WarehouseError, match="no `dagmesh airflow` serves the warehouse"):
        engine.load_files("RAW.CRM.CALLS", [source], "duckdb")


def test_a_served_warehouse_is_not_dropped(engine: DuckDBEngine, served: subprocess.Popen[bytes]) -> None:
    with pytest.raises(WarehouseError, match="open in a warehouse server"):
        engine.drop()
    assert engine.path.is_file()


def test_an_address_file_that_names_no_server_is_passed_over(engine: DuckDBEngine) -> None:
    address = duckdb_server.address_file(engine.path)
    for text in ("not json", "[]", '{"host": "127.0.0.1", "port": 99999, "token": "x"}'):
        address.write_text(text)
        with engine.session() as session:
            assert not remote(session), text
            assert session.query_text("SELECT n FROM seen") == [(1,)]
