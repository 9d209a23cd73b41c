"""The mesh's configuration as plain typed values.

These are what ``mesh.yaml`` and the per-domain YAML files mean once parsed and
checked. Nothing here imports Airflow or talks to a warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from dagmesh.errors import Location

EngineName = Literal["duckdb", "snowflake"]
Severity = Literal["error", "warn"]
Via = Literal["asset", "sensor"]

#: The checks every output port gets from the mesh policy.
STANDARD_TESTS: tuple[str, ...] = (
    "row_count",
    "primary_key",
    "not_null_columns",
    "accepted_values",
    "schema_matches_contract",
)

#: Contract column types, by the family a warehouse column must belong to.
TYPE_FAMILIES: Mapping[str, str] = {
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


@dataclass(frozen=True)
class PortRef:
    """``domain.port``: one output port of one domain."""

    domain: str
    port: str

    def __str__(self) -> str:
        return f"{self.domain}.{self.port}"


@dataclass(frozen=True)
class Environment:
    """Where a mesh runs: the embedded DuckDB file or a Snowflake database."""

    name: str
    engine: EngineName
    loc: Location
    path: str | None = None
    conn_id: str | None = None
    database: str | None = None
    warehouse: str | None = None
    role: str | None = None
    pool: str | None = None
    #: An environment created by ``dagmesh env create``: the one it was cloned from.
    cloned_from: str | None = None


def default_duckdb_path(env_name: str) -> str:
    """Where a DuckDB environment keeps its warehouse file unless it sets ``path``."""
    return f".dagmesh/{env_name}.duckdb"


@dataclass(frozen=True)
class Defaults:
    """Mesh-wide settings every domain inherits unless it sets its own."""

    owner: str = "data-platform"
    retries: int = 0
    retry_delay: timedelta = timedelta(minutes=5)
    #: Optional: without one, a cron domain unpaused before it has any run first runs at
    #: its next tick (CronTriggerTimetable's run_immediately=False); with one, Airflow
    #: also runs its most recent past tick.
    start_date: date | None = None
    timezone: str = "UTC"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputPortPolicy:
    require_primary_key: bool = True
    min_rows: int = 1
    standard_tests: tuple[str, ...] = STANDARD_TESTS


@dataclass(frozen=True)
class Policy:
    """Federated governance: rules every domain of the mesh obeys."""

    layers: tuple[str, ...] = ("mastered", "integrated", "self_service")
    output_ports: OutputPortPolicy = field(default_factory=OutputPortPolicy)


@dataclass(frozen=True)
class Consistency:
    """How long ``check_inputs`` waits for a lagging input to catch up."""

    max_wait: timedelta = timedelta(hours=2)
    poll_interval: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class SensorSettings:
    """How ``wait_for_upstream`` sensors wait for a cron-scheduled upstream."""

    timeout: timedelta = timedelta(hours=6)
    poke_interval: timedelta = timedelta(minutes=1)
    mode: Literal["poke", "deferrable"] = "poke"


@dataclass(frozen=True)
class Mesh:
    """``mesh.yaml``: the mesh's name, environments, defaults and policy."""

    name: str
    path: str
    environments: Mapping[str, Environment]
    default_environment: str
    description: str = ""
    defaults: Defaults = field(default_factory=Defaults)
    policy: Policy = field(default_factory=Policy)
    consistency: Consistency = field(default_factory=Consistency)
    sensors: SensorSettings = field(default_factory=SensorSettings)


@dataclass(frozen=True)
class Freshness:
    column: str
    loc: Location
    warn_after: timedelta | None = None
    error_after: timedelta | None = None


@dataclass(frozen=True)
class Source:
    """A raw table the domain reads, as ``DATABASE.SCHEMA.TABLE``."""

    name: str
    table: str
    loc: Location
    freshness: Freshness | None = None


@dataclass(frozen=True)
class Model:
    """One SQL file of the domain, built as a table (or view) in the build schema."""

    name: str
    sql: str
    loc: Location
    materialized: Literal["table", "incremental"] = "table"
    unique_key: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ColumnTest:
    kind: Literal["not_null", "unique", "accepted_values", "range"]
    loc: Location
    severity: Severity = "error"
    values: tuple[object, ...] = ()
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    loc: Location
    description: str = ""
    tests: tuple[ColumnTest, ...] = ()

    @property
    def family(self) -> str:
        return TYPE_FAMILIES[self.type.split("(")[0]]


@dataclass(frozen=True)
class PortTest:
    kind: Literal["row_count", "expression"]
    loc: Location
    severity: Severity = "error"
    min: int | None = None
    max: int | None = None
    expression: str = ""


@dataclass(frozen=True)
class OutputPort:
    """A published table of the domain with its contract (columns, key, version).

    A port publishes the domain's model of the same name.
    """

    name: str
    version: int
    loc: Location
    columns: Mapping[str, Column]
    primary_key: tuple[str, ...] = ()
    description: str = ""
    tests: tuple[PortTest, ...] = ()


@dataclass(frozen=True)
class CustomTest:
    """A SQL file returning the rows that violate a rule; zero rows passes."""

    name: str
    sql: str
    loc: Location
    severity: Severity = "error"


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


@dataclass(frozen=True)
class Consume:
    port: PortRef
    loc: Location
    #: As written in the config; ``None`` lets the mesh choose (see ``mesh.graph``).
    via: Via | None = None


@dataclass(frozen=True)
class Domain:
    """One domain: its sources, models, output ports, tests and upstream inputs."""

    name: str
    layer: str
    path: str
    loc: Location
    schedule: Schedule
    owner: str
    retries: int
    retry_delay: timedelta
    description: str = ""
    tags: tuple[str, ...] = ()
    sources: Mapping[str, Source] = field(default_factory=dict)
    models: tuple[Model, ...] = ()
    outputs: Mapping[str, OutputPort] = field(default_factory=dict)
    tests: tuple[CustomTest, ...] = ()
    consumes: tuple[Consume, ...] = ()

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def upstream_domains(self) -> list[str]:
        seen: dict[str, None] = {}
        for consume in self.consumes:
            seen.setdefault(consume.port.domain, None)
        return list(seen)
