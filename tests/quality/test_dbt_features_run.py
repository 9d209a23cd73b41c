"""The tests and macros dbt users expect, in one real run: a project whose SQL uses a macro,
a built-in macro and a var, with a relationships test that finds an orphan and a model (not a
port) whose column test fails. One run proves them all (each is specified on its own, without
a run, in test_relationships, test_model_columns and tests/sql/test_macros)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import dagmesh
from tests.quality.test_model_columns import BIG_ORDERS
from tests.quality.test_relationships import CONFIG, shop  # noqa: F401  (the fixture)
from tests.sql.test_macros import MONEY


@pytest.mark.e2e
def test_macros_vars_relationships_and_model_tests_in_one_run(shop: Path) -> None:  # noqa: F811
    (shop / "macros").mkdir()
    (shop / "macros" / "money.sql").write_text(MONEY)
    mesh = shop / "dag_configs" / "mesh.yaml"
    mesh.write_text(mesh.read_text() + "\nvars:\n  first_day: '2025-01-01'\n")
    orders = shop / "sql" / "customer_orders" / "orders.sql"
    orders.write_text(
        orders.read_text().replace(
            "cast(o.amount_cents / 100.0 as number(12, 2)) as amount",
            "{{ cents_to_dollars('o.amount_cents') }} as amount",
        )
        + "where o.ordered_at >= '{{ var(\"first_day\") }}'\n"
    )
    config = shop / CONFIG
    anchor = "  - {name: customer_totals, sql: customer_orders/customer_totals.sql}\n"
    config.write_text(config.read_text().replace(anchor, anchor + BIG_ORDERS.replace("MIN", "300")))
    (shop / "sql" / "customer_orders" / "big_orders.sql").write_text(
        "select order_id, amount\nfrom {{ ref('orders') }}\nwhere amount >= 100\n"
    )
    data = shop / "data" / "orders.csv"
    data.write_text(data.read_text() + "9999,999,2025-06-01 10:00:00,1234,placed\n")  # an orphan

    assert dagmesh("validate", project=shop).returncode == 0
    assert dagmesh("load", project=shop).returncode == 0
    done = dagmesh("run", project=shop)

    assert done.returncode == 1 and "1/2 domains certified" in done.stdout, done.stdout + done.stderr
    assert "✓ customer_orders: build.orders" in done.stdout  # the macro and the var expanded into SQL
    assert "✓ customer_orders: test.big_orders" in done.stdout  # the model's own test measured
    failed = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("FAIL ")]
    assert len(failed) == 2, failed
    assert failed[0].startswith("FAIL customer_orders.big_orders.amount:range observed ")
    assert "; sample: amount=" in failed[0]
    orphan = "FAIL customer_orders.orders.customer_id:relationships observed 1, expected = 0"
    assert failed[1] == f"{orphan}; sample: customer_id=999"
