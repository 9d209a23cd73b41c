"""What the test stage checks for a port, and what makes a check pass."""

from __future__ import annotations

import pytest

from dagmesh.config.model import Policy
from dagmesh.config.project import load_project
from dagmesh.quality.checks import Check, Expectation, Measure, evaluate, plan_tests, port_checks
from dagmesh.quality.contract import compare_schema, warehouse_family
from dagmesh.sql import statements as sql
from tests.helpers import REPO


def test_a_port_gets_the_standard_pack_its_column_tests_and_its_port_tests() -> None:
    project = load_project(REPO)
    assert project.mesh is not None
    physician = project.domains["physician"]
    checks = {
        c.test_id: c for c in port_checks(physician, physician.outputs["physician"], project.mesh.policy)
    }
    assert {
        "physician.physician:row_count": "standard",
        "physician.physician:primary_key": "standard",
        "physician.physician:schema_matches_contract": "standard",
        "physician.physician.npi:not_null": "standard",  # mandated by policy: not_null_columns
        "physician.physician.specialty:accepted_values": "standard",  # mandated: accepted_values
        "physician.physician.npi:unique": "column",
        "physician.physician.source_records:range": "column",
        "physician.physician:expression": "port",
    }.items() <= {test_id: c.kind for test_id, c in checks.items()}.items()
    # Every check is named as the config names it; the policy's row count floor (min_rows: 1)
    # and the port's own row_count ({min: 100}) are one check.
    assert {c.test for c in checks.values()} <= {
        "row_count", "primary_key", "schema_matches_contract", "not_null", "unique", "accepted_values",
        "range", "expression",
    }  # fmt: skip
    assert checks["physician.physician:row_count"].expect.describe() == ">= 100"
    accepted = checks["physician.physician.specialty:accepted_values"].measure
    assert accepted == Measure("not_in", ("specialty",), values=("ONC", "HEM", "CARD", "DERM"))
    assert sql.render(sql.measure(accepted), "duckdb") == (
        "COUNT_IF(NOT \"specialty\" IS NULL AND NOT \"specialty\" IN ('ONC', 'HEM', 'CARD', 'DERM'))"
    )


def test_the_policy_decides_which_standard_tests_exist() -> None:
    project = load_project(REPO)
    product = project.domains["product"]
    lean = Policy(output_ports=Policy().output_ports.__class__(standard_tests=("row_count",)))
    tests = {c.test for c in port_checks(product, product.outputs["product"], lean)}
    assert "row_count" in tests
    assert "primary_key" not in tests and "schema_matches_contract" not in tests


def test_custom_tests_are_planned_after_the_ports() -> None:
    project = load_project(REPO)
    assert project.mesh is not None
    plan = plan_tests(project.domains["physician"], project.mesh.policy)
    assert [c.test_id for c in plan.custom] == ["physician:no_duplicate_npi"]


@pytest.mark.parametrize(
    ("expect", "observed", "passes"),
    [
        (Expectation("eq", 0), 0, True),
        (Expectation("eq", 0), 3, False),
        (Expectation("ge", 100), 99, False),
        (Expectation("le", high=50), 50.0, True),
        (Expectation("between", 1, 10), 11, False),
    ],
)
def test_an_observed_value_passes_when_it_meets_the_expectation(
    expect: Expectation, observed: float, passes: bool
) -> None:
    check = Check("d.p:t", "p", "t", "standard", expect)
    result = evaluate(check, observed)
    assert result.passed is passes
    assert result.blocks is (not passes)


def test_a_warning_check_fails_without_blocking() -> None:
    check = Check("d.p:t", "p", "t", "port", Expectation("eq", 0), severity="warn")
    result = evaluate(check, 4)
    assert result.status == "warn" and not result.blocks


@pytest.mark.parametrize(
    ("data_type", "scale", "family"),
    [
        ("VARCHAR", "", "string"),
        ("TEXT", "", "string"),
        ("BIGINT", "0", "integer"),
        ("NUMBER", "0", "integer"),
        ("NUMBER", "2", "number"),
        ("DECIMAL(18,2)", "2", "number"),
        ("DECIMAL(38,0)", "0", "integer"),
        ("DOUBLE", "", "float"),
        ("TIMESTAMP_NTZ", "", "timestamp"),
        ("DATE", "", "date"),
        ("BOOLEAN", "", "boolean"),
    ],
)
def test_duckdb_and_snowflake_types_map_to_the_same_contract_families(
    data_type: str, scale: str, family: str
) -> None:
    assert warehouse_family(data_type, scale) == family


def test_schema_differences_are_named() -> None:
    contract = (("id", "string"), ("amount", "number"), ("n", "integer"))
    assert compare_schema(contract, "id:VARCHAR:,amount:DECIMAL(18,2):2,n:BIGINT:0") == []
    problems = compare_schema(contract, "id:BIGINT:0,amount:DOUBLE:,extra:VARCHAR:")
    assert problems == [
        "missing columns: n",
        "columns not in the contract: extra",
        "column id is declared string but built as BIGINT",
        "column amount is declared number but built as DOUBLE",
    ]
