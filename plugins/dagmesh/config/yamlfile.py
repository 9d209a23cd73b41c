"""YAML reading that remembers where every key and value came from.

Mappings load as :class:`YamlMap` and sequences as :class:`YamlSeq`; both are the
plain ``dict``/``list`` they look like, plus the location of each entry, so config
checks can point at the exact line of a bad value. Duplicate keys, which PyYAML
silently collapses, are reported.
"""

from __future__ import annotations

from typing import Any

import yaml

from dagmesh.errors import ConfigError, Location

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlMap(dict[Any, Any]):
    """A mapping with the location of itself, each key and each value."""

    loc: Location
    key_locs: dict[Any, Location]
    value_locs: dict[Any, Location]

    def key_loc(self, key: Any) -> Location:
        return self.key_locs.get(key, self.loc)

    def value_loc(self, key: Any) -> Location:
        return self.value_locs.get(key, self.key_loc(key))


class YamlSeq(list[Any]):
    """A sequence with the location of itself and of each item."""

    loc: Location
    item_locs: list[Location]

    def item_loc(self, index: int) -> Location:
        return self.item_locs[index] if index < len(self.item_locs) else self.loc


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    display_path: str
    problems: list[ConfigError]


def _loc(loader: _Loader, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(loader.display_path, mark.line + 1, mark.column + 1)


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    result = YamlMap()
    result.loc = _loc(loader, node)
    result.key_locs = {}
    result.value_locs = {}
    yield result
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        where = _loc(loader, key_node)
        try:
            hash(key)
        except TypeError:
            loader.problems.append(ConfigError.at(where, "a mapping key must be a plain value"))
            continue
        if key in result:
            first = result.key_locs[key]
            loader.problems.append(
                ConfigError.at(where, f"duplicate key '{key}' (first defined on line {first.line})")
            )
            continue
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_locs[key] = where
        result.value_locs[key] = _loc(loader, value_node)


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Any:
    result = YamlSeq()
    result.loc = _loc(loader, node)
    result.item_locs = []
    yield result
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_locs.append(_loc(loader, item))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def parse_yaml(text: str, display_path: str) -> tuple[Any, list[ConfigError]]:
    """Parse YAML text; returns the document (``None`` when unreadable) and problems."""
    loader = _Loader(text)
    loader.display_path = display_path
    loader.problems = []
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark and exc.problem:
            started = exc.context_mark.line + 1
            reason += f" ({exc.context} started on line {started})"
        return None, [ConfigError(display_path, line, col, f"invalid YAML: {reason}")]
    except yaml.YAMLError as exc:
        return None, [ConfigError(display_path, 1, 1, f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    return document, loader.problems
