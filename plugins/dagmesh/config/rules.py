"""The rules a config must follow beyond its schema: the ones that compare its parts, or
that depend on the mesh's policy.

A domain's layer must be one of the mesh's layers; its ports need a primary key when the
policy says so, made of declared columns, and a model to publish; a test the policy makes
blocking cannot be a warning (the same :meth:`OutputPortPolicy.mandates` the test planner
reads); accepted values must be values of the column's type. Each rule reports at the
line of what it found, all problems of a file at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from dagmesh.config.model import (
    AcceptedValuesTest,
    Column,
    Domain,
    Mesh,
    ModelColumn,
    OutputPort,
    RangeTest,
    RelationshipsTest,
    RowCountTest,
)
from dagmesh.config.types import describe
from dagmesh.errors import ConfigError, did_you_mean


def mesh_problems(mesh: Mesh) -> Iterator[ConfigError]:
    if mesh.default_environment not in mesh.environments:
        yield ConfigError.at(
            mesh.where("default_environment"),
            f"default_environment '{mesh.default_environment}' is not one of the environments"
            f"{did_you_mean(mesh.default_environment, mesh.environments)}",
        )


def domain_problems(domain: Domain, mesh: Mesh) -> Iterator[ConfigError]:
    layers = mesh.policy.layers
    if domain.layer not in layers:
        yield ConfigError.at(
            domain.where("layer"),
            f"layer '{domain.layer}' is not one of the mesh's layers ({', '.join(layers)})"
            f"{did_you_mean(domain.layer, layers)}",
        )
    seen: set[str] = set()
    for model in domain.models:
        if model.name in seen:
            yield ConfigError.at(model.loc, f"model '{model.name}' is defined twice")
        seen.add(model.name)
    for port in domain.outputs.values():
        yield from _port_problems(port, seen, mesh)
    consumed: set[str] = set()
    for consume in domain.consumes:
        ref = str(consume.port)
        if consume.port.domain == domain.name:
            yield ConfigError.at(consume.loc, f"domain '{domain.name}' cannot consume its own port '{ref}'")
        elif ref in consumed:
            yield ConfigError.at(consume.loc, f"'{ref}' is consumed twice")
        consumed.add(ref)
    tested: list[Column | ModelColumn] = [c for p in domain.outputs.values() for c in p.columns.values()]
    for model in domain.models:
        if model.columns and model.name in domain.outputs:
            yield ConfigError.at(
                model.where("columns"),
                f"model '{model.name}' is published as a port: declare its column tests on the port's "
                "columns",
            )
        tested += model.columns.values()
    for column in tested:
        for column_test in column.tests:
            if isinstance(column_test, RelationshipsTest):
                yield from _relationship_problems(column_test, domain, consumed, seen)
    tests: set[str] = set()
    for test in domain.tests:
        if test.name in tests:
            yield ConfigError.at(test.loc, f"two domain tests are named '{test.name}'")
        tests.add(test.name)


def _relationship_problems(
    test: RelationshipsTest, domain: Domain, consumed: set[str], models: set[str]
) -> Iterator[ConfigError]:
    """``to`` names a port the domain consumes, or one of its models."""
    target = test.relationships.to
    where = test.relationships.where("to")
    if "." in target and target not in consumed:
        known = sorted(consumed)
        yield ConfigError.at(
            where,
            f"relationships to '{target}': domain {domain.name} does not consume it"
            + did_you_mean(target, known)
            + (f"; it consumes: {', '.join(known)}" if known else ""),
        )
    elif "." not in target and target not in models:
        yield ConfigError.at(
            where,
            f"relationships to '{target}': not a model of domain {domain.name}{did_you_mean(target, models)}",
        )


def _port_problems(port: OutputPort, models: set[str], mesh: Mesh) -> Iterator[ConfigError]:
    policy = mesh.policy.output_ports
    if port.name not in models:
        yield ConfigError.at(
            port.loc,
            f"output port '{port.name}' has no model of the same name to publish"
            f"{did_you_mean(port.name, models)}; models: {', '.join(sorted(models))}",
        )
    if policy.require_primary_key and not port.primary_key:
        yield ConfigError.at(
            port.node_loc, f"output port '{port.name}' is missing required key 'primary_key'"
        )
    for index, column in enumerate(port.primary_key):
        if column not in port.columns:
            yield ConfigError.at(
                port.item_loc("primary_key", index),
                f"primary key column '{column}' is not a column of port '{port.name}'"
                f"{did_you_mean(column, port.columns)}",
            )
    for test in port.tests:
        if isinstance(test, RowCountTest) and test.severity == "warn" and policy.mandates("row_count"):
            yield ConfigError.at(
                test.row_count.where("severity"),
                "the mesh policy makes row_count blocking (row_count is a standard test, and a port's "
                "own bounds are checked with it); remove severity: warn",
            )
    for declared in port.columns.values():
        yield from _column_problems(declared, mesh)


def _column_problems(column: Column, mesh: Mesh) -> Iterator[ConfigError]:
    policy = mesh.policy.output_ports
    for test in column.tests:
        if test.severity == "warn" and policy.mandates(test.test):
            yield ConfigError.at(
                test.loc,
                f"the mesh policy makes {test.test} tests blocking ({_standard(test.test)} is a standard "
                f"test); remove severity: warn from column '{column.name}'",
            )
        if isinstance(test, AcceptedValuesTest):
            for value in test.values:
                reason = _not_of_family(value, column.family)
                if reason:
                    yield ConfigError.at(
                        test.loc,
                        f"accepted_values of {column.type} column '{column.name}' lists {describe(value)}: "
                        f"{reason}",
                    )
                    break
        if isinstance(test, RangeTest) and column.family not in (
            "integer",
            "number",
            "float",
            "date",
            "timestamp",
        ):
            yield ConfigError.at(
                test.loc, f"range applies to number columns; column '{column.name}' is {column.type}"
            )


def _standard(test: str) -> str:
    from dagmesh.config.model import MANDATED_BY

    return MANDATED_BY[test]


def _not_of_family(value: object, family: str) -> str:
    """Why ``value`` can never equal a value of a column of ``family`` ("" when it can)."""
    if value is None:
        return "a null is never equal to anything, so this test could never fail on it; use not_null"
    if family == "string":
        if isinstance(value, bool):
            return (
                "YAML reads yes/no, on/off and true/false as booleans; quote the value ('ON') to mean "
                "the text"
            )
        return "" if isinstance(value, str) else "quote it to mean the text"
    if family == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return "" if ok else "not an integer"
    if family in ("number", "float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return "" if ok else "not a number"
    if family == "boolean":
        return "" if isinstance(value, bool) else "not true or false"
    if family in ("date", "timestamp"):
        if isinstance(value, (date, datetime)):
            return ""
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
                return ""
            except ValueError:
                pass
        return "not a date (YYYY-MM-DD)"
    return ""
