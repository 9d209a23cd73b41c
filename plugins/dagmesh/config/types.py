"""The value types of dagmesh's configs: what each accepts, how it reads in the JSON Schema,
and what a problem with it says.

Each type is an ``Annotated`` pydantic type declared once here and used by the models in
:mod:`dagmesh.config.model`. A value that does not fit raises a :func:`problem` (a whole
message) or a :func:`value_problem` (a reason; :mod:`dagmesh.config.located` prefixes the
key and shows the value), so every message reads the same wherever the type is used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from dagmesh.config.cron import PRESETS, fires, normalize_cron
from dagmesh.errors import did_you_mean

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
#: A warehouse name that needs no quoting to be written (a column, a database, a role).
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){2}$")
#: Longest name dagmesh accepts (Snowflake's identifier limit).
MAX_NAME = 255
#: Longest duration dagmesh accepts: ten years.
MAX_DURATION = timedelta(days=3650)
_DURATION = re.compile(r"^\s*(\d{1,12}\s*[wdhms]\s*)+$")
_DURATION_PART = re.compile(r"(\d+)\s*(w|d|h|m|s)")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

#: Contract column types, by the family a warehouse column must belong to.
TYPE_FAMILIES: dict[str, str] = {
    "varchar": "string",
    "string": "string",
    "text": "string",
    "char": "string",
    "integer": "integer",
    "int": "integer",
    "bigint": "integer",
    "smallint": "integer",
    "number": "number",
    "numeric": "number",
    "decimal": "number",
    "float": "float",
    "double": "float",
    "real": "float",
    "boolean": "boolean",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ntz": "timestamp",
    "datetime": "timestamp",
}
_TYPE = re.compile(r"^([a-z_]+)(\(\s*\d+\s*(,\s*\d+\s*)?\))?$")


def problem(message: str) -> PydanticCustomError:
    """A value's problem, as the whole message."""
    return PydanticCustomError("dagmesh", "{message}", {"message": message})


def value_problem(reason: str, value: Any, tail: str | None = None) -> PydanticCustomError:
    """A value's problem as a reason (``must be an integer``) said of the key it is under:
    ``'retries' must be an integer, not 'two'``, or of a list's item: ``'X' in 'tags' must be
    ...``. ``tail`` replaces the ``, not <value>`` ending."""
    shown = describe(value)
    ending = f", not {shown}" if tail is None else tail
    return PydanticCustomError(
        "dagmesh_value", "{reason}{ending}", {"reason": reason, "ending": ending, "value": shown}
    )


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
        shown = str(value)
        return f"the number {shown if len(shown) <= 40 else shown[:37] + '...'}"
    shown = str(value)
    return f"'{shown if len(shown) <= 80 else shown[:77] + '...'}'"


@dataclass(frozen=True, eq=False)
class Check:
    """``Annotated`` metadata making a type out of a validating function and the JSON Schema
    of what it accepts (and, optionally, how the value is written back)."""

    validate: Callable[[Any], Any]
    schema: dict[str, Any]
    serialize: Callable[[Any], Any] | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        serialization = (
            core_schema.plain_serializer_function_ser_schema(self.serialize, when_used="json")
            if self.serialize is not None
            else None
        )
        return core_schema.no_info_plain_validator_function(self.validate, serialization=serialization)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return dict(self.schema)


def _string(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise value_problem("must be a string", value)
    return str(value)


def _pattern(value: Any, pattern: re.Pattern[str], reason: str) -> str:
    text = _string(value)
    if len(text) > MAX_NAME or not pattern.match(text):
        raise value_problem(f"must be {reason}", text)
    return text


def _text(value: Any) -> str:
    return _string(value).strip() if isinstance(value, str) else _string(value)


def _identifier(value: Any) -> str:
    return _pattern(value, IDENTIFIER, "a lowercase identifier (letters, digits, _)")


def _snowflake_name(value: Any) -> str:
    return _pattern(value, NAME, "a Snowflake name (letters, digits, _, $)")


def _column_name(value: Any) -> str:
    text = _string(value)
    if len(text) > MAX_NAME or not NAME.match(text):
        raise problem(f"freshness column must be a column name, not {describe(text)}")
    return text


def _table(value: Any) -> str:
    text = _string(value)
    if len(text) > 3 * MAX_NAME or not TABLE.match(text):
        raise problem(f"source table must be DATABASE.SCHEMA.TABLE, not {describe(text)}")
    return text


Text = Annotated[str, Check(_text, {"type": "string"})]
Identifier = Annotated[str, Check(_identifier, {"type": "string", "pattern": IDENTIFIER.pattern})]
SnowflakeName = Annotated[str, Check(_snowflake_name, {"type": "string", "pattern": NAME.pattern})]
ColumnName = Annotated[str, Check(_column_name, {"type": "string", "pattern": NAME.pattern})]
TableName = Annotated[str, Check(_table, {"type": "string", "pattern": TABLE.pattern})]


def choice(values: Iterable[str], what: str | None = None) -> Check:
    """One of ``values``. With ``what`` (``"standard test"``) a wrong value reads as
    ``unknown standard test 'x' (did you mean 'y'?); known: ...``."""
    allowed = tuple(values)

    def check(value: Any) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
        if what is not None:
            raise problem(f"unknown {what} {describe(value)}{hint}; known: {', '.join(allowed)}")
        raise value_problem(f"must be one of {', '.join(allowed)}", value, f"; got {describe(value)}{hint}")

    return Check(check, {"type": "string", "enum": list(allowed)})


Severity = Annotated[Literal["error", "warn"], choice(("error", "warn"))]


def integer(minimum: int = 0, maximum: int = 1_000_000_000) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise value_problem("must be an integer", value)
        if value < minimum:
            raise value_problem(f"must be at least {minimum}", value, f", not {value}")
        if value > maximum:
            raise value_problem(f"must be at most {maximum:,}", value)
        return value

    return Check(check, {"type": "integer", "minimum": minimum, "maximum": maximum})


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise value_problem("must be a number", value)
    number = float(value) if abs(value) < 1e300 else math.inf
    if not math.isfinite(number):
        raise value_problem("must be a finite number", value)
    return number


Number = Annotated[float, Check(_number, {"type": "number"})]


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise value_problem("must be true or false", value)
    return value


Flag = Annotated[bool, Check(_flag, {"type": "boolean"})]


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise value_problem("must be a date (YYYY-MM-DD)", value)


Day = Annotated[date, Check(_day, {"type": "string", "format": "date"}, date.isoformat)]


def parse_duration(value: Any) -> timedelta | None:
    """``5m``, ``2h``, ``1h30m``, ``3d``, ``1w``; a bare integer is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int) and value >= 0:
            return timedelta(seconds=value)
        if isinstance(value, str) and _DURATION.match(value):
            total = timedelta()
            for amount, unit in _DURATION_PART.findall(value):
                total += timedelta(**{_UNITS[unit]: int(amount)})
            return total
    except OverflowError:
        return MAX_DURATION + timedelta(days=1)
    return None


def format_duration(value: timedelta) -> str:
    """The shortest ``1d2h30m``-style spelling of ``value``."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def duration(minimum: timedelta = timedelta(0)) -> Check:
    """A duration of at least ``minimum`` and at most :data:`MAX_DURATION`."""

    def check(value: Any) -> timedelta:
        parsed = parse_duration(value)
        if parsed is None:
            raise value_problem("must be a duration such as 30s, 5m, 2h, 1d or 1h30m", value)
        if parsed > MAX_DURATION:
            raise value_problem(f"must be at most {format_duration(MAX_DURATION)}", value)
        if parsed < minimum:
            least = (
                "longer than 0s"
                if minimum == timedelta(microseconds=1)
                else f"at least {format_duration(minimum)}"
            )
            raise value_problem(f"must be {least}", value)
        return parsed

    schema = {
        "anyOf": [
            {"type": "string", "pattern": _DURATION.pattern},
            {"type": "integer", "minimum": 0, "description": "seconds"},
        ]
    }
    return Check(check, schema, format_duration)


#: Zero or longer (``0s`` means "do not wait").
Duration = Annotated[timedelta, duration()]
#: Longer than zero.
PositiveDuration = Annotated[timedelta, duration(timedelta(microseconds=1))]
#: A polling interval: at least a second.
Interval = Annotated[timedelta, duration(timedelta(seconds=1))]


def _timezone(value: Any) -> str:
    name = _string(value)
    if name == "UTC":
        return name
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise problem(f"unknown timezone {describe(name)}") from None
    return name


Timezone = Annotated[str, Check(_timezone, {"type": "string"})]


def _column_type(value: Any) -> str:
    text = _string(value)
    normalized = text.lower().replace(" ", "")
    match = _TYPE.match(normalized)
    if not match or match.group(1) not in TYPE_FAMILIES:
        raise problem(
            f"unknown column type {describe(text)}{did_you_mean(normalized, TYPE_FAMILIES)}; "
            f"use one of: {', '.join(sorted(set(TYPE_FAMILIES)))}"
        )
    return normalized


_TYPE_SCHEMA = {
    "type": "string",
    "pattern": "^(?:"
    + "|".join(sorted({*TYPE_FAMILIES, *(t.upper() for t in TYPE_FAMILIES)}))
    + r")(\(\d+(,\s*\d+)?\))?$",
}
ColumnType = Annotated[str, Check(_column_type, _TYPE_SCHEMA)]


def _cron(value: Any) -> str:
    text = _string(value)
    cron = normalize_cron(text)
    if cron is None:
        raise problem(
            f"schedule {describe(text)} is not a valid cron expression (five fields, e.g. '0 5 * * *'), "
            "a preset such as @daily, 'on_upstream' or 'manual'"
        )
    if not fires(cron):
        raise problem(f"schedule {describe(text)} never fires (no date matches it)")
    return cron


Cron = Annotated[str, Check(_cron, {"type": "string", "description": f"cron or one of {', '.join(PRESETS)}"})]


@dataclass(frozen=True)
class PortRef:
    """``domain.port``: one output port of one domain."""

    domain: str
    port: str

    def __str__(self) -> str:
        return f"{self.domain}.{self.port}"


_PORT = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def port_ref(value: Any) -> PortRef:
    if isinstance(value, PortRef):
        return value
    if isinstance(value, str) and len(value) <= 2 * MAX_NAME and _PORT.match(value):
        domain, port = value.split(".")
        return PortRef(domain, port)
    raise problem(f"a port reference must look like domain.port, not {describe(value)}")


PortName = Annotated[PortRef, Check(port_ref, {"type": "string", "pattern": _PORT.pattern}, str)]


class OneOrMany:
    """``Annotated`` metadata for a list where a single value is a one-item list
    (``primary_key: id`` for ``primary_key: [id]``)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(_listed, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        array = handler(schema)
        return {"anyOf": [array.get("items", {}), array]}


@dataclass(frozen=True)
class NonEmpty:
    """``Annotated`` metadata: the list or mapping must hold something, or ``message``."""

    message: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def check(value: Any) -> Any:
            if not value:
                raise problem(self.message)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        result = handler(schema)
        result["minProperties" if result.get("type") == "object" else "minItems"] = 1
        return result


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value
