"""Waiting in the triggerer, so a waiting task holds no worker or warehouse slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class WaitTrigger(BaseTrigger):
    """Fires after ``seconds``, carrying when the wait began.

    Used by ``check_inputs`` (waiting for consistent inputs) and deferrable sensors. The
    start travels in the event (not in the deferral's kwargs, which ``dag.test()``
    replaces by the event), so the resumed task knows how long it has waited in total.
    """

    def __init__(self, waiting_since: str, seconds: float) -> None:
        super().__init__()
        self.waiting_since = waiting_since
        self.seconds = seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"waiting_since": self.waiting_since, "seconds": self.seconds},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(self.seconds)
        yield TriggerEvent({"waiting_since": self.waiting_since})
