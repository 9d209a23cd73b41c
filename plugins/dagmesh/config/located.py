"""Reading a located YAML document into a model, every problem at its ``path:line:col``.

:func:`read` validates a document (from :mod:`dagmesh.config.yamlfile`) against a model of
:mod:`dagmesh.config.model` and returns the value and every problem at once. Unknown and
missing keys are reported by the models themselves as they read each mapping (they know
what they are called and which keys they hold); pydantic's own errors are mapped back to
the line of the value through the error's path in the document, in dagmesh's wording.
A value read without errors is then told where each of its parts came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from dagmesh.config.model import Located, Origin
from dagmesh.config.types import describe
from dagmesh.config.yamlfile import Place, YamlMap, YamlSeq
from dagmesh.errors import ConfigError, Diagnostics, Location, did_you_mean

M = TypeVar("M", bound=Located)

#: Errors the models report themselves, with better words, while reading a mapping.
_SELF_REPORTED = {"missing", "extra_forbidden"}


def read(
    model: type[M], document: Any, path: str, what: str, diagnostics: Diagnostics, **context: Any
) -> M | None:
    """``document`` as a ``model`` (``None`` when it has errors); problems go to ``diagnostics``.

    ``what`` names the document in messages (``a domain file``); ``context`` is passed to
    the models' validators (the mesh's ``defaults`` for a domain).
    """
    if document is None:
        diagnostics.error(Location(path), f"{what} is empty")
        return None
    if not isinstance(document, YamlMap):
        diagnostics.error(Location(path), f"{what} must be a mapping of keys, not {describe(document)}")
        return None
    problems = Diagnostics()
    try:
        value = model.model_validate(document, context={"problems": problems, **context})
    except ValidationError as exc:
        value = None
        for error in exc.errors(include_url=False):
            if error["type"] not in _SELF_REPORTED:
                problems.add(_problem(error, document, path))
    except RecursionError:  # unreachable with the reader's depth limit; never a traceback
        problems.error(Location(path), "the document is nested too deeply to read")
        value = None
    diagnostics.extend(problems)
    if value is None or problems.errors:
        return None
    locate(value, document, document.loc)
    return value


def _problem(error: Any, document: YamlMap, path: str) -> ConfigError:
    where, key, in_list = _where(document, tuple(error["loc"]), path)
    kind, context, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "dagmesh":
        message = str(context.get("message", error["msg"]))
    elif kind == "dagmesh_value":
        if in_list:
            message = f"{context['value']} in '{key}' {context['reason']}"
        else:
            message = f"'{key}' {context['reason']}{context['ending']}"
    elif kind == "dagmesh_kind":
        message = _unknown_kind(value, str(context["what"]), str(context["kinds"]).split(", "))
    elif kind == "dagmesh_shape":
        message = str(context["message"]).replace("{value}", describe(value))
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        message = f"{_named(key, in_list)} must be a mapping, not {describe(value)}"
    elif kind in ("tuple_type", "list_type"):
        message = f"{_named(key, in_list)} must be a list, not {describe(value)}"
    elif kind == "literal_error":
        message = f"{_named(key, in_list)} must be {context.get('expected', '')}, not {describe(value)}"
    else:
        message = f"{_named(key, in_list)}: {error['msg']}"
    return ConfigError.at(where, message)


def _named(key: str, in_list: bool) -> str:
    return f"items of '{key}'" if in_list else f"'{key}'" if key else "the value"


def _unknown_kind(value: Any, what: str, kinds: list[str]) -> str:
    if isinstance(value, str):
        name: Any = value
    elif isinstance(value, Mapping) and len(value) == 1:
        name = next(iter(value))
    else:
        return f"a {what} is a name or a mapping with one key: one of {', '.join(kinds)}"
    return f"unknown {what} {describe(name)}{did_you_mean(str(name), kinds)}; known: {', '.join(kinds)}"


def _where(document: YamlMap, loc: tuple[Any, ...], path: str) -> tuple[Location, str, bool]:
    """Where the value an error's path leads to is, as far as the document goes (a union's
    tag, or a key the document does not have, is stepped over); the last key on the way;
    and whether the value is an item of a list. A mapping key's own error (``[key]``) is
    located at the key."""
    node: Any = document
    where = document.loc if isinstance(document.loc, Location) else Location(path)
    parent: YamlMap | None = None
    key, in_list = "", False
    for step in loc:
        if step == "[key]":
            return (parent.key_loc(key) if parent is not None else where), key, False
        if isinstance(node, YamlMap) and not isinstance(step, int) and step in node:
            parent, key, in_list = node, str(step), False
            where, node = node.value_loc(step), node[step]
        elif isinstance(node, YamlSeq) and isinstance(step, int) and 0 <= step < len(node):
            where, node, in_list = node.item_loc(step), node[step], True
        elif isinstance(step, str) and not key:
            key = step
    return where, key, in_list


def locate(value: Any, node: Any, where: Location, name: str | None = None) -> None:
    """Tell ``value`` (and everything in it) where it was read from: the ``node`` of the
    document it came from and the location ``where``; entries of a mapping get their name."""
    _locate(value, node, where.path, (where.line, where.col), name)


def _locate(value: Any, node: Any, path: str, at: Place, name: str | None = None) -> None:
    if isinstance(value, Located):
        if isinstance(node, YamlMap):
            items = {k: v.item_at for k, v in node.items() if isinstance(v, YamlSeq)}
            origin = Origin(path, at, node.at, node.value_at, items)
        else:
            origin = Origin(path, at, at, {}, {})
        object.__setattr__(value, "_origin", origin)
        if name is not None:
            object.__setattr__(value, "_name", name)
        for field, key in type(value).nested_fields:
            child = getattr(value, field)
            if isinstance(node, YamlMap) and key in node:
                _locate(child, node[key], path, node.value_at.get(key, at))
            else:
                _locate(child, None, path, at)
    elif isinstance(value, Mapping):
        entries = node if isinstance(node, YamlMap) else None
        for key, child in value.items():
            if entries is not None and key in entries:
                _locate(child, entries[key], path, entries.key_at.get(key, at), key)
            else:
                _locate(child, None, path, at, key if isinstance(key, str) else None)
    elif isinstance(value, tuple):
        seq = node if isinstance(node, YamlSeq) else None
        for index, child in enumerate(value):
            if isinstance(child, (Located, Mapping, tuple)):
                if seq is not None and index < len(seq):
                    _locate(child, seq[index], path, seq.item_at[index])
                else:
                    _locate(child, None, path, at)
