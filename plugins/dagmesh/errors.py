"""Problems found in a mesh's configuration or SQL, as values with a location.

Every check in dagmesh reports through :class:`ConfigError` values collected in a
:class:`Diagnostics` list, so that all problems are reported together as
``path:line:col: error: message`` instead of the first exception that escapes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Location:
    """A place in a project file; ``line`` and ``col`` are 1-based."""

    path: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True, order=True)
class ConfigError:
    """One problem, with the file, line and column it was found at."""

    path: str
    line: int
    col: int
    message: str
    severity: Severity = "error"

    @classmethod
    def at(cls, where: Location, message: str, severity: Severity = "error") -> ConfigError:
        return cls(where.path, where.line, where.col, message, severity)

    @property
    def location(self) -> Location:
        return Location(self.path, self.line, self.col)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message}"


class Diagnostics:
    """An ordered collection of problems; checks append, reporters read."""

    def __init__(self, items: Iterable[ConfigError] = ()) -> None:
        self._items: list[ConfigError] = list(items)

    def error(self, where: Location, message: str) -> None:
        self._items.append(ConfigError.at(where, message))

    def warning(self, where: Location, message: str) -> None:
        self._items.append(ConfigError.at(where, message, "warning"))

    def add(self, item: ConfigError) -> None:
        self._items.append(item)

    def extend(self, items: Iterable[ConfigError]) -> None:
        self._items.extend(items)

    @property
    def errors(self) -> list[ConfigError]:
        return [d for d in self._items if d.is_error]

    @property
    def warnings(self) -> list[ConfigError]:
        return [d for d in self._items if not d.is_error]

    def sorted(self) -> list[ConfigError]:
        return sorted(set(self._items))

    def __iter__(self) -> Iterator[ConfigError]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``(did you mean 'x'?)`` suffix when a close candidate exists, else ``''``."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
