"""One process holds a DuckDB warehouse open; the tasks of a live Airflow send it their SQL.

DuckDB lets one process at a time open a file for writing. In a live Airflow every task
is a process, so without a server they take turns on the file: each opens it, starts with
a cold cache, runs a batch of statements and closes it again (a checkpoint), while the
tasks of other domains wait. ``dagmesh airflow`` starts this server with Airflow: it opens
the warehouse once and gives every client its own connection to that one database, with
its own transactions, as the threads of ``dagmesh run`` have. Domains that do not depend
on each other build at the same time, on a warm cache.

The server listens on a port of 127.0.0.1 that the system picks, and writes that port and
a secret token to ``<warehouse>.server`` (mode 0600, next to the warehouse file): a client
must send the token first, so only those who may read that file reach the warehouse. The
engine (:meth:`dagmesh.engines.duckdb.DuckDBEngine.session`) uses the server when that file
names one that answers, and opens the file itself otherwise (no server, or a stopped one).
A read-only client (the REST API) runs each query in a read-only transaction. A client
that goes away mid-transaction has it rolled back.

Requests and answers are length-prefixed JSON; values JSON has no type for (decimals,
dates, intervals, blobs, structs) travel tagged (:func:`encode`).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import secrets
import signal
import socket
import sys
import threading
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from dagmesh.private_files import write_private

#: The host the server listens on: only this machine reaches it.
HOST = "127.0.0.1"
#: The largest message either side accepts.
MAX_MESSAGE = 256 * 1024 * 1024
#: The largest first message (the token) the server reads from a client it does not know yet.
MAX_HELLO = 4096
#: How long a client waits to reach a server its address file names.
CONNECT_TIMEOUT = 5.0


def address_file(warehouse: Path) -> Path:
    """Where the server of ``warehouse`` writes its port and token."""
    return warehouse.with_name(warehouse.name + ".server")


# --- the wire -----------------------------------------------------------------------


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(len(data).to_bytes(4, "big") + data)


def receive(sock: socket.socket, limit: int = MAX_MESSAGE) -> dict[str, Any] | None:
    """The next message, or ``None`` when the other side closed the connection."""
    header = _read(sock, 4)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    if size > limit:
        raise ConnectionError(f"a message of {size} bytes is over the limit")
    data = _read(sock, size)
    if data is None:
        return None
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ConnectionError("a message is not a JSON object")
    return message


def _read(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_SCALARS = (str, int, float, bool, type(None))


def encode(value: Any) -> Any:
    """A value DuckDB returns, as JSON: anything but a plain scalar or a list travels as
    ``{"$": type, "v": ...}`` (every dict on the wire is tagged, so none is mistaken)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {"$": "dict", "v": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, Decimal):
        return {"$": "decimal", "v": str(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, time):
        return {"$": "time", "v": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, UUID):
        return {"$": "uuid", "v": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$": "bytes", "v": base64.b64encode(bytes(value)).decode()}
    return {"$": "str", "v": str(value)}


_DECODE: dict[str, Any] = {
    "decimal": Decimal,
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timedelta": lambda v: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "uuid": UUID,
    "bytes": base64.b64decode,
    "str": str,
}


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        kind, inner = value["$"], value["v"]
        if kind == "dict":
            return {_hashable(decode(k)): decode(v) for k, v in inner}
        return _DECODE[kind](inner)
    return value


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


# --- the server ---------------------------------------------------------------------


class WarehouseServer:
    """Serves one DuckDB file to clients that know the token, until stopped."""

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = warehouse
        self.token = secrets.token_urlsafe(32)
        self.stopping = threading.Event()

    def serve(self, connection: Any) -> None:
        """Answer clients on ``connection`` (the open warehouse) until :meth:`stop`."""
        with socket.create_server((HOST, 0)) as listener:
            listener.settimeout(0.5)
            port = listener.getsockname()[1]
            address = address_file(self.warehouse)
            write_private(address, json.dumps({"host": HOST, "port": port, "token": self.token}))
            try:
                while not self.stopping.is_set():
                    try:
                        client, _ = listener.accept()
                    except TimeoutError:
                        continue
                    client.settimeout(None)
                    threading.Thread(target=self._client, args=(connection, client), daemon=True).start()
            finally:
                with contextlib.suppress(OSError):
                    if json.loads(address.read_text()).get("port") == port:
                        address.unlink()

    def stop(self) -> None:
        self.stopping.set()

    def _client(self, connection: Any, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError, ValueError):
            hello = receive(client, MAX_HELLO)
            if hello is None or not hmac.compare_digest(str(hello.get("token", "")), self.token):
                send(client, {"ok": False, "error": "Error", "message": "refused: wrong token"})
                return
            read_only = bool(hello.get("read_only"))
            cursor = connection.cursor()  # its own connection to the one database
            try:
                send(client, {"ok": True})
                while (request := receive(client)) is not None:
                    send(client, answer(cursor, request, read_only))
            finally:
                cursor.close()  # rolls back what the client left open


def answer(cursor: Any, request: dict[str, Any], read_only: bool) -> dict[str, Any]:
    """Run one request on the client's connection; a DuckDB error is an answer too."""
    import duckdb

    op = request.get("op")
    try:
        if op == "execute":
            text = str(request.get("sql", ""))
            if not read_only:
                return {"ok": True, "rows": encode(cursor.execute(text).fetchall())}
            if len(duckdb.extract_statements(text)) != 1:  # a second one could end the transaction
                return {"ok": False, "error": "Error", "message": "a reader runs one statement at a time"}
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            try:
                return {"ok": True, "rows": encode(cursor.execute(text).fetchall())}
            finally:
                cursor.execute("ROLLBACK")
        if op in ("begin", "commit", "rollback") and not read_only:
            getattr(cursor, op)()
            return {"ok": True}
        return {"ok": False, "error": "Error", "message": f"not a request: {op!r}"}
    except duckdb.Error as exc:
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)}


# --- the client ---------------------------------------------------------------------


class RemoteResult:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


class RemoteConnection:
    """A connection to the warehouse through its server: what the engine uses of a DuckDB
    connection (``execute(...).fetchall()``, ``begin``, ``commit``, ``rollback``, ``close``)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def execute(self, text: str) -> RemoteResult:
        rows = self._call({"op": "execute", "sql": text})["rows"]
        return RemoteResult([tuple(row) for row in decode(rows)])

    def begin(self) -> None:
        self._call({"op": "begin"})

    def commit(self) -> None:
        self._call({"op": "commit"})

    def rollback(self) -> None:
        self._call({"op": "rollback"})

    def close(self) -> None:
        self.sock.close()

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        import duckdb

        try:
            send(self.sock, request)
            reply = receive(self.sock)
        except (OSError, ValueError) as exc:
            raise duckdb.IOException(f"lost the warehouse server: {exc}") from exc
        if reply is None:
            raise duckdb.IOException("the warehouse server closed the connection")
        if not reply.get("ok"):
            raise _error(reply)
        return reply


def _error(reply: dict[str, Any]) -> Exception:
    """The DuckDB exception the server's answer names (``duckdb.Error`` for any other name)."""
    import duckdb

    kind = getattr(duckdb, str(reply.get("error")), None)
    cls = kind if isinstance(kind, type) and issubclass(kind, duckdb.Error) else duckdb.Error
    return cls(str(reply.get("message", "")))


def connect(warehouse: Path, read_only: bool) -> RemoteConnection | None:
    """A connection through the server of ``warehouse``; ``None`` when none answers."""
    try:
        address = json.loads(address_file(warehouse).read_text())
        host, port, token = str(address["host"]), int(address["port"]), str(address["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except (OSError, OverflowError):  # OverflowError: a port out of range
        return None  # the server stopped (or crashed) and left its address behind
    try:
        send(sock, {"token": token, "read_only": read_only})
        reply = receive(sock)
    except (OSError, ValueError):
        reply = None
    if not reply or not reply.get("ok"):
        sock.close()
        return None  # something else took the port
    sock.settimeout(None)
    return RemoteConnection(sock)


def answers(warehouse: Path) -> bool:
    """Whether a server of ``warehouse`` answers."""
    connection = connect(warehouse, read_only=True)
    if connection is not None:
        connection.close()
    return connection is not None


# --- the process --------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """``python -m dagmesh.engines.duckdb_server WAREHOUSE``: serve until SIGTERM or SIGINT."""
    from dagmesh.engines.duckdb import connect_file

    (path,) = argv
    warehouse = Path(path).resolve()
    server = WarehouseServer(warehouse)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: server.stop())
    connection = connect_file(warehouse, read_only=False)
    try:
        server.serve(connection)
    finally:
        connection.close()  # a checkpoint: the next process to open the file finds it whole
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
