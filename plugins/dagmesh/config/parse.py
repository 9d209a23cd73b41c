"""From located YAML documents to :mod:`dagmesh.config.model` values.

``parse_mesh`` and ``parse_domain`` never raise on bad input: they record every
problem in the given :class:`~dagmesh.errors.Diagnostics` and return what they could
make sense of (``None`` when nothing usable is left).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any, cast

from dagmesh.config.cron import fires, normalize_cron
from dagmesh.config.fields import IDENTIFIER, Fields, describe
from dagmesh.config.model import (
    STANDARD_TESTS,
    TYPE_FAMILIES,
    AssetCondition,
    Column,
    ColumnTest,
    Consistency,
    Consume,
    CustomTest,
    Defaults,
    Domain,
    Environment,
    Freshness,
    Mesh,
    Model,
    OutputPort,
    OutputPortPolicy,
    Policy,
    PortRef,
    PortTest,
    Schedule,
    SensorSettings,
    Source,
    default_duckdb_path,
)
from dagmesh.config.yamlfile import YamlMap, YamlSeq
from dagmesh.errors import Diagnostics, Location, did_you_mean

_TYPE = re.compile(r"^([a-z_]+)(\(\s*\d+\s*(,\s*\d+\s*)?\))?$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){2}$")
#: A warehouse name that needs no quoting to be written (a column, a database, a role).
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
SEVERITIES = ("error", "warn")


def _document(node: Any, where: Location, what: str, diagnostics: Diagnostics) -> YamlMap | None:
    if isinstance(node, YamlMap):
        return node
    if node is None:
        diagnostics.error(where, f"{what} is empty")
    else:
        diagnostics.error(where, f"{what} must be a mapping of keys, not {describe(node)}")
    return None


def _named(node: YamlMap, what: str, diagnostics: Diagnostics) -> Iterator[tuple[str, Any, Location]]:
    """The entries of a mapping of named things (environments, sources, ports, columns),
    skipping (and reporting) names that are not lowercase identifiers."""
    for name, value in node.items():
        where = node.key_loc(name)
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            diagnostics.error(where, f"{what} name must be a lowercase identifier, not {describe(name)}")
            continue
        yield name, value, where


# --------------------------------------------------------------------------- mesh.yaml


def parse_mesh(node: Any, path: str, diagnostics: Diagnostics) -> Mesh | None:
    """Read ``mesh.yaml``; ``None`` when it is unusable (every domain then fails)."""
    doc = _document(node, Location(path), "mesh.yaml", diagnostics)
    if doc is None:
        return None
    top = Fields(
        doc,
        diagnostics,
        "mesh.yaml",
        allowed=(
            "mesh",
            "description",
            "environments",
            "default_environment",
            "defaults",
            "policy",
            "consistency",
            "sensors",
        ),
        required=("mesh", "environments"),
    )
    name = top.identifier("mesh")
    environments = _environments(top, diagnostics)
    declared: dict[Any, Any] = top.mapping("environments") or {}
    default_env = top.text("default_environment", next(iter(environments), ""))
    if top.has("default_environment") and declared and default_env not in declared:
        diagnostics.error(
            top.at("default_environment"),
            f"default_environment '{default_env}' is not one of the environments"
            f"{did_you_mean(default_env, [str(k) for k in declared])}",
        )
    if not name or not environments:
        return None
    return Mesh(
        name=name,
        path=path,
        description=top.text("description"),
        environments=environments,
        default_environment=default_env,
        defaults=_defaults(top, diagnostics),
        policy=_policy(top, diagnostics),
        consistency=_consistency(top, diagnostics),
        sensors=_sensors(top, diagnostics),
    )


def _environments(top: Fields, diagnostics: Diagnostics) -> dict[str, Environment]:
    node = top.mapping("environments")
    result: dict[str, Environment] = {}
    if node is None:
        return result
    if not node:
        diagnostics.error(top.at("environments"), "environments must define at least one environment")
    for env_name, value, _ in _named(node, "environment", diagnostics):
        env = _document(value, node.value_loc(env_name), f"environment '{env_name}'", diagnostics)
        if env is None:
            continue
        fields = Fields(
            env,
            diagnostics,
            f"environment '{env_name}'",
            allowed=(
                "engine",
                "path",
                "conn_id",
                "database",
                "warehouse",
                "role",
                "pool",
                "cloned_from",
            ),
            required=("engine",),
        )
        engine = fields.choice("engine", ("duckdb", "snowflake"))
        if engine is None:
            continue
        if engine == "duckdb":
            for key in ("conn_id", "database", "warehouse", "role"):
                if fields.has(key):
                    diagnostics.error(fields.key_at(key), f"'{key}' only applies to snowflake environments")
        elif fields.has("path"):
            diagnostics.error(fields.key_at("path"), "'path' only applies to duckdb environments")
        for key in ("database", "warehouse", "role"):
            value = fields.text(key)
            if value and not _NAME.match(value):
                diagnostics.error(
                    fields.at(key), f"'{key}' must be a Snowflake name (letters, digits, _, $), not '{value}'"
                )
        result[env_name] = Environment(
            name=env_name,
            engine=cast(Any, engine),
            loc=env.loc,
            path=fields.text("path", default_duckdb_path(env_name)) if engine == "duckdb" else None,
            conn_id=fields.text("conn_id", "snowflake_default") if engine == "snowflake" else None,
            database=fields.text("database") or None,
            warehouse=fields.text("warehouse") or None,
            role=fields.text("role") or None,
            pool=fields.text("pool") or None,
            cloned_from=fields.text("cloned_from") or None,
        )
    return result


def _defaults(top: Fields, diagnostics: Diagnostics) -> Defaults:
    node = top.mapping("defaults")
    if node is None:
        return Defaults()
    fields = Fields(
        node,
        diagnostics,
        "defaults",
        allowed=("owner", "retries", "retry_delay", "start_date", "timezone", "tags"),
    )
    base = Defaults()
    timezone = fields.text("timezone", base.timezone)
    if timezone != "UTC":
        # Sensor alignment is computed on one clock; a mesh-wide timezone keeps it exact.
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(timezone)
        except (ValueError, KeyError, OSError):
            diagnostics.error(fields.at("timezone"), f"unknown timezone '{timezone}'")
            timezone = base.timezone
    return Defaults(
        owner=fields.text("owner", base.owner),
        retries=fields.integer("retries", base.retries, minimum=0),
        retry_delay=fields.duration("retry_delay", base.retry_delay) or base.retry_delay,
        start_date=fields.day("start_date", base.start_date),
        timezone=timezone,
        tags=fields.str_list("tags"),
    )


def _policy(top: Fields, diagnostics: Diagnostics) -> Policy:
    node = top.mapping("policy")
    if node is None:
        return Policy()
    fields = Fields(node, diagnostics, "policy", allowed=("layers", "output_ports"))
    layers = fields.str_list("layers", identifiers=True) or Policy().layers
    if len(set(layers)) != len(layers):
        diagnostics.error(fields.at("layers"), "policy.layers lists a layer twice")
    ports = OutputPortPolicy()
    ports_node = fields.mapping("output_ports")
    if ports_node is not None:
        pf = Fields(
            ports_node,
            diagnostics,
            "policy.output_ports",
            allowed=("require_primary_key", "min_rows", "standard_tests"),
        )
        tests = pf.str_list("standard_tests") if pf.has("standard_tests") else STANDARD_TESTS
        seq = ports_node.get("standard_tests")
        for index, test in enumerate(tests):
            if test not in STANDARD_TESTS:
                where = seq.item_loc(index) if isinstance(seq, YamlSeq) else pf.at("standard_tests")
                diagnostics.error(
                    where,
                    f"unknown standard test '{test}'{did_you_mean(test, STANDARD_TESTS)}; "
                    f"known: {', '.join(STANDARD_TESTS)}",
                )
        ports = OutputPortPolicy(
            require_primary_key=pf.flag("require_primary_key", ports.require_primary_key),
            min_rows=pf.integer("min_rows", ports.min_rows, minimum=0),
            standard_tests=tuple(t for t in tests if t in STANDARD_TESTS),
        )
    return Policy(layers=layers, output_ports=ports)


def _consistency(top: Fields, diagnostics: Diagnostics) -> Consistency:
    node = top.mapping("consistency")
    base = Consistency()
    if node is None:
        return base
    fields = Fields(node, diagnostics, "consistency", allowed=("max_wait", "poll_interval"))
    poll = fields.duration("poll_interval", base.poll_interval) or base.poll_interval
    if poll.total_seconds() < 1:
        diagnostics.error(fields.at("poll_interval"), "poll_interval must be at least 1s")
        poll = base.poll_interval
    return Consistency(
        max_wait=fields.duration("max_wait", base.max_wait) or timedelta(0),
        poll_interval=poll,
    )


def _sensors(top: Fields, diagnostics: Diagnostics) -> SensorSettings:
    node = top.mapping("sensors")
    base = SensorSettings()
    if node is None:
        return base
    fields = Fields(node, diagnostics, "sensors", allowed=("timeout", "poke_interval", "mode"))
    if node.get("mode") == "reschedule":
        diagnostics.error(
            fields.at("mode"),
            "sensors.mode 'reschedule' is broken in Airflow 3.2-3.3 (apache/airflow#71172); "
            "use 'poke' or 'deferrable'",
        )
        mode: str | None = base.mode
    else:
        mode = fields.choice("mode", ("poke", "deferrable"), base.mode)
    return SensorSettings(
        timeout=fields.duration("timeout", base.timeout) or base.timeout,
        poke_interval=fields.duration("poke_interval", base.poke_interval) or base.poke_interval,
        mode=cast(Any, mode),
    )


# --------------------------------------------------------------------------- domains

_DOMAIN_KEYS = (
    "domain",
    "layer",
    "description",
    "owner",
    "schedule",
    "tags",
    "retries",
    "retry_delay",
    "sources",
    "models",
    "outputs",
    "tests",
    "consumes",
)


def parse_domain(node: Any, path: str, mesh: Mesh, diagnostics: Diagnostics) -> Domain | None:
    """Read one domain file; ``None`` when its name or layer cannot be determined."""
    doc = _document(node, Location(path), "a domain file", diagnostics)
    if doc is None:
        return None
    top = Fields(doc, diagnostics, "domain", _DOMAIN_KEYS, required=("domain", "layer", "schedule"))
    name = top.identifier("domain")
    layer = top.text("layer")
    if layer and layer not in mesh.policy.layers:
        diagnostics.error(
            top.at("layer"),
            f"layer '{layer}' is not one of the mesh's layers ({', '.join(mesh.policy.layers)})"
            f"{did_you_mean(layer, mesh.policy.layers)}",
        )
        layer = ""
    if not name or not layer:
        return None

    defaults = mesh.defaults
    models = _models(top, name, diagnostics)
    model_names = {m.name for m in models}
    outputs = _outputs(top, mesh, model_names, diagnostics)
    consumes = _consumes(top, name, diagnostics)
    return Domain(
        name=name,
        layer=layer,
        path=path,
        loc=doc.loc,
        schedule=_schedule(top, diagnostics),
        owner=top.text("owner", defaults.owner),
        retries=top.integer("retries", defaults.retries, minimum=0),
        retry_delay=top.duration("retry_delay", defaults.retry_delay) or defaults.retry_delay,
        description=top.text("description").strip(),
        tags=top.str_list("tags"),
        sources=_sources(top, diagnostics),
        models=models,
        outputs=outputs,
        tests=_custom_tests(top, diagnostics),
        consumes=consumes,
    )


def _schedule(top: Fields, diagnostics: Diagnostics) -> Schedule:
    where = top.at("schedule")
    value = top.raw("schedule")
    if value is None or value == "manual":
        return Schedule(kind="manual", loc=where)
    if value == "on_upstream":
        return Schedule(kind="on_upstream", loc=where)
    if isinstance(value, YamlMap):
        fields = Fields(value, diagnostics, "schedule", allowed=("on_upstream",), required=("on_upstream",))
        condition = value.get("on_upstream")
        if condition in (None, "all"):
            return Schedule(kind="on_upstream", loc=where)
        parsed = _condition(condition, fields.at("on_upstream"), diagnostics)
        return Schedule(kind="on_upstream", loc=where, condition=parsed)
    if isinstance(value, str):
        cron = normalize_cron(value)
        if cron is not None and not fires(cron):
            diagnostics.error(where, f"schedule '{value}' never fires (no date matches it)")
            return Schedule(kind="manual", loc=where)
        if cron is not None:
            return Schedule(kind="cron", loc=where, cron=cron)
        diagnostics.error(
            where,
            f"schedule '{value}' is not a valid cron expression (five fields, e.g. '0 5 * * *'), "
            "a preset such as @daily, 'on_upstream' or 'manual'",
        )
    else:
        diagnostics.error(
            where,
            f"schedule must be a cron expression, 'on_upstream', 'manual' or "
            f"{{on_upstream: all|any|{{all|any: [...]}}}}, not {describe(value)}",
        )
    return Schedule(kind="manual", loc=where)


def _condition(value: Any, where: Location, diagnostics: Diagnostics) -> AssetCondition | None:
    """``any``/``all`` or ``{all|any: [port or nested condition, ...]}``."""
    if value in ("all", "any"):
        return AssetCondition(op=value, items=())
    if not isinstance(value, YamlMap) or len(value) != 1 or next(iter(value)) not in ("all", "any"):
        diagnostics.error(
            where,
            "on_upstream must be 'all', 'any', or a mapping with one key 'all' or 'any' "
            "holding a list of ports (domain.port) or nested conditions",
        )
        return None
    op = next(iter(value))
    items = value[op]
    if not isinstance(items, YamlSeq) or not items:
        diagnostics.error(value.value_loc(op), f"'{op}' must be a non-empty list")
        return None
    parsed: list[PortRef | AssetCondition] = []
    for index, item in enumerate(items):
        item_where = items.item_loc(index)
        if isinstance(item, str):
            ref = _port_ref(item, item_where, diagnostics)
            if ref:
                parsed.append(ref)
        else:
            nested = _condition(item, item_where, diagnostics)
            if nested is not None and nested.items:
                parsed.append(nested)
            elif nested is not None:
                diagnostics.error(item_where, "a nested condition must list its ports")
    return AssetCondition(op=op, items=tuple(parsed))


def _port_ref(value: Any, where: Location, diagnostics: Diagnostics) -> PortRef | None:
    if isinstance(value, str):
        parts = value.split(".")
        if len(parts) == 2 and all(IDENTIFIER.match(p) for p in parts):
            return PortRef(parts[0], parts[1])
    diagnostics.error(where, f"a port reference must look like domain.port, not {describe(value)}")
    return None


def _consumes(top: Fields, domain: str, diagnostics: Diagnostics) -> tuple[Consume, ...]:
    seq = top.sequence("consumes")
    if seq is None:
        return ()
    result: list[Consume] = []
    for index, item in enumerate(seq):
        where = seq.item_loc(index)
        via: str | None = None
        if isinstance(item, YamlMap):
            fields = Fields(item, diagnostics, "consumes entry", ("port", "via"), required=("port",))
            via = fields.choice("via", ("asset", "sensor"))
            ref = _port_ref(item.get("port"), fields.at("port"), diagnostics) if fields.has("port") else None
        else:
            ref = _port_ref(item, where, diagnostics)
        if ref is None:
            continue
        if ref.domain == domain:
            diagnostics.error(where, f"domain '{domain}' cannot consume its own port '{ref}'")
            continue
        if any(c.port == ref for c in result):
            diagnostics.error(where, f"'{ref}' is consumed twice")
            continue
        result.append(Consume(port=ref, loc=where, via=cast(Any, via)))
    return tuple(result)


def _sources(top: Fields, diagnostics: Diagnostics) -> dict[str, Source]:
    node = top.mapping("sources")
    result: dict[str, Source] = {}
    if node is None:
        return result
    for name, value, where in _named(node, "source", diagnostics):
        if isinstance(value, str):
            value_map = None
            table = value
            table_loc = node.value_loc(name)
        else:
            value_map = _document(value, node.value_loc(name), f"source '{name}'", diagnostics)
            if value_map is None:
                continue
            fields = Fields(
                value_map,
                diagnostics,
                f"source '{name}'",
                ("table", "freshness", "description"),
                required=("table",),
            )
            table = fields.text("table")
            table_loc = fields.at("table")
        if table and not _TABLE.match(table):
            diagnostics.error(table_loc, f"source table must be DATABASE.SCHEMA.TABLE, not '{table}'")
            continue
        if not table:
            continue
        freshness = None
        if value_map is not None and value_map.get("freshness") is not None:
            freshness = _freshness(value_map, name, diagnostics)
        result[name] = Source(name=name, table=table, loc=where, freshness=freshness)
    return result


def _freshness(source: YamlMap, name: str, diagnostics: Diagnostics) -> Freshness | None:
    node = _document(source["freshness"], source.value_loc("freshness"), "freshness", diagnostics)
    if node is None:
        return None
    fields = Fields(
        node,
        diagnostics,
        f"freshness of source '{name}'",
        ("column", "warn_after", "error_after"),
        required=("column",),
    )
    warn_after = fields.duration("warn_after", None)
    error_after = fields.duration("error_after", None)
    if warn_after is None and error_after is None:
        diagnostics.error(node.loc, "freshness needs warn_after, error_after or both")
    if warn_after and error_after and warn_after > error_after:
        diagnostics.error(fields.at("warn_after"), "warn_after must not be longer than error_after")
    column = fields.text("column")
    if column and not _NAME.match(column):
        diagnostics.error(fields.at("column"), f"freshness column must be a column name, not '{column}'")
        return None
    if not column:
        return None
    return Freshness(column=column, loc=node.loc, warn_after=warn_after, error_after=error_after)


def _models(top: Fields, domain: str, diagnostics: Diagnostics) -> tuple[Model, ...]:
    seq = top.sequence("models")
    if seq is None:
        if not top.has("models"):
            diagnostics.error(top.loc, "domain is missing required key 'models'")
        return ()
    if not seq:
        diagnostics.error(top.at("models"), "models must list at least one model")
    result: list[Model] = []
    for index, item in enumerate(seq):
        where = seq.item_loc(index)
        if isinstance(item, str):
            item_map: YamlMap | None = None
            name = item if IDENTIFIER.match(item) else ""
            if not name:
                diagnostics.error(where, f"model name must be a lowercase identifier, not '{item}'")
        else:
            item_map = _document(item, where, "a model", diagnostics)
            if item_map is None:
                continue
            fields = Fields(
                item_map,
                diagnostics,
                "model",
                ("name", "sql", "materialized", "unique_key", "description"),
                required=("name",),
            )
            name = fields.identifier("name")
        if not name:
            continue
        if any(m.name == name for m in result):
            diagnostics.error(where, f"model '{name}' is defined twice")
            continue
        sql = f"{domain}/{name}.sql"
        materialized = "table"
        unique_key: tuple[str, ...] = ()
        description = ""
        if item_map is not None:
            sql = fields.text("sql", sql)
            if PurePosixPath(sql).is_absolute() or ".." in PurePosixPath(sql).parts:
                diagnostics.error(fields.at("sql"), f"sql must be a path inside sql/, not '{sql}'")
            elif not sql.endswith(".sql"):
                diagnostics.error(fields.at("sql"), f"sql must name a .sql file, not '{sql}'")
            materialized = fields.choice("materialized", ("table", "incremental"), "table") or "table"
            unique_key = fields.str_list("unique_key", identifiers=True)
            if materialized == "incremental" and not unique_key:
                diagnostics.error(item_map.loc, f"incremental model '{name}' needs a unique_key to merge on")
            elif unique_key and materialized != "incremental":
                diagnostics.error(
                    fields.key_at("unique_key"), "unique_key only applies to incremental models"
                )
            description = fields.text("description")
        result.append(
            Model(
                name=name,
                sql=sql,
                loc=where,
                materialized=cast(Any, materialized),
                unique_key=unique_key,
                description=description,
            )
        )
    return tuple(result)


def _outputs(top: Fields, mesh: Mesh, models: set[str], diagnostics: Diagnostics) -> dict[str, OutputPort]:
    node = top.mapping("outputs")
    result: dict[str, OutputPort] = {}
    if node is None:
        if not top.has("outputs"):
            diagnostics.error(top.loc, "domain is missing required key 'outputs'")
        return result
    if not node:
        diagnostics.error(top.at("outputs"), "outputs must declare at least one output port")
    policy = mesh.policy.output_ports
    for name, value, where in _named(node, "port", diagnostics):
        port_map = _document(value, node.value_loc(name), f"output port '{name}'", diagnostics)
        if port_map is None:
            continue
        required = ["version", "columns"] + (["primary_key"] if policy.require_primary_key else [])
        fields = Fields(
            port_map,
            diagnostics,
            f"output port '{name}'",
            ("version", "description", "primary_key", "columns", "tests"),
            required=required,
        )
        if models and name not in models:
            diagnostics.error(
                where,
                f"output port '{name}' has no model of the same name to publish"
                f"{did_you_mean(name, models)}; models: {', '.join(sorted(models))}",
            )
        columns = _columns(fields, name, mesh, diagnostics)
        primary_key = fields.str_list("primary_key")
        pk_seq = port_map.get("primary_key")
        # Columns declared with a bad type are reported on their own line, not here again.
        declared = port_map.get("columns") if isinstance(port_map.get("columns"), dict) else columns
        for index, column in enumerate(primary_key):
            if declared and column not in declared:
                at = pk_seq.item_loc(index) if isinstance(pk_seq, YamlSeq) else fields.at("primary_key")
                diagnostics.error(
                    at,
                    f"primary key column '{column}' is not a column of port '{name}'"
                    f"{did_you_mean(column, columns)}",
                )
        result[name] = OutputPort(
            name=name,
            version=fields.integer("version", 1, minimum=1),
            loc=where,
            columns=columns,
            primary_key=primary_key,
            description=fields.text("description"),
            tests=_port_tests(fields, mesh, diagnostics),
        )
    return result


def _columns(port: Fields, port_name: str, mesh: Mesh, diagnostics: Diagnostics) -> dict[str, Column]:
    node = port.mapping("columns")
    result: dict[str, Column] = {}
    if node is None:
        return result
    if not node:
        diagnostics.error(port.at("columns"), f"output port '{port_name}' must declare its columns")
    mandatory = set(mesh.policy.output_ports.standard_tests)
    for name, value, where in _named(node, "column", diagnostics):
        tests: tuple[ColumnTest, ...] = ()
        if isinstance(value, str):
            column_type, type_loc, description = value, node.value_loc(name), ""
        else:
            col_map = _document(value, node.value_loc(name), f"column '{name}'", diagnostics)
            if col_map is None:
                continue
            fields = Fields(
                col_map,
                diagnostics,
                f"column '{name}'",
                ("type", "description", "tests"),
                required=("type",),
            )
            column_type, type_loc = fields.text("type"), fields.at("type")
            description = fields.text("description")
            tests = _column_tests(fields, name, mandatory, diagnostics)
        normalized = column_type.lower().replace(" ", "")
        match = _TYPE.match(normalized)
        if not column_type:
            continue
        if not match or match.group(1) not in TYPE_FAMILIES:
            diagnostics.error(
                type_loc,
                f"unknown column type '{column_type}'{did_you_mean(normalized, TYPE_FAMILIES)}; "
                f"use one of: {', '.join(sorted(set(TYPE_FAMILIES)))}",
            )
            continue
        result[name] = Column(name=name, type=normalized, loc=where, description=description, tests=tests)
    return result


_COLUMN_TESTS = ("not_null", "unique", "accepted_values", "range")


def _column_tests(
    column: Fields, name: str, mandatory: set[str], diagnostics: Diagnostics
) -> tuple[ColumnTest, ...]:
    seq = column.sequence("tests")
    if seq is None:
        return ()
    result: list[ColumnTest] = []
    for index, item in enumerate(seq):
        where = seq.item_loc(index)
        kind, body = _single_key(item, where, "column test", _COLUMN_TESTS, diagnostics)
        if kind is None:
            continue
        severity = "error"
        values: tuple[object, ...] = ()
        low = high = None
        if kind == "accepted_values":
            if isinstance(body, YamlSeq):
                values = tuple(body)
            elif isinstance(body, YamlMap):
                fields = Fields(body, diagnostics, "accepted_values", ("values", "severity"), ("values",))
                severity = fields.choice("severity", SEVERITIES, "error") or "error"
                raw = body.get("values")
                values = tuple(raw) if isinstance(raw, list) else ()
                if not isinstance(raw, list) and raw is not None:
                    fields.bad("values", "a list")
            if not values:
                diagnostics.error(where, "accepted_values needs a non-empty list of values")
                continue
            if any(isinstance(v, (dict, list)) for v in values):
                diagnostics.error(where, "accepted_values may only list plain values")
                continue
        elif kind == "range":
            if not isinstance(body, YamlMap):
                diagnostics.error(where, "range needs a mapping with min, max or both")
                continue
            fields = Fields(body, diagnostics, "range", ("min", "max", "severity"))
            low, high = fields.number("min"), fields.number("max")
            severity = fields.choice("severity", SEVERITIES, "error") or "error"
            if low is None and high is None:
                diagnostics.error(where, "range needs min, max or both")
                continue
            if low is not None and high is not None and low > high:
                diagnostics.error(where, f"range min {low:g} is greater than max {high:g}")
                continue
        elif body is not None:
            if not isinstance(body, YamlMap):
                diagnostics.error(where, f"{kind} takes no value other than {{severity: warn}}")
                continue
            fields = Fields(body, diagnostics, kind, ("severity",))
            severity = fields.choice("severity", SEVERITIES, "error") or "error"
        policy_name = {"not_null": "not_null_columns", "accepted_values": "accepted_values"}.get(kind)
        if severity == "warn" and policy_name in mandatory:
            diagnostics.error(
                where,
                f"the mesh policy makes {kind} tests blocking ({policy_name} is a standard test); "
                f"remove severity: warn from column '{name}'",
            )
            severity = "error"
        if any(t.kind == kind for t in result):
            diagnostics.error(where, f"column '{name}' declares the {kind} test twice")
            continue
        result.append(
            ColumnTest(
                kind=cast(Any, kind),
                loc=where,
                severity=cast(Any, severity),
                values=values,
                min=low,
                max=high,
            )
        )
    return tuple(result)


_PORT_TESTS = ("row_count", "expression")


def _port_tests(port: Fields, mesh: Mesh, diagnostics: Diagnostics) -> tuple[PortTest, ...]:
    seq = port.sequence("tests")
    if seq is None:
        return ()
    result: list[PortTest] = []
    for index, item in enumerate(seq):
        where = seq.item_loc(index)
        kind, body = _single_key(item, where, "port test", _PORT_TESTS, diagnostics)
        if kind is None:
            continue
        if kind == "row_count":
            if not isinstance(body, YamlMap):
                diagnostics.error(where, "row_count needs a mapping with min, max or both")
                continue
            fields = Fields(body, diagnostics, "row_count", ("min", "max", "severity"))
            low = fields.integer("min", -1, minimum=0)
            high = fields.integer("max", -1, minimum=0)
            if low < 0 and high < 0:
                diagnostics.error(where, "row_count needs min, max or both")
                continue
            if low >= 0 and high >= 0 and low > high:
                diagnostics.error(where, f"row_count min {low} is greater than max {high}")
                continue
            severity = fields.choice("severity", SEVERITIES, "error")
            if any(t.kind == "row_count" for t in result):
                diagnostics.error(where, "the port declares the row_count test twice")
                continue
            if severity == "warn" and "row_count" in mesh.policy.output_ports.standard_tests:
                diagnostics.error(
                    fields.at("severity"),
                    "the mesh policy makes row_count blocking (row_count is a standard test, and a port's "
                    "own bounds are checked with it); remove severity: warn",
                )
                severity = "error"
            result.append(
                PortTest(
                    kind="row_count",
                    loc=where,
                    severity=cast(Any, severity),
                    min=low if low >= 0 else None,
                    max=high if high >= 0 else None,
                )
            )
        else:
            severity = "error"
            if isinstance(body, YamlMap):
                fields = Fields(body, diagnostics, "expression", ("sql", "severity"), ("sql",))
                expression = fields.text("sql")
                severity = fields.choice("severity", SEVERITIES, "error") or "error"
            elif isinstance(body, str):
                expression = body
            else:
                diagnostics.error(where, "expression needs a SQL condition every row must satisfy")
                continue
            if not expression.strip():
                continue
            result.append(
                PortTest(
                    kind="expression",
                    loc=where,
                    severity=cast(Any, severity),
                    expression=expression,
                )
            )
    return tuple(result)


def _single_key(
    item: Any, where: Location, what: str, kinds: tuple[str, ...], diagnostics: Diagnostics
) -> tuple[str | None, Any]:
    """A test written as ``name`` or ``{name: body}``."""
    if isinstance(item, str):
        kind, body = item, None
    elif isinstance(item, YamlMap) and len(item) == 1:
        kind, body = next(iter(item.items()))
        where = item.key_loc(kind)
    else:
        diagnostics.error(where, f"a {what} is a name or a mapping with one key: one of {', '.join(kinds)}")
        return None, None
    if kind not in kinds:
        diagnostics.error(
            where,
            f"unknown {what} '{kind}'{did_you_mean(str(kind), kinds)}; known: {', '.join(kinds)}",
        )
        return None, None
    return kind, body


def _custom_tests(top: Fields, diagnostics: Diagnostics) -> tuple[CustomTest, ...]:
    seq = top.sequence("tests")
    if seq is None:
        return ()
    result: list[CustomTest] = []
    for index, item in enumerate(seq):
        where = seq.item_loc(index)
        node = _document(item, where, "a domain test", diagnostics)
        if node is None:
            continue
        fields = Fields(node, diagnostics, "domain test", ("sql", "severity", "name"), ("sql",))
        sql = fields.text("sql")
        if not sql:
            continue
        if not sql.endswith(".sql"):
            diagnostics.error(fields.at("sql"), f"sql must name a .sql file, not '{sql}'")
            continue
        name = fields.identifier("name", PurePosixPath(sql).stem.lower())
        if not IDENTIFIER.match(name):
            diagnostics.error(fields.at("sql"), f"set 'name': the file name '{name}' is not an identifier")
            continue
        if any(t.name == name for t in result):
            diagnostics.error(where, f"two domain tests are named '{name}'")
            continue
        result.append(
            CustomTest(
                name=name,
                sql=sql,
                loc=where,
                severity=cast(Any, fields.choice("severity", SEVERITIES, "error")),
            )
        )
    return tuple(result)
