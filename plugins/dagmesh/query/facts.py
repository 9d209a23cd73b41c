"""The answers of the domain query, declared once: the REST API's response models, the
CLI's ``--json`` and what the Mesh page reads.

Every record is plain data (names, numbers, ISO timestamps); nothing here reads anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict

T = TypeVar("T")


def _in_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: The registry keeps times in UTC without a zone; answers say so.
Time = Annotated[datetime, AfterValidator(_in_utc)]

#: A domain's state, most urgent first: its latest build is running or failed; its last
#: certification is older than its schedule promises (stale) or was built from an older
#: version of a shared ancestor than the one published now (out of sync); certified; or
#: never built.
State = Literal["running", "failed", "stale", "out_of_sync", "certified", "never_run"]


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True)


class Page(Fact, Generic[T]):
    """One page of a list that grows; ``total`` counts every item that matches."""

    items: list[T]
    total: int
    limit: int
    offset: int


class TestCounts(Fact):
    passed: int = 0
    failed: int = 0
    warned: int = 0


class BuildSummary(Fact):
    build_id: str
    domain: str
    #: ``running``, ``certified``, ``failed`` or ``abandoned``.
    state: str
    dag_id: str
    run_id: str
    environment: str
    logical_date: Time | None
    full_refresh: bool
    config_version: str
    started_at: Time | None
    finished_at: Time | None
    seconds: float | None
    message: str
    tests: TestCounts


class ModelRun(Fact):
    model: str
    materialized: str
    row_count: int
    seconds: float
    built_at: Time | None


class CheckOutcome(Fact):
    test_id: str
    #: The port, model or custom test the check is about.
    target: str
    test: str
    kind: str
    column: str | None
    severity: str
    #: ``pass``, ``fail`` or ``warn``.
    status: str
    observed: str
    threshold: str
    message: str
    #: For a check that did not pass: a few offending values or rows.
    sample: str = ""


class UpstreamRead(Fact):
    """Which certified build of an upstream port a build read."""

    port: str
    upstream_domain: str
    upstream_build_id: str
    upstream_version: int
    port_version: int
    #: The upstream's own lineage: ``{ancestor domain: version}``.
    lineage: dict[str, int]
    triggered_by_build_id: str | None


class PublishedPort(Fact):
    port_version: int
    row_count: int


class Certification(Fact):
    domain: str
    version: int
    build_id: str
    run_id: str
    certified_at: Time
    #: ``{ancestor domain: version}`` every input was built from.
    lineage: dict[str, int]
    ports: dict[str, PublishedPort]
    #: The upstream builds the certified build read.
    inputs: list[UpstreamRead] = []


class BuildDetail(BuildSummary):
    models: list[ModelRun]
    checks: list[CheckOutcome]
    inputs: list[UpstreamRead]
    certification: Certification | None
    #: Why the build did not certify: its message and every failing check, one per line.
    failure: str | None


class Health(Fact):
    domain: str
    state: State
    #: ``0 5 * * *``, ``on_upstream`` or ``manual``.
    schedule: str
    last_certified_at: Time | None
    #: The time by which the schedule promised a newer certification than the last one
    #: (a cron tick before the latest, or every consumed upstream having certified since).
    due_since: Time | None
    overdue: bool
    #: Shared ancestors whose published version is newer than the one this domain's
    #: certification was built from.
    behind: dict[str, int]
    running: bool
    failing: bool


class DomainSummary(Fact):
    name: str
    layer: str
    owner: str
    description: str
    schedule: str
    dag_id: str
    state: State
    latest_build: BuildSummary | None
    published: Certification | None
    health: Health
    #: Config errors: the domain has no DAG until they are fixed.
    problems: list[str] = []


class Column(Fact):
    name: str
    type: str
    description: str
    tests: list[str]


class Port(Fact):
    name: str
    version: int
    description: str
    primary_key: list[str]
    columns: list[Column]
    #: Every check certification runs on the port: ``test_id: threshold``.
    checks: list[str]
    published: PublishedPort | None
    contract_id: str


class Input(Fact):
    port: str
    upstream_domain: str
    #: ``asset`` (the upstream's certification triggers the run) or ``sensor``.
    via: str


class DomainDetail(DomainSummary):
    tags: list[str]
    sources: dict[str, str]
    models: list[str]
    ports: list[Port]
    inputs: list[Input]
    consumers: list[str]


class LineageEdge(Fact):
    upstream: str
    consumer: str
    port: str
    via: str


class SyncCheck(Fact):
    """Whether a consumer's published build used the published version of a shared ancestor."""

    consumer: str
    ancestor: str
    #: The ancestor's version the consumer's certification was built from.
    used: int | None
    #: The ancestor's version published now.
    published: int | None
    in_sync: bool


class Lineage(Fact):
    nodes: list[DomainSummary]
    edges: list[LineageEdge]
    sync: list[SyncCheck]
