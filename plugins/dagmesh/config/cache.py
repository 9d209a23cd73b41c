"""A parse cache keyed by content, so an unchanged mesh parses in milliseconds.

Airflow's DAG processor re-parses ``dags/`` every few seconds, each time in a fresh
process. Parsing YAML (and Jinja) is most of dagmesh's share of that time, so the
results are kept in ``.dagmesh/cache/parse/`` (a file per key) under keys that hash everything a
result depends on: the file's text, ``mesh.yaml``'s text (domains inherit from it),
the file's path, and the source code of dagmesh's parser. A changed input or a new
dagmesh version is a different key: the cache cannot be stale. When the directory is
not writable (or ``DAGMESH_PARSE_CACHE=0``) everything is simply parsed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, ClassVar

CACHE_VAR = "DAGMESH_PARSE_CACHE"
#: What parse results depend on: the config package (YAML to values), the SQL package
#: (templates and reads of SQL files) and the located-problem types.
_PARSER_CODE = ("config", "sql", "errors.py")


def _code_fingerprint() -> str:
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for part in _PARSER_CODE:
        files = sorted((package / part).rglob("*.py")) if (package / part).is_dir() else [package / part]
        for path in files:
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


_CODE = _code_fingerprint()


def key(*parts: str) -> str:
    """The cache key of a result computed from ``parts`` by the current parser code."""
    digest = hashlib.sha256(_CODE.encode())
    for part in parts:
        digest.update(b"\0")
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


class ParseCache:
    """Results by key, one small file per entry, so a partial load reads only what it needs.

    Entries read or written are also kept in memory for the rest of the process (keys name
    content, so they never go stale): a DagBag that loads every domain's DAG file reads
    each shared entry (``mesh.yaml``, an upstream) from disk once.
    """

    _memory: ClassVar[dict[tuple[Path, str], Any]] = {}
    MEMORY_LIMIT: ClassVar[int] = 100_000

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._used: set[str] = set()

    def _remember(self, cache_key: str, value: Any) -> None:
        assert self.directory is not None
        if len(self._memory) >= self.MEMORY_LIMIT:
            self._memory.clear()
        self._memory[(self.directory, cache_key)] = value

    @classmethod
    def for_project(cls, root: Path) -> ParseCache:
        if os.environ.get(CACHE_VAR, "1") == "0":
            return cls(None)
        return cls(root / ".dagmesh" / "cache" / "parse")

    def get(self, cache_key: str) -> Any:
        if self.directory is None:
            return None
        if (self.directory, cache_key) in self._memory:
            self._used.add(cache_key)
            return self._memory[(self.directory, cache_key)]
        try:
            with (self.directory / cache_key).open("rb") as handle:
                value = pickle.load(handle)
        except Exception:  # missing, truncated or foreign: parse again
            return None
        self._used.add(cache_key)
        self._remember(cache_key, value)
        return value

    def put(self, cache_key: str, value: Any) -> None:
        self._used.add(cache_key)
        if self.directory is None:
            return
        self._remember(cache_key, value)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=self.directory, prefix=".", delete=False) as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(handle.name, self.directory / cache_key)
        except OSError:
            self.directory = None  # a read-only project directory: parse every time

    def prune(self) -> None:
        """After a full load: drop entries no current file needs any more."""
        if self.directory is None or not self.directory.is_dir():
            return
        for entry in os.scandir(self.directory):
            if entry.name not in self._used:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
