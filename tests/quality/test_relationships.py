"""``relationships``: every value of a column is a value of a field of a consumed port or a model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dagmesh.cli.validate import check
from dagmesh.config.project import load_project
from tests.helpers import REPO

CONFIG = "dag_configs/integrated/customer_orders.yaml"
TO_PORT = "{relationships: {to: customers.customers, field: customer_id}}"
TO_MODEL = "{relationships: {to: orders, field: customer_id}}"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The new project, its orders kept even without a known customer, both kinds of test added."""
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "dagmesh"), "init", "shop"], cwd=tmp_path, capture_output=True
    )
    assert done.returncode == 0
    project = tmp_path / "shop"
    orders = project / "sql" / "customer_orders" / "orders.sql"
    orders.write_text(
        orders.read_text()
        .replace("    c.customer_id,", "    cast(o.customer_id as varchar) as customer_id,")
        .replace("inner join", "left join")
    )
    config = project / CONFIG
    config.write_text(
        config.read_text()
        .replace(
            "      customer_id:  {type: varchar, tests: [not_null]}",
            f"      customer_id:  {{type: varchar, tests: [not_null, {TO_PORT}]}}",
        )
        .replace(
            "      customer_id:  {type: varchar}\n      orders:",
            f"      customer_id:  {{type: varchar, tests: [{TO_MODEL}]}}\n      orders:",
        )
    )
    return project


def problems(project: Path) -> list[str]:
    return [str(p) for p in check(load_project(project)) if p.is_error]


def test_relationships_to_a_consumed_port_and_to_a_model_validate(shop: Path) -> None:
    assert problems(shop) == []


def test_a_relationship_to_what_the_domain_does_not_read_is_located(shop: Path) -> None:
    config = shop / CONFIG
    config.write_text(
        config.read_text()
        .replace("to: customers.customers", "to: customer.customers")
        .replace("to: orders,", "to: orderz,")
    )
    found = problems(shop)
    assert len(found) == 2
    assert found[0].startswith(f"{CONFIG}:")
    assert found[0].endswith(
        "error: relationships to 'customer.customers': domain customer_orders does not consume it "
        "(did you mean 'customers.customers'?); it consumes: customers.customers"
    )
    assert found[1].endswith(
        "error: relationships to 'orderz': not a model of domain customer_orders (did you mean 'orders'?)"
    )


def test_a_field_the_parent_does_not_have_is_a_bind_error_at_the_column(shop: Path) -> None:
    config = shop / CONFIG
    config.write_text(
        config.read_text().replace(
            "to: customers.customers, field: customer_id", "to: customers.customers, field: id"
        )
    )
    (found,) = problems(shop)
    assert "check customer_orders.orders.customer_id:relationships does not bind" in found
    assert 'Referenced column "id" not found' in found
