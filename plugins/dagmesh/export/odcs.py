"""An ODCS v3.1 data contract for each output port.

`Open Data Contract Standard <https://bitol-io.github.io/open-data-contract-standard/>`_
is how catalogs (Collibra, OpenMetadata, datacontract-cli) exchange contracts. A port's
contract carries its columns with logical and physical types, its primary key, its owner
and version, and every check dagmesh runs on it (the test planner's own checks) as a
quality rule: ``library`` metrics where ODCS has one (nulls, duplicates, invalid values,
row count), Snowflake SQL returning the violation count for the rest.
"""

from __future__ import annotations

from typing import Any

from dagmesh.config.model import Column, Domain, Mesh, OutputPort
from dagmesh.config.types import PortRef
from dagmesh.quality.checks import Check, Expectation, port_checks
from dagmesh.sql import statements as sql
from dagmesh.sql.statements import Relation

API_VERSION = "v3.1.0"

#: ODCS logical types of dagmesh's column type families.
LOGICAL_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "float": "number",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


def contract_id(mesh: Mesh, port: PortRef) -> str:
    """The contract's id: stable across versions, unique in the mesh."""
    return f"{mesh.name}.{port.domain}.{port.port}"


def contract_version(port: OutputPort) -> str:
    """Semantic version of a port's contract: its major ``version`` (breaking changes raise it)."""
    return f"{port.version}.0.0"


def port_contract(mesh: Mesh, domain: Domain, port: OutputPort) -> dict[str, Any]:
    """The ODCS contract of one output port."""
    ref = PortRef(domain.name, port.name)
    purpose = port.description or domain.description
    contract: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": contract_id(mesh, ref),
        "name": str(ref),
        "version": contract_version(port),
        "status": "active",
        "domain": domain.name,
        "dataProduct": domain.name,
        "tags": [domain.layer, *domain.tags],
        "schema": [_table(mesh, domain, port)],
        "team": {"name": domain.owner},
        "customProperties": [
            {"property": "dagmeshMesh", "value": mesh.name},
            {"property": "dagmeshLayer", "value": domain.layer},
        ],
    }
    if purpose:
        contract["description"] = {"purpose": purpose.strip()}
    return contract


def _table(mesh: Mesh, domain: Domain, port: OutputPort) -> dict[str, Any]:
    relation = Relation(domain.name.upper(), port.name.upper())  # as Snowflake stores the names
    rules: dict[str | None, list[dict[str, Any]]] = {}
    for check in port_checks(domain, port, mesh.policy):
        rule = _rule(check, relation)
        if rule is not None:
            rules.setdefault(check.column, []).append(rule)
    table: dict[str, Any] = {
        "name": port.name,
        "physicalName": f"{relation.schema}.{relation.name}",
        "physicalType": "table",
        "logicalType": "object",
        "properties": [_column(port, column, rules.get(column.name, [])) for column in port.columns.values()],
    }
    if port.description:
        table["description"] = port.description
    if rules.get(None):
        table["quality"] = rules[None]
    return table


def _column(port: OutputPort, column: Column, quality: list[dict[str, Any]]) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "name": column.name,
        "logicalType": LOGICAL_TYPES[column.family],
        "physicalType": column.type,
    }
    if column.name in port.primary_key:
        prop["primaryKey"] = True
        prop["primaryKeyPosition"] = port.primary_key.index(column.name) + 1
    tests = {t.test for t in column.tests}
    if column.name in port.primary_key or "not_null" in tests:
        prop["required"] = True
    if "unique" in tests or port.primary_key == (column.name,):
        prop["unique"] = True
    if column.description:
        prop["description"] = column.description
    if quality:
        prop["quality"] = quality
    return prop


#: ODCS library metrics of the checks that have one, and the dimension each measures.
_METRICS = {
    "nulls": ("nullValues", "completeness"),
    "duplicates": ("duplicateValues", "uniqueness"),
    "not_in": ("invalidValues", "conformity"),
    "rows": ("rowCount", "completeness"),
}


def _rule(check: Check, relation: Relation) -> dict[str, Any] | None:
    """A check as an ODCS quality rule (the contract check is the schema itself: none)."""
    what = check.measure
    if what is None or what.kind == "contract":
        return None
    rule: dict[str, Any] = {
        "name": check.test,
        "severity": "warning" if check.severity == "warn" else "error",
    }
    if what.kind in _METRICS:
        metric, dimension = _METRICS[what.kind]
        rule.update(type="library", metric=metric, dimension=dimension)
        if what.kind == "not_in":
            rule["arguments"] = {"validValues": [_json_value(v) for v in what.values]}
    else:
        parents = {what.parent: _published(what.parent, relation)} if what.parent else None
        query = sql.render(sql.measure_query(relation, what, parents), "snowflake")
        rule.update(type="sql", query=query, dimension="accuracy")
        if what.kind == "orphans":
            rule["description"] = f"every value is a {what.field} of {what.parent}"
        if what.condition:
            rule["description"] = f"every row satisfies: {what.condition}"
    rule.update(_operator(check.expect))
    return rule


def _published(name: str, port: Relation) -> Relation:
    """Where a relationships test's parent is published: another port, or a model of the
    port's own domain."""
    domain, _, table = name.rpartition(".")
    return Relation(domain.upper() if domain else port.schema, table.upper())


def _operator(expect: Expectation) -> dict[str, Any]:
    if expect.op == "between":
        return {"mustBeBetween": [expect.low, expect.high]}
    if expect.op == "ge":
        return {"mustBeGreaterOrEqualTo": expect.low}
    if expect.op == "le":
        return {"mustBeLessOrEqualTo": expect.high}
    return {"mustBe": expect.low}


def _json_value(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
