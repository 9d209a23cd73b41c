"""Telling people what a long step is waiting for, and until when.

Stages and engines call :func:`waiting` when they must wait (for consistent inputs, an
upstream, the warehouse's lock). It logs, so Airflow shows it in the task log, and it
tells whoever listens: ``dagmesh run`` prints it in its console progress.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

log = logging.getLogger("dagmesh")

Listener = Callable[[str], None]
_listeners: list[Listener] = []


def waiting(what: str, until: datetime | None = None) -> str:
    """Report a wait: ``waiting for <what> until <when> UTC``; returns the sentence."""
    message = f"waiting for {what}"
    if until is not None:
        message += f" until {until:%Y-%m-%d %H:%M:%S} UTC"
    log.info("%s", message)
    for listener in list(_listeners):
        listener(message)
    return message


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call ``listener`` with every wait reported inside the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
