"""A parse cache keyed by content, so an unchanged mesh parses in milliseconds.

Airflow's DAG processor re-parses ``dags/`` every few seconds, each time in a fresh
process. Reading YAML (and Jinja) is most of dagmesh's share of that time, so results are
kept in ``.dagmesh/cache/parse/`` (a JSON file per key) under keys that hash everything a
result depends on: the file's text, ``mesh.yaml``'s text (domains inherit from it), the
file's path, and dagmesh's own source code (all of it: no list of modules to keep). A
changed input or another dagmesh version is a different key: the cache cannot be stale.

Entries are plain JSON, which loading cannot execute, since the directory is writable by
whoever can write the project. A missing, truncated or foreign entry is parsed again; when
the directory is not writable (or ``DAGMESH_PARSE_CACHE=0``) everything is simply parsed.
Within one process, the values made from entries are also kept in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

CACHE_VAR = "DAGMESH_PARSE_CACHE"


def _code_fingerprint() -> str:
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


#: Fingerprint of dagmesh's source code: results made by other code are not used.
CODE = _code_fingerprint()


def key(*parts: str) -> str:
    """The cache key of a result computed from ``parts`` by the current parser code."""
    digest = hashlib.sha256(CODE.encode())
    for part in parts:
        digest.update(b"\0")
        digest.update(part.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class ParseCache:
    """JSON entries by key, one small file per entry, so a partial load reads only what it
    needs; and, for the rest of the process, the values made from them.

    A DagBag that loads every domain's DAG file reads each shared entry (``mesh.yaml``, an
    upstream) from disk once and validates it once.
    """

    _memory: ClassVar[dict[tuple[Path | None, str], Any]] = {}
    MEMORY_LIMIT: ClassVar[int] = 100_000

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._used: set[str] = set()

    @classmethod
    def for_project(cls, root: Path) -> ParseCache:
        if os.environ.get(CACHE_VAR, "1") == "0":
            return cls(None)
        return cls(root / ".dagmesh" / "cache" / "parse")

    def recall(self, cache_key: str) -> Any:
        """The value this process made for ``cache_key`` (``None`` if none yet)."""
        if self.directory is None:
            return None
        value = self._memory.get((self.directory, cache_key))
        if value is not None:
            self._used.add(cache_key)
        return value

    def remember(self, cache_key: str, value: Any) -> None:
        if self.directory is None:
            return
        if len(self._memory) >= self.MEMORY_LIMIT:
            self._memory.clear()
        self._memory[(self.directory, cache_key)] = value

    def get(self, cache_key: str) -> Any:
        """The JSON data stored under ``cache_key``, or ``None``."""
        if self.directory is None:
            return None
        try:
            with (self.directory / cache_key).open("rb") as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError):  # missing, truncated or foreign: parse again
            return None
        self._used.add(cache_key)
        return data

    def put(self, cache_key: str, data: Any) -> None:
        self._used.add(cache_key)
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=self.directory, prefix=".", delete=False) as handle:
                handle.write(json.dumps(data, separators=(",", ":")).encode())
            os.replace(handle.name, self.directory / cache_key)
        except (OSError, TypeError, ValueError):
            self.directory = None  # a read-only project directory: parse every time

    def prune(self) -> None:
        """After a full load: drop entries no current file needs any more."""
        if self.directory is None or not self.directory.is_dir():
            return
        for entry in os.scandir(self.directory):
            if entry.name not in self._used:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
