"""The one clock dagmesh reads: naive UTC, as the registry stores timestamps."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as a naive UTC timestamp (``TIMESTAMP``/``TIMESTAMP_NTZ`` in the registry)."""
    return datetime.now(UTC).replace(tzinfo=None)
