"""``dagmesh airflow``'s watch on the project: a changed config or SQL file re-parses the
DAGs it decides at once, not at the DAG processor's next round.

The DAG processor (its default ``file_parsing_sort_mode``, ``modified_time``) parses a DAG
file whose modification time is newer than its last parse ahead of its interval. A
domain's DAG file never changes when its YAML or SQL does, so when a config, SQL or
macro file (or the environments file) changed, :class:`DagWatch` touches each DAG file whose
:mod:`~dagmesh.airflow.dag_cache` entry no longer holds (one of the files that decided its
last parse, its DAG or its import error, changed; or it has none), and the index file.
The record that decides whether a parse may reuse its last result decides which files
are re-parsed: one mechanism. A domain a change does not affect is not re-parsed, so the
processor's own interval can be long (a full round is only a fallback). The watch reads
only file metadata until something changed; it imports no Airflow. (Without a DAG cache
every DAG file counts as affected.)
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from dagmesh.airflow import dag_cache
from dagmesh.airflow.dag_files import DOMAIN_DAGS_DIR, INDEX_FILE
from dagmesh.config.environments import STATE_FILE
from dagmesh.config.files import CONFIG_DIR, SQL_DIR, forget_folders
from dagmesh.templating.macros import MACRO_DIR

#: What a domain's DAG is built from (besides dagmesh's code and the DAGMESH_* settings):
#: the configs, the SQL, the macros, and the environments `dagmesh env create` made.
WATCHED = (CONFIG_DIR, SQL_DIR, MACRO_DIR)
WATCHED_FILES = (STATE_FILE.as_posix(),)


def fingerprint(root: Path) -> frozenset[tuple[str, int, int, int]]:
    """Every watched file's path, inode, size and modification time (hidden files, such as
    an editor's swap files, are not part of the project)."""
    found = set()
    for name in WATCHED_FILES:
        with contextlib.suppress(OSError):
            info = os.stat(root / name)
            found.add((str(root / name), info.st_ino, info.st_size, info.st_mtime_ns))
    for top in WATCHED:
        for folder, dirs, files in os.walk(root / top):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.startswith("."):
                    continue
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:  # removed while walking: the next look sees it gone
                    continue
                found.add((path, info.st_ino, info.st_size, info.st_mtime_ns))
    return frozenset(found)


def stale_dag_files(root: Path) -> list[Path]:
    """The DAG files whose domain's cached spec no longer holds, and the index file."""
    forget_folders()  # a folder added since the last look is searched too
    files = sorted((root / DOMAIN_DAGS_DIR).glob("*.py"))
    return [*(path for path in files if dag_cache.recall(root, path.stem) is None), root / INDEX_FILE]


@dataclass
class DagWatch:
    """Call :meth:`look` every second or so while Airflow runs."""

    root: Path
    seen: frozenset[tuple[str, int, int, int]] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.seen = fingerprint(self.root)

    def look(self) -> list[Path]:
        """Touch the DAG files a change since the last look affects; returns them."""
        now = fingerprint(self.root)
        if now == self.seen:
            return []
        self.seen = now
        touched = []
        for path in stale_dag_files(self.root):
            try:
                os.utime(path)
            except OSError:  # removed meanwhile: the index file reports a missing one
                continue
            touched.append(path)
        return touched
