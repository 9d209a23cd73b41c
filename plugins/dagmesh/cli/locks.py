"""One ``dagmesh run`` of a domain at a time, per environment.

Two runs of one domain would share its build schema: a second run waits for the first
(and says so) instead of publishing one build while registering another. The lock is
an advisory ``flock`` on ``.dagmesh/locks/<environment>/<domain>.lock``; the kernel
releases it when its process ends, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagmesh import progress


@contextmanager
def domain_lock(root: Path, environment: str, domain: str) -> Iterator[None]:
    """Hold the lock of ``domain`` in ``environment``; wait (reporting it) while another run holds it."""
    path = root / ".dagmesh" / "locks" / environment / f"{domain}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            progress.waiting(f"another dagmesh run of {domain} ({holder}) to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
