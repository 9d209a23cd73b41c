"""Checks: what the test stage measures, and what makes a measurement pass.

Every test a domain runs — the mesh's standard pack, column tests, port tests and
custom SQL tests — is compiled to :class:`Check` values. A check of a table is one
aggregate expression (Snowflake dialect) whose value is compared to an
:class:`Expectation`; :mod:`dagmesh.quality.fused` puts all checks of one table in
one query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dagmesh.config.model import (
    AcceptedValuesTest,
    ColumnTest,
    CustomTest,
    Domain,
    ExpressionTest,
    Model,
    OutputPort,
    Policy,
    RangeTest,
    RelationshipsTest,
    RowCountTest,
)

CheckKind = Literal["standard", "column", "port", "custom", "input"]


@dataclass(frozen=True)
class Expectation:
    """What an observed value must be: ``= x``, ``>= x``, ``<= x``, a range, or a contract."""

    op: Literal["eq", "ge", "le", "between", "contract"]
    low: float | None = None
    high: float | None = None
    #: For ``contract``: declared (column, family) pairs in order.
    contract: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        if self.op == "eq":
            return f"= {_num(self.low)}"
        if self.op == "ge":
            return f">= {_num(self.low)}"
        if self.op == "le":
            return f"<= {_num(self.high)}"
        if self.op == "between":
            return f"between {_num(self.low)} and {_num(self.high)}"
        return ",".join(f"{c}:{t}" for c, t in self.contract)


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Measure:
    """What one check measures over a table, declared; :func:`dagmesh.sql.statements.measure`
    writes it as one aggregate of the port's fused test query.

    ``rows``: the row count; ``key_violations``: rows whose key (``columns``) is null or
    repeated; ``nulls``; ``duplicates``; ``not_in`` (non-null values outside ``values``);
    ``outside`` (values below ``low`` or above ``high``); ``violations`` (rows for which
    ``condition``, a SQL condition over the port's ``columns``, is not true); ``contract``
    (the table's columns and types); ``orphans`` (values not found in a parent table).
    """

    kind: Literal[
        "rows",
        "key_violations",
        "nulls",
        "duplicates",
        "not_in",
        "outside",
        "violations",
        "contract",
        "orphans",
    ]
    columns: tuple[str, ...] = ()
    values: tuple[object, ...] = ()
    low: float | None = None
    high: float | None = None
    condition: str = ""
    #: ``orphans``: non-null values of ``columns[0]`` missing from ``field`` of ``parent``
    #: (``domain.port``, a consumed port, or a model of the domain).
    parent: str = ""
    field: str = ""


@dataclass(frozen=True)
class Check:
    """One measurement of one table (or source), with its pass rule and severity."""

    test_id: str
    target: str
    test: str
    kind: CheckKind
    expect: Expectation
    severity: Literal["error", "warn"] = "error"
    column: str | None = None
    #: What is measured over the tested table; ``None`` for custom and source checks.
    measure: Measure | None = None


@dataclass(frozen=True)
class CheckResult:
    check: Check
    observed: str
    passed: bool
    message: str = ""
    #: For a check that did not pass: a few offending values or rows, as one line.
    sample: str = ""

    @property
    def status(self) -> Literal["pass", "fail", "warn"]:
        if self.passed:
            return "pass"
        return "fail" if self.check.severity == "error" else "warn"

    @property
    def blocks(self) -> bool:
        """A failed blocking check: the domain must not be certified."""
        return not self.passed and self.check.severity == "error"

    @property
    def line(self) -> str:
        """The result in one line: ``domain.port.column:test observed X, expected Y (why)``."""
        expect = self.check.expect
        return result_line(
            self.check.test_id,
            self.observed,
            expect.describe(),
            self.message,
            expect.op == "contract",
            self.sample,
        )


def result_line(
    test_id: str,
    observed: str,
    expected: str,
    message: str = "",
    contract: bool = False,
    sample: str = "",
) -> str:
    """How a check's outcome reads in logs and summaries (also for results read back from the registry)."""
    if contract:
        return f"{test_id}: {message or 'the table matches its contract'}"
    line = f"{test_id} observed {observed}, expected {expected}"
    line = f"{line} ({message})" if message else line
    return f"{line}; sample: {sample}" if sample else line


class _PortChecks:
    """Collects the checks of one port, naming each ``domain.port[.column]:test``."""

    def __init__(self, domain: Domain, port: OutputPort) -> None:
        self.prefix = f"{domain.name}.{port.name}"
        self.port = port.name
        self.checks: list[Check] = []

    def add(
        self,
        test: str,
        kind: CheckKind,
        measure: Measure,
        expect: Expectation,
        column: str | None = None,
        severity: Literal["error", "warn"] = "error",
    ) -> None:
        test_id = f"{self.prefix}.{column}:{test}" if column else f"{self.prefix}:{test}"
        self.checks.append(Check(test_id, self.port, test, kind, expect, severity, column, measure))


def port_checks(domain: Domain, port: OutputPort, policy: Policy) -> list[Check]:
    """The standard pack, column tests and port tests of one output port, in order.

    Each check is named as the config names it: ``row_count`` (the policy's floor and
    the port's own bounds, one check), ``primary_key``, a column's ``not_null`` or
    ``accepted_values`` (blocking when the policy makes them standard), ``expression``.
    """
    standard = set(policy.output_ports.standard_tests)
    checks = _PortChecks(domain, port)
    own_count = next((t for t in port.tests if isinstance(t, RowCountTest)), None)
    bounds = own_count.row_count if own_count is not None else None
    if "row_count" in standard or bounds is not None:
        lows = [policy.output_ports.min_rows] if "row_count" in standard else []
        if bounds is not None and bounds.min is not None:
            lows.append(bounds.min)
        checks.add(
            "row_count",
            "standard" if "row_count" in standard else "port",
            Measure("rows"),
            _bounds(max(lows) if lows else None, bounds.max if bounds else None),
            # The parser refuses severity: warn on a row_count the policy makes standard.
            severity=bounds.severity if bounds is not None else "error",
        )
    if "primary_key" in standard and port.primary_key:
        checks.add("primary_key", "standard", Measure("key_violations", port.primary_key), _ZERO)
    for column in port.columns.values():
        for test in column.tests:
            checks.add(
                test.test,
                "standard" if policy.output_ports.mandates(test.test) else "column",
                _column_measure(column.name, test),
                _ZERO,
                column=column.name,
                severity=test.severity,
            )
    expressions = [t for t in port.tests if isinstance(t, ExpressionTest)]
    for number, port_test in enumerate(expressions, start=1):
        violations = Measure("violations", tuple(port.columns), condition=port_test.sql)
        name = "expression" if number == 1 else f"expression_{number}"
        checks.add(name, "port", violations, _ZERO, severity=port_test.severity)
    if "schema_matches_contract" in standard:
        contract = tuple((c.name, c.family) for c in port.columns.values())
        checks.add(
            "schema_matches_contract",
            "standard",
            Measure("contract"),
            Expectation("contract", contract=contract),
        )
    return checks.checks


_ZERO = Expectation("eq", 0)


def _column_measure(name: str, test: ColumnTest) -> Measure:
    if isinstance(test, AcceptedValuesTest):
        return Measure("not_in", (name,), values=test.values)
    if isinstance(test, RangeTest):
        return Measure("outside", (name,), low=test.range.min, high=test.range.max)
    if isinstance(test, RelationshipsTest):
        spec = test.relationships
        return Measure("orphans", (name,), parent=spec.to, field=spec.field)
    return Measure("nulls" if test.test == "not_null" else "duplicates", (name,))


def _bounds(low: float | None, high: float | None) -> Expectation:
    if low is not None and high is not None:
        return Expectation("between", low, high)
    if low is not None:
        return Expectation("ge", low)
    return Expectation("le", high=high)


def custom_check(domain: Domain, test: CustomTest) -> Check:
    """A custom SQL test: the query returns violating rows; zero rows passes."""
    return Check(
        test_id=f"{domain.name}:{test.name}",
        target=test.name,
        test=test.name,
        kind="custom",
        expect=_ZERO,
        severity=test.severity,
    )


def evaluate(check: Check, observed: object) -> CheckResult:
    """Compare one observed value (a number, or a schema listing) with the check's rule."""
    expect = check.expect
    if expect.op == "contract":
        from dagmesh.quality.contract import compare_schema

        problems = compare_schema(expect.contract, str(observed or ""))
        return CheckResult(check, str(observed or ""), not problems, "; ".join(problems))
    value = float(str(observed)) if observed is not None else 0.0
    if expect.op == "eq":
        passed = value == expect.low
    elif expect.op == "ge":
        passed = value >= (expect.low or 0)
    elif expect.op == "le":
        passed = value <= (expect.high or 0)
    else:
        passed = (expect.low or 0) <= value <= (expect.high or 0)
    return CheckResult(check, _num(value), passed)


@dataclass
class DomainTestPlan:
    """Every check of a domain, grouped the way the test stage runs them."""

    by_port: dict[str, list[Check]] = field(default_factory=dict)
    #: Column tests of models that are not ports, by model (one test task each).
    by_model: dict[str, list[Check]] = field(default_factory=dict)
    custom: list[Check] = field(default_factory=list)

    def all(self) -> list[Check]:
        tables = [*self.by_port.values(), *self.by_model.values()]
        return [c for checks in tables for c in checks] + self.custom

    def of_table(self, name: str) -> list[Check] | None:
        """The checks of a port or a model's table (``None``: it has none)."""
        return self.by_port.get(name, self.by_model.get(name))


def plan_tests(domain: Domain, policy: Policy) -> DomainTestPlan:
    plan = DomainTestPlan()
    for port in domain.outputs.values():
        plan.by_port[port.name] = port_checks(domain, port, policy)
    for model in domain.models:
        if model.columns and model.name not in domain.outputs:
            plan.by_model[model.name] = model_checks(domain, model)
    plan.custom = [custom_check(domain, t) for t in domain.tests]
    return plan


def model_checks(domain: Domain, model: Model) -> list[Check]:
    """The column tests of a model that is not a port: ``domain.model.column:test``."""
    checks = []
    for name, column in model.columns.items():
        for test in column.tests:
            test_id = f"{domain.name}.{model.name}.{name}:{test.test}"
            measure = _column_measure(name, test)
            checks.append(
                Check(test_id, model.name, test.test, "column", _ZERO, test.severity, name, measure)
            )
    return checks
