"""YAML reading that remembers where every key and value came from, and that no input can
crash, hang or exhaust.

Mappings load as :class:`YamlMap` and sequences as :class:`YamlSeq`: the plain ``dict``
and ``list`` they look like, plus the location of each entry and the key they sit under,
so config checks can point at the exact line of a bad value and name what it belongs to.

Config files arrive in pull requests, so the document is built here from libyaml's event
stream (never by a recursive loader, which a deeply nested file can crash): nesting
deeper than :data:`MAX_DEPTH`, or aliases that expand to more than :data:`MAX_VALUES`
values, stop reading with a located problem. Duplicate keys, which PyYAML silently
collapses, are reported; merge keys (``<<: *base``) are supported, the mapping's own keys
overriding merged ones. Only YAML's plain types are read (no tags that build objects).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml
from yaml import events
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

from dagmesh.errors import ConfigError, Location

#: How deep mappings and lists may nest; configs need fewer than ten levels.
MAX_DEPTH = 64
#: How many values a document may hold, every expansion of an alias counted.
MAX_VALUES = 100_000

#: Parses only (events): libyaml's parser when installed, which does not recurse.
_EVENTS: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALARS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:str",
}


Place = tuple[int, int]
"""A line and column (1-based) in the document's file: kept as plain tuples, which the
garbage collector does not track, and made into a :class:`Location` when asked for."""


class YamlMap(dict[Any, Any]):
    """A mapping with the location of itself, each key and each value; and the key it sits
    under in its parent and the key its parent sits under (``None`` at the top). Nodes hold
    no references to their parents: a document is a tree, not a web of cycles for the
    garbage collector to walk."""

    path: str
    at: Place
    key_at: dict[Any, Place]
    value_at: dict[Any, Place]
    key: Any = None
    parent_key: Any = None

    @property
    def loc(self) -> Location:
        return Location(self.path, *self.at)

    def key_loc(self, key: Any) -> Location:
        return Location(self.path, *self.key_at.get(key, self.at))

    def value_loc(self, key: Any) -> Location:
        place = self.value_at.get(key) or self.key_at.get(key, self.at)
        return Location(self.path, *place)


class YamlSeq(list[Any]):
    """A sequence with the location of itself and of each item."""

    path: str
    at: Place
    item_at: list[Place]
    key: Any = None
    parent_key: Any = None

    @property
    def loc(self) -> Location:
        return Location(self.path, *self.at)

    @property
    def item_locs(self) -> list[Location]:
        return [Location(self.path, *place) for place in self.item_at]

    def item_loc(self, index: int) -> Location:
        place = self.item_at[index] if 0 <= index < len(self.item_at) else self.at
        return Location(self.path, *place)


def new_map(path: str, at: Place) -> YamlMap:
    node = YamlMap()
    node.path, node.at, node.key_at, node.value_at = path, at, {}, {}
    return node


def new_seq(path: str, at: Place) -> YamlSeq:
    node = YamlSeq()
    node.path, node.at, node.item_at = path, at, []
    return node


def copy_map(node: YamlMap, keys: list[Any]) -> YamlMap:
    """``node`` with only ``keys``: the same locations and the same place in the document."""
    copy = YamlMap({k: node[k] for k in keys})
    copy.path, copy.at, copy.key_at, copy.value_at = node.path, node.at, node.key_at, node.value_at
    copy.key, copy.parent_key = node.key, node.parent_key
    return copy


class _Stop(Exception):
    """Reading ends here with one problem, at a place in the document."""

    def __init__(self, where: Place, message: str) -> None:
        self.where = where
        self.message = message


@dataclass
class _Open:
    """A mapping or sequence being read."""

    node: YamlMap | YamlSeq
    anchor: str | None
    size: int = 1
    #: For a mapping: the key read and waiting for its value (with its location).
    key: Any = None
    key_at: Place = (1, 1)
    has_key: bool = False
    merges: list[YamlMap] = field(default_factory=list)


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[ConfigError] = []
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.total = 0
        self.document: Any = None
        self.documents = 0
        self.resolver = Resolver()
        self.constructor = SafeConstructor()

    @staticmethod
    def at(event: events.Event) -> Place:
        mark = event.start_mark
        return (mark.line + 1, mark.column + 1) if mark else (1, 1)

    def read(self, text: str) -> None:
        for event in yaml.parse(text, Loader=_EVENTS):
            if isinstance(event, events.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    raise _Stop(self.at(event), "a config file holds one YAML document, found another")
            elif isinstance(event, (events.MappingStartEvent, events.SequenceStartEvent)):
                self.start(event)
            elif isinstance(event, (events.MappingEndEvent, events.SequenceEndEvent)):
                self.end()
            elif isinstance(event, events.ScalarEvent):
                self.scalar(event)
            elif isinstance(event, events.AliasEvent):
                self.alias(event)

    def count(self, size: int, event: events.Event) -> None:
        self.total += size
        if self.total > MAX_VALUES:
            raise _Stop(
                self.at(event),
                f"the document holds more than {MAX_VALUES:,} values (counting every use of an alias)",
            )
        for frame in self.stack:
            frame.size += size

    def start(self, event: events.CollectionStartEvent) -> None:
        where = self.at(event)
        is_map = isinstance(event, events.MappingStartEvent)
        if event.tag not in (None, "!", _MAP if is_map else _SEQ):
            raise _Stop(where, _unsupported(event.tag))
        if len(self.stack) >= MAX_DEPTH:
            raise _Stop(where, f"values are nested more than {MAX_DEPTH} levels deep")
        self.count(1, event)
        node: YamlMap | YamlSeq = new_map(self.path, where) if is_map else new_seq(self.path, where)
        if event.anchor:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Open(node, event.anchor))

    def end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.node, YamlMap) and frame.merges:
            _merge(frame.node, frame.merges)
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (frame.node, frame.size)
        self.add(frame.node, frame.node.at)

    def scalar(self, event: events.ScalarEvent) -> None:
        where = self.at(event)
        self.count(1, event)
        tag = event.tag
        if tag in (None, "!"):
            tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _MERGE and self.stack and isinstance(self.stack[-1].node, YamlMap):
            value: Any = _MergeKey()
        elif tag not in _SCALARS:
            raise _Stop(where, _unsupported(tag))
        else:
            node = yaml.ScalarNode(tag, event.value, style=event.style)
            try:
                value = self.constructor.yaml_constructors[tag](self.constructor, node)
            except (ConstructorError, ValueError, OverflowError) as exc:
                raise _Stop(where, f"cannot read the value '{event.value[:40]}': {exc}") from None
            if isinstance(value, float) and not math.isfinite(value):
                raise _Stop(where, f"'{event.value[:40]}' is not a finite number")
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        self.add(value, where)

    def alias(self, event: events.AliasEvent) -> None:
        where = self.at(event)
        if event.anchor in self.open_anchors:
            raise _Stop(where, f"the alias *{event.anchor} is used inside the value it names")
        if event.anchor not in self.anchors:
            raise _Stop(
                where, f"the alias *{event.anchor} names no anchor (&{event.anchor}) defined before it"
            )
        value, size = self.anchors[event.anchor]
        self.count(size, event)
        self.add(value, where, alias=True)

    def add(self, value: Any, where: Place, alias: bool = False) -> None:
        if not self.stack:
            self.document = value
            return
        frame = self.stack[-1]
        parent = frame.node
        if isinstance(parent, YamlSeq):
            _adopt(value, parent, len(parent), alias)
            parent.append(value)
            parent.item_at.append(where)
            return
        if not frame.has_key:
            frame.key, frame.key_at, frame.has_key = value, where, True
            return
        key, key_at = frame.key, frame.key_at
        frame.has_key = False
        key_loc = Location(self.path, *key_at)
        if isinstance(key, _MergeKey):
            frame.merges.extend(_merge_sources(value, where))
            return
        if isinstance(key, (YamlMap, YamlSeq)) or (isinstance(key, float) and math.isnan(key)):
            self.problems.append(ConfigError.at(key_loc, "a mapping key must be a plain value"))
            return
        if key in parent:
            first, _ = parent.key_at[key]
            self.problems.append(
                ConfigError.at(key_loc, f"duplicate key '{key}' (first defined on line {first})")
            )
            return
        _adopt(value, parent, key, alias)
        parent[key] = value
        parent.key_at[key] = key_at
        parent.value_at[key] = where


def _unsupported(tag: str) -> str:
    shown = tag.replace("tag:yaml.org,2002:", "!!")
    return f"unsupported YAML tag '{shown}': configs hold plain values only"


class _MergeKey:
    """The ``<<`` key of a mapping."""


def _merge_sources(value: Any, where: Place) -> list[YamlMap]:
    if isinstance(value, YamlMap):
        return [value]
    if isinstance(value, YamlSeq) and all(isinstance(v, YamlMap) for v in value):
        return list(value)
    raise _Stop(where, "a merge key (<<) takes a mapping or a list of mappings, such as *defaults")


def _merge(node: YamlMap, sources: list[YamlMap]) -> None:
    """Merged keys first (the earliest source winning), then the mapping's own keys, which
    override merged ones: YAML's merge-key rule, in PyYAML's key order."""
    own = list(node.items())
    own_keys, own_values = dict(node.key_at), dict(node.value_at)
    node.clear()
    node.key_at.clear()
    node.value_at.clear()
    for source in sources:
        for key, value in source.items():
            if key not in node and key not in own_keys:
                node[key] = value
                node.key_at[key] = source.key_at.get(key, source.at)
                node.value_at[key] = source.value_at.get(key, source.at)
    for key, value in own:
        node[key] = value
        node.key_at[key] = own_keys[key]
        node.value_at[key] = own_values[key]


def _adopt(value: Any, parent: YamlMap | YamlSeq, key: Any, alias: bool) -> None:
    """``value`` now sits under ``key`` in ``parent`` (an alias keeps where it was defined)."""
    if isinstance(value, (YamlMap, YamlSeq)) and not alias:
        value.key = key
        for child in value.values() if isinstance(value, YamlMap) else value:
            if isinstance(child, (YamlMap, YamlSeq)):
                child.parent_key = key


def parse_yaml(text: str, display_path: str) -> tuple[Any, list[ConfigError]]:
    """Parse YAML text; returns the document (``None`` when unreadable) and problems."""
    reader = _Reader(display_path)
    try:
        reader.read(text)
    except _Stop as stop:
        return None, [ConfigError(display_path, *stop.where, stop.message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark and exc.problem:
            started = exc.context_mark.line + 1
            reason += f" ({exc.context} started on line {started})"
        return None, [ConfigError(display_path, line, col, f"invalid YAML: {reason}")]
    except yaml.reader.ReaderError as exc:
        line, col = _position(text, exc.position)
        return None, [
            ConfigError(
                display_path, line, col, f"invalid YAML: {exc.reason} (character #x{exc.character:04x})"
            )
        ]
    except yaml.YAMLError as exc:
        return None, [ConfigError(display_path, 1, 1, f"invalid YAML: {exc}")]
    return reader.document, reader.problems


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


# --------------------------------------------------------------------------- cache form


def to_data(value: Any) -> Any:
    """A located document as JSON-compatible data (:func:`from_data` reads it back)."""
    if isinstance(value, YamlMap):
        return {
            "at": value.at,
            "map": [
                [to_data(k), to_data(v), value.key_at.get(k, value.at), value.value_at.get(k, value.at)]
                for k, v in value.items()
            ],
        }
    if isinstance(value, YamlSeq):
        return {"at": value.at, "seq": [[to_data(v), value.item_at[i]] for i, v in enumerate(value)]}
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    return value


def from_data(data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        return data
    if "datetime" in data:
        return datetime.fromisoformat(data["datetime"])
    if "date" in data:
        return date.fromisoformat(data["date"])
    if "map" in data:
        node = new_map(path, tuple(data["at"]))
        for key_data, value_data, key_at, value_at in data["map"]:
            key, value = from_data(key_data, path), from_data(value_data, path)
            _adopt(value, node, key, alias=False)
            node[key] = value
            node.key_at[key] = tuple(key_at)
            node.value_at[key] = tuple(value_at)
        return node
    seq = new_seq(path, tuple(data["at"]))
    for index, (value_data, item_at) in enumerate(data["seq"]):
        value = from_data(value_data, path)
        _adopt(value, seq, index, alias=False)
        seq.append(value)
        seq.item_at.append(tuple(item_at))
    return seq
