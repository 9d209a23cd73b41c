"""The specs of the domains' DAGs, kept while the files they were built from read the same.

Airflow's DAG processor imports each domain's DAG file every few minutes, each time in
a fresh process. Loading the config model, validating the configs and analysing the
mesh costs far more than building the DAG, so :mod:`dagmesh.airflow.loader` keeps each
domain's :class:`~dagmesh.stages.dag_spec.DagSpec` here with a record of every file
read, listed or searched to build it (:class:`~dagmesh.config.files.RecordingFiles`);
a domain that does not load keeps its import error the same way, so an unchanged broken
domain is not loaded again either, and :mod:`dagmesh.airflow.dag_watch` can tell from an
entry whether the DAG processor's last parse of a domain still holds.
An entry is used only when all of those still give the same, and only by the dagmesh code
that wrote it, under a key naming the project's path, the domain and the ``DAGMESH_*``
environment (so each domain has one entry): a changed input is a rebuilt spec, never a
stale DAG.

Entries are not re-validated when used, so they live outside the project, where a
pull request cannot put one: ``$DAGMESH_DAG_CACHE``, else ``$XDG_CACHE_HOME/dagmesh/dags``
or ``~/.cache/dagmesh/dags``. ``DAGMESH_DAG_CACHE=0`` (or ``DAGMESH_PARSE_CACHE=0``)
turns it off; an unwritable directory simply means every parse is a fresh one.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any, cast

from dagmesh.config.cache import CACHE_VAR, CODE, ParseCache
from dagmesh.config.files import FilesRecord, unchanged
from dagmesh.stages.dag_spec import DagSpec

DAG_CACHE_VAR = "DAGMESH_DAG_CACHE"


def cache_dir() -> Path | None:
    configured = os.environ.get(DAG_CACHE_VAR)
    if configured == "0" or os.environ.get(CACHE_VAR) == "0":
        return None
    if configured:
        return Path(configured)
    try:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:  # no home directory (a container's nameless user): no cache
        return None
    return Path(base) / "dagmesh" / "dags"


def _entry_key(root: Path, domain: str) -> str:
    """One entry per project, domain and settings: a domain's new spec replaces its old one."""
    settings = sorted(f"{k}={os.environ[k]}" for k in os.environ if k.startswith("DAGMESH_"))
    text = "\0".join(["dag", _resolved(str(root)), domain, *settings])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=16)
def _resolved(root: str) -> str:
    """The project's real path (once per process: a DagBag asks for each domain)."""
    return os.path.realpath(root)


#: What a parse of a domain's DAG file gave: its spec, or the import error of a domain
#: that does not load (:func:`dagmesh.airflow.loader._not_loaded`).
Parsed = DagSpec | str


def recall(root: Path, domain: str) -> Parsed | None:
    """What ``domain`` of the project at ``root`` parsed to, if its inputs are unchanged."""
    cache, key = ParseCache(cache_dir()), _entry_key(root, domain)
    entry = cache.get(key)
    settled: dict[str, list[int]] = {}
    if (
        not isinstance(entry, dict)
        or entry.get("code") != CODE
        or not isinstance(entry.get("parsed"), dict | str)
        or not unchanged(root, entry.get("inputs"), settled)
    ):
        return None
    if settled:  # files written just before the entry was: from now on, their stat will do
        entry["inputs"]["stat"].update(settled)
        cache.put(key, entry)
    return cast(Parsed, entry["parsed"])


def store(root: Path, domain: str, inputs: FilesRecord, parsed: Parsed) -> None:
    """Keep what ``domain`` parsed to, decided by what ``inputs`` recorded, for the next parse."""
    entry: dict[str, Any] = {"code": CODE, "domain": domain, "inputs": inputs, "parsed": parsed}
    ParseCache(cache_dir()).put(_entry_key(root, domain), entry)
