"""The mesh's configuration, declared once: ``mesh.yaml`` and a domain file as pydantic models.

Every key a config may hold is one field here, with its type from
:mod:`dagmesh.config.types`; the JSON Schema (``dagmesh schema``), validation and the
values the rest of dagmesh reads all come from these classes. A model read from YAML knows
where it came from (:attr:`Located.loc`, :meth:`Located.where`), so later checks point at
the line of what they found. The rules that need the whole mesh (layers, the policy's
mandatory tests) are in :mod:`dagmesh.config.rules`; the reading of YAML into these models,
with problems located, in :mod:`dagmesh.config.located`.

Nothing here imports Airflow or talks to a warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import PurePosixPath
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from dagmesh.config.types import IDENTIFIER as IDENTIFIER_RE
from dagmesh.config.types import (
    TYPE_FAMILIES,
    Check,
    ColumnName,
    ColumnType,
    Cron,
    Day,
    Duration,
    Flag,
    Identifier,
    Interval,
    NonEmpty,
    Number,
    OneOrMany,
    PortName,
    PortRef,
    PositiveDuration,
    Severity,
    SnowflakeName,
    TableName,
    Text,
    Timezone,
    choice,
    describe,
    integer,
    problem,
)
from dagmesh.config.yamlfile import Place, YamlMap, copy_map
from dagmesh.errors import Diagnostics, Location, did_you_mean

__all__ = ["TYPE_FAMILIES", "PortRef"]

EngineName = Literal["duckdb", "snowflake"]
Via = Literal["asset", "sensor"]
SeverityName = Literal["error", "warn"]
NOWHERE = Location("<config>")

#: The checks every output port gets from the mesh policy.
STANDARD_TESTS: tuple[str, ...] = (
    "row_count",
    "primary_key",
    "not_null_columns",
    "accepted_values",
    "schema_matches_contract",
)


# --------------------------------------------------------------------------- the base


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a config mapping was read from: its own place (a named entry's is its name),
    where its mapping starts, and where each of its keys has its value (for a list, each
    item). Compact tuples only: the YAML document itself is not kept."""

    path: str
    at: Place
    start: Place
    values: Mapping[str, Place]
    items: Mapping[str, Sequence[Place]]


class Located(BaseModel):
    """A config mapping that knows where it was read from.

    Class settings say how problems name it (``kind``; ``named`` when it sits under its
    name in a mapping, as columns do), and which key a bare value fills (``shorthand``:
    ``price: varchar`` is ``price: {type: varchar}``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)
    # Where it was read from, and its name when it sits under one: set once it is read
    # (see dagmesh.config.located.locate); a slot, so equality and dumps ignore them.
    __slots__ = ("_name", "_origin")

    kind: ClassVar[str] = "mapping"
    named: ClassVar[bool] = False
    shorthand: ClassVar[str | None] = None
    #: Mapping fields whose keys are names of ``Located`` entries, and what the entries are.
    named_fields: ClassVar[dict[str, str]] = {}
    #: Fields (and their keys in YAML) whose values can hold ``Located`` models.
    nested_fields: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: The keys a mapping may hold, and the required ones.
    keys: ClassVar[frozenset[str]] = frozenset()
    required_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        named: dict[str, str] = {}
        nested: list[tuple[str, str]] = []
        for name, info in cls.model_fields.items():
            entry = _mapped_model(info.annotation)
            if entry is not None:
                named[info.alias or name] = entry.kind
            if _holds_models(info.annotation):
                nested.append((name, info.alias or name))
        cls.named_fields = named
        cls.nested_fields = tuple(nested)
        cls.keys = frozenset(info.alias or name for name, info in cls.model_fields.items())
        cls.required_keys = tuple(
            info.alias or name for name, info in cls.model_fields.items() if info.is_required()
        )

    def _place(self) -> Origin | None:
        return getattr(self, "_origin", None)

    @property
    def name_in_config(self) -> str:
        return getattr(self, "_name", "")

    @property
    def loc(self) -> Location:
        origin = self._place()
        return Location(origin.path, *origin.at) if origin else NOWHERE

    @property
    def node_loc(self) -> Location:
        """Where this mapping's own value starts (a named entry's :attr:`loc` is its name)."""
        origin = self._place()
        return Location(origin.path, *origin.start) if origin else NOWHERE

    def where(self, key: str) -> Location:
        """Where this mapping's ``key`` has its value (the mapping itself when absent)."""
        origin = self._place()
        if origin is None or key not in origin.values:
            return self.loc
        return Location(origin.path, *origin.values[key])

    def item_loc(self, key: str, index: int) -> Location:
        """Where item ``index`` of the list under ``key`` is."""
        origin = self._place()
        items = origin.items.get(key, ()) if origin else ()
        return Location(origin.path, *items[index]) if origin and 0 <= index < len(items) else self.where(key)

    @classmethod
    def label(cls, node: YamlMap) -> str:
        """How problems name one of these: ``column 'price'``, ``domain``."""
        return f"{cls.kind} '{node.key}'" if cls.named and node.key is not None else cls.kind

    @model_validator(mode="before")
    @classmethod
    def _read(cls, value: Any, info: ValidationInfo) -> Any:
        if cls.shorthand is not None and not isinstance(value, Mapping):
            return {cls.shorthand: value}
        if isinstance(value, YamlMap):
            problems = (info.context or {}).get("problems")
            return _checked_keys(cls, value, problems) if problems is not None else _without_nulls(value)
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        schema = handler(core_schema)
        if cls.shorthand is None:
            return schema
        resolved = handler.resolve_ref_schema(schema)
        bare = resolved.get("properties", {}).get(cls.shorthand, {})
        return {"anyOf": [bare, schema]} if bare else schema


def _holds_models(annotation: Any) -> bool:
    """Whether a field's values can be (or contain) ``Located`` models."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    if isinstance(annotation, str):  # a forward reference: only models are referenced so
        return True
    return any(_holds_models(arg) for arg in get_args(annotation))


def _mapped_model(annotation: Any) -> type[Located] | None:
    """The ``Located`` class of a ``dict[name, Model]`` annotation."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) not in (dict, Mapping):
        return None
    entry = get_args(annotation)[1]
    while get_origin(entry) is Annotated:
        entry = get_args(entry)[0]
    if get_origin(entry) is Union:
        entry = next((a for a in get_args(entry) if isinstance(a, type)), None)
        while get_origin(entry) is Annotated:
            entry = get_args(entry)[0]
    return entry if isinstance(entry, type) and issubclass(entry, Located) else None


def _without_nulls(node: YamlMap) -> YamlMap:
    """An empty value (``key:``) means the key is not set."""
    if all(v is not None for v in node.values()):
        return node
    return copy_map(node, [k for k, v in node.items() if v is not None])


def _checked_keys(cls: type[Located], node: YamlMap, problems: Diagnostics) -> Any:
    """Report unknown keys (with a did-you-mean), missing required keys and bad entry names
    of one mapping at their own lines, all at once; validation goes on without them."""
    keys = cls.keys
    unknown = [k for k in node if k not in keys]
    if unknown and cls.model_config.get("extra") == "forbid":
        label = cls.label(node)
        for key in unknown:
            hint = did_you_mean(str(key), sorted(keys))
            problems.error(node.key_loc(key), f"unknown key {describe(key)} in {label}{hint}")
    for key in cls.required_keys:
        if node.get(key) is None:
            where = node.key_loc(key) if key in node else node.loc
            problems.error(where, f"{cls.label(node)} is missing required key '{key}'")
    checked = (
        _without_nulls(node)
        if not unknown
        else copy_map(node, [k for k, v in node.items() if k in keys and v is not None])
    )
    for key, kind in cls.named_fields.items():
        entries = checked.get(key)
        if not isinstance(entries, YamlMap):
            continue
        good = [n for n in entries if isinstance(n, str) and IDENTIFIER_RE.match(n)]
        if len(good) == len(entries):
            continue
        for name in entries:
            if name not in good:
                problems.error(
                    entries.key_loc(name), f"{kind} name must be a lowercase identifier, not {describe(name)}"
                )
        if checked is node:
            checked = copy_map(node, list(node))
        checked[key] = copy_map(entries, good)
    return checked


class _Pick(Discriminator):
    def __hash__(self) -> int:  # its error context is a dict; unions need hashable metadata
        return id(self)


def pick(choose: Any, error: str, **context: Any) -> Discriminator:
    """Chooses a union's member by ``choose(value)`` (a tag); a value it cannot place is an
    ``error`` problem that :mod:`dagmesh.config.located` words from ``context``."""
    return _Pick(choose, custom_error_type=error, custom_error_message=error, custom_error_context=context)


def _single_key(value: Any) -> str | None:
    """The test a column or port test names: ``not_null`` or ``{range: {...}}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        key = next(iter(value))
        return key if isinstance(key, str) else None
    return None


def _mapping_or(tag: str) -> Any:
    return lambda value: "mapping" if isinstance(value, Mapping) else tag


# --------------------------------------------------------------------------- mesh.yaml


class Environment(Located):
    """Where a mesh runs: the embedded DuckDB file or a Snowflake database."""

    kind = "environment"
    named = True

    engine: EngineName
    pool: Text | None = None
    #: An environment created by ``dagmesh env create``: the one it was cloned from.
    cloned_from: Identifier | None = None

    @property
    def name(self) -> str:
        return self.name_in_config


class DuckDBEnvironment(Environment):
    engine: Literal["duckdb"]
    path: Text | None = None


class SnowflakeEnvironment(Environment):
    engine: Literal["snowflake"]
    conn_id: Text = "snowflake_default"
    database: SnowflakeName | None = None
    warehouse: SnowflakeName | None = None
    role: SnowflakeName | None = None


class _UnknownEngine(Environment):
    """Stands in for an environment whose engine is missing or unknown: says so at its line."""

    model_config = ConfigDict(extra="ignore")
    engine: Annotated[str, choice(("duckdb", "snowflake"))]  # type: ignore[assignment]

    @model_validator(mode="after")
    def _never(self) -> _UnknownEngine:
        raise problem("unreachable: an engine other than duckdb or snowflake")


def _engine(value: Any) -> str:
    engine = value.get("engine") if isinstance(value, Mapping) else None
    return engine if engine in ("duckdb", "snowflake") else "unknown"


AnyEnvironment = Annotated[
    Annotated[DuckDBEnvironment, Tag("duckdb")]
    | Annotated[SnowflakeEnvironment, Tag("snowflake")]
    | Annotated[SkipJsonSchema[_UnknownEngine], Tag("unknown")],
    Discriminator(_engine),
]


def default_duckdb_path(env_name: str) -> str:
    """Where a DuckDB environment keeps its warehouse file unless it sets ``path``."""
    return f".dagmesh/{env_name}.duckdb"


def with_default_path(name: str, env: Environment) -> Environment:
    """A DuckDB environment called ``name`` that sets no ``path`` keeps its warehouse in
    :func:`default_duckdb_path`."""
    if isinstance(env, DuckDBEnvironment) and not env.path:
        return env.model_copy(update={"path": default_duckdb_path(name)})
    return env


def environment_path(env: Environment) -> str | None:
    """The warehouse file of a DuckDB environment (``None`` for Snowflake)."""
    return env.path if isinstance(env, DuckDBEnvironment) else None


Retries = Annotated[int, integer(0, 100)]
#: ``model``: a task per model, port test and custom test; ``stage``: a task per stage;
#: ``domain``: one task for every step, the gate last.
TaskGranularity = Annotated[Literal["model", "stage", "domain"], choice(("model", "stage", "domain"))]
Tags = Annotated[tuple[Text, ...], OneOrMany()]


class Defaults(Located):
    """Mesh-wide settings every domain inherits unless it sets its own."""

    kind = "defaults"

    owner: Text = "data-platform"
    retries: Retries = 0
    retry_delay: Duration = timedelta(minutes=5)
    #: Optional: without one, a cron domain unpaused before it has any run first runs at
    #: its next tick (CronTriggerTimetable's run_immediately=False); with one, Airflow
    #: also runs its most recent past tick.
    start_date: Day | None = None
    timezone: Timezone = "UTC"
    tags: Tags = ()
    #: How many Airflow tasks a build is: one per model and test (``model``: what failed is
    #: a task in the grid), one per stage (``stage``: check_inputs, build, test, certify) or
    #: one (``domain``: every step in one task, the gate last). Fewer tasks are fewer task
    #: start-ups, so a live chain certifies sooner. The registry and the Mesh page record
    #: every model and check either way.
    task_granularity: TaskGranularity = "model"


StandardTest = Annotated[str, choice(STANDARD_TESTS, "standard test")]
#: Tests the policy's standard pack makes blocking, by the column or port test they cover.
MANDATED_BY: dict[str, str] = {
    "row_count": "row_count",
    "not_null": "not_null_columns",
    "accepted_values": "accepted_values",
}


class OutputPortPolicy(Located):
    kind = "policy.output_ports"

    require_primary_key: Flag = True
    min_rows: Annotated[int, integer(0, 10**15)] = 1
    standard_tests: Annotated[tuple[StandardTest, ...], OneOrMany()] = STANDARD_TESTS

    def mandates(self, test: str) -> bool:
        """Whether the standard pack makes ``test`` (a column or port test) blocking."""
        return MANDATED_BY.get(test) in self.standard_tests


class Policy(Located):
    """Federated governance: rules every domain of the mesh obeys."""

    kind = "policy"

    layers: Annotated[tuple[Identifier, ...], OneOrMany(), NonEmpty("policy.layers must list a layer")] = (
        "mastered",
        "integrated",
        "self_service",
    )
    output_ports: OutputPortPolicy = OutputPortPolicy()

    @model_validator(mode="after")
    def _layers_once(self) -> Policy:
        if len(set(self.layers)) != len(self.layers):
            raise problem("policy.layers lists a layer twice")
        return self


class Consistency(Located):
    """How long ``check_inputs`` waits for a lagging input to catch up."""

    kind = "consistency"

    max_wait: Duration = timedelta(hours=2)
    poll_interval: Interval = timedelta(minutes=5)


def _sensor_mode(value: Any) -> str:
    if value == "reschedule":
        raise problem(
            "sensors.mode 'reschedule' is broken in Airflow 3.2-3.3 (apache/airflow#71172); "
            "use 'poke' or 'deferrable'"
        )
    result: str = choice(("poke", "deferrable")).validate(value)
    return result


class SensorSettings(Located):
    """How ``wait_for_upstream`` sensors wait for a cron-scheduled upstream."""

    kind = "sensors"

    timeout: PositiveDuration = timedelta(hours=6)
    poke_interval: Interval = timedelta(minutes=1)
    mode: Annotated[str, Check(_sensor_mode, {"type": "string", "enum": ["poke", "deferrable"]})] = "poke"


class Mesh(Located):
    """``mesh.yaml``: the mesh's name, environments, defaults and policy."""

    kind = "mesh.yaml"

    name: Identifier = Field(alias="mesh")
    description: Text = ""
    environments: Annotated[
        dict[Identifier, AnyEnvironment], NonEmpty("environments must define at least one environment")
    ]
    #: Defaults to the first environment.
    default_environment: Identifier = ""
    defaults: Defaults = Defaults()
    policy: Policy = Policy()
    consistency: Consistency = Consistency()
    sensors: SensorSettings = SensorSettings()
    #: Values SQL reads with ``{{ var('name') }}``.
    vars: dict[Identifier, Union[str, int, float, bool, date, None]] = {}  # noqa: UP007

    @property
    def path(self) -> str:
        return self.loc.path

    @model_validator(mode="after")
    def _defaults_filled(self) -> Mesh:
        environments = {name: with_default_path(name, env) for name, env in self.environments.items()}
        default = self.default_environment or next(iter(environments))
        return self.model_copy(update={"environments": environments, "default_environment": default})


# --------------------------------------------------------------------------- domains


class Freshness(Located):
    kind = "freshness"

    column: ColumnName
    warn_after: PositiveDuration | None = None
    error_after: PositiveDuration | None = None

    @classmethod
    def label(cls, node: YamlMap) -> str:
        source = node.parent_key
        return f"freshness of source '{source}'" if source is not None else cls.kind

    @model_validator(mode="after")
    def _bounds(self) -> Freshness:
        if self.warn_after is None and self.error_after is None:
            raise problem("freshness needs warn_after, error_after or both")
        if self.warn_after and self.error_after and self.warn_after > self.error_after:
            raise problem("warn_after must not be longer than error_after")
        return self


#: File formats a file source can name, by file suffix.
DATA_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".duckdb": "duckdb",  # a DuckDB database: the table SCHEMA.TABLE of the source's name, copied
}


def _data_path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise problem(f"path must be a file path inside the project, not {describe(value)}")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or value.startswith("~"):
        raise problem(f"path must be relative to the project and stay inside it, not {describe(value)}")
    if path.suffix.lower() not in DATA_FORMATS:
        known = ", ".join(sorted(DATA_FORMATS))
        raise problem(f"path must name {known} files (globs allowed), not {describe(value)}")
    return value


#: Files inside the project (``data/orders/*.parquet``), for the embedded engine.
DataPath = Annotated[str, Check(_data_path, {"type": "string", "pattern": r"^[^/\\~].*"})]


class Source(Located):
    """A raw table the domain reads, as ``DATABASE.SCHEMA.TABLE``; on the embedded engine it
    can come from files in the project (``path``), which ``dagmesh load`` reads into it."""

    kind = "source"
    named = True
    shorthand = "table"

    table: TableName
    path: DataPath | None = None
    #: Its columns and types, when declared: validate then binds the SQL that reads it.
    columns: dict[ColumnName, ColumnType] = {}
    freshness: Freshness | None = None
    description: Text = ""

    @property
    def name(self) -> str:
        return self.name_in_config


def _sql_path(value: Any) -> str:
    if not isinstance(value, str):
        raise problem(f"sql must be a path to a .sql file inside sql/, not {describe(value)}")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or not value.strip():
        raise problem(f"sql must be a path inside sql/, not {describe(value)}")
    if not value.endswith(".sql"):
        raise problem(f"sql must name a .sql file, not {describe(value)}")
    return value


SqlPath = Annotated[str, Check(_sql_path, {"type": "string", "pattern": r"^[^/\\].*\.sql$"})]


class TestOptions(Located):
    """``{not_null: {severity: warn}}``: the options of a test that takes no values."""

    kind = "test"

    severity: Severity = "error"

    @classmethod
    def label(cls, node: YamlMap) -> str:
        return str(node.key) if node.key is not None else cls.kind


class ColumnTest(Located):
    """One column test, written as its name or as ``{name: options}``."""

    kind = "column test"
    #: The test's name, which is also its one key.
    test: ClassVar[str] = ""
    #: Whether the test may be written as its bare name (``not_null``).
    bare: ClassVar[bool] = False

    @property
    def severity(self) -> SeverityName:
        options = getattr(self, self.test)
        return (
            options.severity
            if isinstance(options, (TestOptions, AcceptedValuesSpec, RangeSpec, RelationshipsSpec))
            else "error"
        )

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, value: Any) -> Any:
        return {value: None} if isinstance(value, str) else value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        schema = handler(core_schema)
        return {"anyOf": [{"const": cls.test}, schema]} if cls.bare else schema


class NotNullTest(ColumnTest):
    test = "not_null"
    bare = True

    not_null: TestOptions | None = None


class UniqueTest(ColumnTest):
    test = "unique"
    bare = True

    unique: TestOptions | None = None


PlainValue = Union[str, int, float, bool, date, None]  # noqa: UP007
Values = Annotated[tuple[PlainValue, ...], NonEmpty("accepted_values needs a non-empty list of values")]


class AcceptedValuesSpec(Located):
    kind = "accepted_values"

    values: Values
    severity: Severity = "error"


class AcceptedValuesTest(ColumnTest):
    test = "accepted_values"

    accepted_values: Annotated[
        Annotated[AcceptedValuesSpec, Tag("mapping")] | Annotated[Values, Tag("list")],
        pick(_mapping_or("list"), "dagmesh", message="accepted_values needs a non-empty list of values"),
    ]

    @property
    def values(self) -> tuple[object, ...]:
        spec = self.accepted_values
        return spec.values if isinstance(spec, AcceptedValuesSpec) else tuple(spec)


class RangeSpec(Located):
    kind = "range"

    min: Number | None = None
    max: Number | None = None
    severity: Severity = "error"

    @model_validator(mode="after")
    def _bounds(self) -> RangeSpec:
        if self.min is None and self.max is None:
            raise problem("range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise problem(f"range min {self.min:g} is greater than max {self.max:g}")
        return self


class RangeTest(ColumnTest):
    test = "range"

    range: RangeSpec


_RELATION_TARGET = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")


def _relation_target(value: Any) -> str:
    if not isinstance(value, str) or not _RELATION_TARGET.match(value):
        raise problem(
            f"relationships 'to' must name a consumed port (domain.port) or a model of the domain, "
            f"not {describe(value)}"
        )
    return value


#: ``domain.port`` (a consumed port) or ``model`` (one of the domain's models).
RelationTarget = Annotated[
    str, Check(_relation_target, {"type": "string", "pattern": _RELATION_TARGET.pattern})
]


class RelationshipsSpec(Located):
    kind = "relationships"

    to: RelationTarget
    field: ColumnName
    severity: Severity = "error"


class RelationshipsTest(ColumnTest):
    """Every non-null value of the column is a value of ``field`` in ``to`` (dbt's
    ``relationships``): no orphans."""

    test = "relationships"

    relationships: RelationshipsSpec


COLUMN_TESTS = (NotNullTest, UniqueTest, AcceptedValuesTest, RangeTest, RelationshipsTest)
AnyColumnTest = Annotated[
    Annotated[NotNullTest, Tag("not_null")]
    | Annotated[UniqueTest, Tag("unique")]
    | Annotated[AcceptedValuesTest, Tag("accepted_values")]
    | Annotated[RangeTest, Tag("range")]
    | Annotated[RelationshipsTest, Tag("relationships")],
    pick(_single_key, "dagmesh_kind", what="column test", kinds=", ".join(t.test for t in COLUMN_TESTS)),
]


class ModelColumn(Located):
    """A column of a model that is not a port, with its tests (the SQL decides its type)."""

    kind = "column"
    named = True

    description: Text = ""
    tests: tuple[AnyColumnTest, ...] = ()

    @property
    def name(self) -> str:
        return self.name_in_config


class Model(Located):
    """One SQL file of the domain, built as a table in the build schema."""

    kind = "model"
    shorthand = "name"

    name: Identifier
    #: Defaults to ``<domain>/<name>.sql``.
    sql: SqlPath = ""
    materialized: Annotated[str, choice(("table", "incremental"))] = "table"
    unique_key: Annotated[tuple[Identifier, ...], OneOrMany()] = ()
    description: Text = ""
    #: Column tests of a model that is not a port (a port's are on its columns).
    columns: dict[ColumnName, ModelColumn] = {}

    @model_validator(mode="after")
    def _merge_key(self) -> Model:
        if self.materialized == "incremental" and not self.unique_key:
            raise problem(f"incremental model '{self.name}' needs a unique_key to merge on")
        if self.unique_key and self.materialized != "incremental":
            raise problem("unique_key only applies to incremental models")
        return self


class Column(Located):
    kind = "column"
    named = True
    shorthand = "type"

    type: ColumnType
    description: Text = ""
    tests: tuple[AnyColumnTest, ...] = ()

    @property
    def name(self) -> str:
        return self.name_in_config

    @property
    def family(self) -> str:
        return TYPE_FAMILIES[self.type.split("(")[0]]

    @model_validator(mode="after")
    def _each_test_once(self) -> Column:
        seen: set[str] = set()
        for test in self.tests:
            if test.test in seen:
                raise problem(f"the column declares the {test.test} test twice")
            seen.add(test.test)
        return self


class Bounds(Located):
    kind = "row_count"

    min: Annotated[int, integer(0, 10**15)] | None = None
    max: Annotated[int, integer(0, 10**15)] | None = None
    severity: Severity = "error"

    @model_validator(mode="after")
    def _bounds(self) -> Bounds:
        if self.min is None and self.max is None:
            raise problem("row_count needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise problem(f"row_count min {self.min} is greater than max {self.max}")
        return self


class ExpressionSpec(Located):
    kind = "expression"

    sql: Text
    severity: Severity = "error"


class PortTest(Located):
    kind = "port test"
    test: ClassVar[str] = ""


class RowCountTest(PortTest):
    test = "row_count"

    row_count: Bounds

    @property
    def severity(self) -> SeverityName:
        return self.row_count.severity


class ExpressionTest(PortTest):
    test = "expression"

    expression: Annotated[
        Annotated[ExpressionSpec, Tag("mapping")] | Annotated[Text, Tag("sql")],
        pick(
            _mapping_or("sql"), "dagmesh", message="expression needs a SQL condition every row must satisfy"
        ),
    ]

    @property
    def sql(self) -> str:
        spec = self.expression
        return spec.sql if isinstance(spec, ExpressionSpec) else str(spec)

    @property
    def severity(self) -> SeverityName:
        spec = self.expression
        return spec.severity if isinstance(spec, ExpressionSpec) else "error"


PORT_TESTS = (RowCountTest, ExpressionTest)
AnyPortTest = Annotated[
    Annotated[RowCountTest, Tag("row_count")] | Annotated[ExpressionTest, Tag("expression")],
    pick(_single_key, "dagmesh_kind", what="port test", kinds=", ".join(t.test for t in PORT_TESTS)),
]


class OutputPort(Located):
    """A published table of the domain with its contract (columns, key, version).

    A port publishes the domain's model of the same name.
    """

    kind = "output port"
    named = True

    version: Annotated[int, integer(1, 10**6)]
    description: Text = ""
    primary_key: Annotated[tuple[Identifier, ...], OneOrMany()] = ()
    columns: Annotated[dict[Identifier, Column], NonEmpty("an output port must declare its columns")]
    tests: tuple[AnyPortTest, ...] = ()

    @property
    def name(self) -> str:
        return self.name_in_config

    @model_validator(mode="after")
    def _row_count_once(self) -> OutputPort:
        if sum(t.test == "row_count" for t in self.tests) > 1:
            raise problem("the port declares the row_count test twice")
        return self


class CustomTest(Located):
    """A SQL file returning the rows that violate a rule; zero rows passes."""

    kind = "domain test"

    sql: SqlPath
    severity: Severity = "error"
    #: Defaults to the file name without ``.sql``.
    name: Identifier = ""

    @model_validator(mode="after")
    def _named(self) -> CustomTest:
        if self.name:
            return self
        stem = PurePosixPath(self.sql).stem.lower()
        if not IDENTIFIER_RE.match(stem):
            raise problem(f"set 'name': the file name '{stem}' is not an identifier")
        return self.model_copy(update={"name": stem})


class Consume(Located):
    kind = "consumes entry"
    shorthand = "port"

    port: PortName
    #: As written in the config; ``None`` lets the mesh choose (see ``mesh.graph``).
    via: Annotated[Via, choice(("asset", "sensor"))] | None = None


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class AssetCondition:
    """``all``/``any`` of upstream ports (or nested conditions) that trigger a run."""

    op: Literal["all", "any"]
    items: tuple[PortRef | AssetCondition, ...]

    def ports(self) -> list[PortRef]:
        found: list[PortRef] = []
        for item in self.items:
            found.extend(item.ports() if isinstance(item, AssetCondition) else [item])
        return found


@dataclass(frozen=True)
class Schedule:
    """``cron`` (a cron expression), ``on_upstream`` (Assets) or ``manual``."""

    kind: Literal["cron", "on_upstream", "manual"]
    loc: Location
    cron: str | None = None
    #: For ``on_upstream``: the condition; ``None`` means all Asset inputs.
    condition: AssetCondition | None = None


def _port_or_nested(value: Any) -> str:
    return "nested" if isinstance(value, Mapping) else "port"


PortOrCondition = Annotated[
    Annotated[PortName, Tag("port")] | Annotated["AnyCondition", Tag("nested")],
    Discriminator(_port_or_nested),
]


class AllOf(Located):
    kind = "condition"

    all: Annotated[tuple[PortOrCondition, ...], NonEmpty("'all' must be a non-empty list")]


class AnyOf(Located):
    kind = "condition"

    any: Annotated[tuple[PortOrCondition, ...], NonEmpty("'any' must be a non-empty list")]


def _condition_kind(value: Any) -> str | None:
    key = _single_key(value) if isinstance(value, Mapping) else None
    return key if key in ("all", "any") else None


AnyCondition = Annotated[
    Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")],
    pick(
        _condition_kind,
        "dagmesh",
        message="on_upstream must be 'all', 'any', or a mapping with one key 'all' or 'any' "
        "holding a list of ports (domain.port) or nested conditions",
    ),
]


def _word_or_condition(value: Any) -> str:
    return "condition" if isinstance(value, Mapping) else "word"


class OnUpstream(Located):
    kind = "schedule"

    on_upstream: Annotated[
        Annotated[Literal["all", "any"], Tag("word")] | Annotated[AnyCondition, Tag("condition")],
        Discriminator(_word_or_condition),
    ]


def _schedule_form(value: Any) -> str | None:
    if value in ("manual", "on_upstream"):
        return "word"
    if isinstance(value, str):
        return "cron"
    if isinstance(value, Mapping):
        return "mapping"
    return None


ScheduleSpec = Annotated[
    Annotated[Literal["manual", "on_upstream"], Tag("word")]
    | Annotated[Cron, Tag("cron")]
    | Annotated[OnUpstream, Tag("mapping")],
    pick(
        _schedule_form,
        "dagmesh_shape",
        message="schedule must be a cron expression, 'on_upstream', 'manual' or "
        "{on_upstream: all|any|{all|any: [...]}}, not {value}",
    ),
]


def _asset_condition(value: AllOf | AnyOf) -> AssetCondition:
    op: Literal["all", "any"] = "all" if isinstance(value, AllOf) else "any"
    items = value.all if isinstance(value, AllOf) else value.any
    return AssetCondition(
        op, tuple(_asset_condition(i) if isinstance(i, (AllOf, AnyOf)) else i for i in items)
    )


# --------------------------------------------------------------------------- the domain


#: What a domain takes from the mesh's ``defaults`` unless it sets its own.
INHERITED = ("owner", "retries", "retry_delay", "task_granularity")


def _inherit(value: Any, info: ValidationInfo) -> Any:
    """A domain's :data:`INHERITED` settings default to the mesh's ``defaults``."""
    defaults = (info.context or {}).get("defaults")
    if not isinstance(defaults, Defaults) or not isinstance(value, Mapping):
        return value
    missing = {k: getattr(defaults, k) for k in INHERITED if value.get(k) is None}
    if not missing:
        return value
    node = copy_map(value, list(value)) if isinstance(value, YamlMap) else dict(value)
    node.update(missing)
    return node


class Domain(Located):
    """One domain: its sources, models, output ports, tests and upstream inputs."""

    kind = "domain"

    name: Identifier = Field(alias="domain")
    layer: Identifier
    description: Text = ""
    owner: Text = "data-platform"
    schedule_spec: ScheduleSpec = Field(alias="schedule")
    tags: Tags = ()
    retries: Retries = 0
    retry_delay: Duration = timedelta(minutes=5)
    task_granularity: TaskGranularity = "model"
    sources: dict[Identifier, Source] = {}
    models: Annotated[tuple[Model, ...], NonEmpty("models must list at least one model")]
    outputs: Annotated[
        dict[Identifier, OutputPort], NonEmpty("outputs must declare at least one output port")
    ]
    tests: tuple[CustomTest, ...] = ()
    consumes: tuple[Consume, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, value: Any, info: ValidationInfo) -> Any:
        return _inherit(value, info)

    @model_validator(mode="after")
    def _sql_paths(self) -> Domain:
        if all(m.sql for m in self.models):
            return self
        models = tuple(
            m if m.sql else m.model_copy(update={"sql": f"{self.name}/{m.name}.sql"}) for m in self.models
        )
        return self.model_copy(update={"models": models})

    @property
    def path(self) -> str:
        return self.loc.path

    @property
    def schedule(self) -> Schedule:
        spec, where = self.schedule_spec, self.where("schedule")
        if isinstance(spec, OnUpstream):
            word = spec.on_upstream
            condition = (
                None
                if word == "all"
                else (AssetCondition("any", ()) if word == "any" else _asset_condition(word))
            )
            return Schedule("on_upstream", where, condition=condition)
        if spec in ("manual", "on_upstream"):
            return Schedule(spec, where)  # type: ignore[arg-type]
        return Schedule("cron", where, cron=spec)

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def state_models(self) -> list[str]:
        """The models a certified build keeps out of consumers' sight for the next build to
        start from: the incremental ones that are not ports."""
        return [m.name for m in self.models if m.materialized == "incremental" and m.name not in self.outputs]

    @property
    def upstream_domains(self) -> list[str]:
        seen: dict[str, None] = {}
        for consume in self.consumes:
            seen.setdefault(consume.port.domain, None)
        return list(seen)


for _model in (AllOf, AnyOf, OnUpstream, Domain):
    _model.model_rebuild()
