"""Typed, located reading of one YAML mapping.

:class:`Fields` wraps a :class:`~dagmesh.config.yamlfile.YamlMap` with the keys it may
hold; each accessor converts one value and records a located error (and returns the
default) when the value has the wrong type. Unknown keys and missing required keys are
reported when the reader is created, with a did-you-mean for misspellings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from dagmesh.config.yamlfile import YamlMap, YamlSeq
from dagmesh.errors import Diagnostics, Location, did_you_mean

T = TypeVar("T")

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION_PART = re.compile(r"(\d+)\s*(w|d|h|m|s)")
_DURATION = re.compile(r"^\s*(\d+\s*[wdhms]\s*)+$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def describe(value: Any) -> str:
    """How a value reads in an error message: its YAML-ish kind and text."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"'{value}'"


def parse_duration(value: Any) -> timedelta | None:
    """``5m``, ``2h``, ``1h30m``, ``3d``, ``1w``; a bare integer is seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return timedelta(seconds=value)
    if isinstance(value, str) and _DURATION.match(value):
        total = timedelta()
        for amount, unit in _DURATION_PART.findall(value):
            total += timedelta(**{_UNITS[unit]: int(amount)})
        return total
    return None


class Fields:
    """Reads the keys of one mapping, recording located problems in ``diagnostics``."""

    def __init__(
        self,
        node: YamlMap,
        diagnostics: Diagnostics,
        what: str,
        allowed: Iterable[str],
        required: Iterable[str] = (),
    ) -> None:
        self.node = node
        self.diagnostics = diagnostics
        self.what = what
        allowed = list(allowed)
        for key in node:
            if key not in allowed:
                self.diagnostics.error(
                    node.key_loc(key),
                    f"unknown key '{key}' in {what}{did_you_mean(str(key), allowed)}",
                )
        for key in required:
            if key not in node or node[key] is None:
                where = node.key_loc(key) if key in node else node.loc
                self.diagnostics.error(where, f"{what} is missing required key '{key}'")

    @property
    def loc(self) -> Location:
        return self.node.loc

    def has(self, key: str) -> bool:
        return key in self.node and self.node[key] is not None

    def at(self, key: str) -> Location:
        """Where the value of ``key`` is (the mapping itself when the key is absent)."""
        return self.node.value_loc(key) if key in self.node else self.node.loc

    def key_at(self, key: str) -> Location:
        return self.node.key_loc(key)

    def raw(self, key: str) -> Any:
        return self.node.get(key)

    def bad(self, key: str, expected: str) -> None:
        self.diagnostics.error(self.at(key), f"'{key}' must be {expected}, not {describe(self.node[key])}")

    def text(self, key: str, default: str = "") -> str:
        value = self.node.get(key)
        if value is None:
            return default
        if isinstance(value, (dict, list, bool)):
            self.bad(key, "a string")
            return default
        return str(value)

    def identifier(self, key: str, default: str = "") -> str:
        value = self.text(key, default)
        if value and not IDENTIFIER.match(value):
            self.diagnostics.error(
                self.at(key),
                f"'{key}' must be a lowercase identifier (letters, digits, _), not '{value}'",
            )
            return default
        return value

    def choice(self, key: str, choices: Iterable[str], default: str | None = None) -> str | None:
        choices = list(choices)
        value = self.node.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or value not in choices:
            hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
            listed = ", ".join(choices)
            self.diagnostics.error(
                self.at(key), f"'{key}' must be one of {listed}; got {describe(value)}{hint}"
            )
            return default
        return value

    def integer(self, key: str, default: int, minimum: int | None = None) -> int:
        value = self.node.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(key, "an integer")
            return default
        if minimum is not None and value < minimum:
            self.diagnostics.error(self.at(key), f"'{key}' must be at least {minimum}, not {value}")
            return default
        return value

    def number(self, key: str) -> float | None:
        value = self.node.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.bad(key, "a number")
            return None
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.node.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.bad(key, "true or false")
            return default
        return value

    def duration(self, key: str, default: timedelta | None) -> timedelta | None:
        value = self.node.get(key)
        if value is None:
            return default
        parsed = parse_duration(value)
        if parsed is None:
            self.bad(key, "a duration such as 30s, 5m, 2h, 1d or 1h30m")
            return default
        return parsed

    def day(self, key: str, default: date | None) -> date | None:
        value = self.node.get(key)
        if value is None:
            return default
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.bad(key, "a date (YYYY-MM-DD)")
        return default

    def mapping(self, key: str) -> YamlMap | None:
        value = self.node.get(key)
        if value is None:
            return None
        if not isinstance(value, YamlMap):
            self.bad(key, "a mapping")
            return None
        return value

    def sequence(self, key: str) -> YamlSeq | None:
        value = self.node.get(key)
        if value is None:
            return None
        if not isinstance(value, YamlSeq):
            self.bad(key, "a list")
            return None
        return value

    def str_list(self, key: str, identifiers: bool = False) -> tuple[str, ...]:
        """A list of strings; a single string is accepted as a one-item list."""
        value = self.node.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            items: list[Any] = [value]
            locs = [self.at(key)]
        elif isinstance(value, YamlSeq):
            items, locs = list(value), [value.item_loc(i) for i in range(len(value))]
        else:
            self.bad(key, "a list of strings")
            return ()
        result: list[str] = []
        for item, where in zip(items, locs, strict=True):
            if not isinstance(item, (str, int)) or isinstance(item, bool):
                self.diagnostics.error(where, f"items of '{key}' must be strings, not {describe(item)}")
            elif identifiers and not IDENTIFIER.match(str(item)):
                self.diagnostics.error(
                    where,
                    f"'{item}' in '{key}' must be a lowercase identifier (letters, digits, _)",
                )
            else:
                result.append(str(item))
        return tuple(result)
