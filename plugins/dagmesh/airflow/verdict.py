"""Failing a task with a verdict instead of a crash.

A failed test, a stale source or an upstream that never certified is an expected
outcome: the task fails, and its log must read as the verdict (what failed, what
stays published), not as a crash. Airflow's task runner logs a traceback for every
exception it treats as an error, with one exception: a ``SystemExit`` is logged as a
one-line "Task exited". :class:`Verdict` is that exit, carrying its message; the
operators log the verdict's lines themselves before raising it, and their retry
policy fails the task at once (retrying does not change a verdict).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule


class Verdict(SystemExit):
    """The task fails because of the data, the config or an upstream, not because of a bug."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(1)
        self.message = message
        self.details = list(details)

    def __str__(self) -> str:
        return self.message

    def log_to(self, log: Any) -> None:
        """Write the verdict as the task log's last lines: the message, then one line per detail."""
        log.error("%s", self.message)
        for line in self.details:
            log.error("%s", line)


#: Every stage operator's retry policy: a verdict fails the task without retries; anything
#: else (a lost connection, a bug) is retried as the task's ``retries`` say.
VERDICT_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=f"{Verdict.__module__}.{Verdict.__qualname__}",
            action=RetryAction.FAIL,
            reason="an expected outcome (a verdict), not an error: retrying would not change it",
        )
    ]
)
