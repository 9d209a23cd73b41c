"""Column tests on any model, not only on ports: a model's own test task, judged by certify."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dagmesh.cli.validate import check
from dagmesh.config.project import load_project
from tests.helpers import REPO

CONFIG = "dag_configs/integrated/customer_orders.yaml"
BIG_ORDERS = """\
  - name: big_orders
    sql: customer_orders/big_orders.sql
    columns:
      order_id: {tests: [not_null, unique]}
      amount:   {tests: [{range: {min: MIN}}]}
"""


def shop_with_big_orders(tmp_path: Path, minimum: int) -> Path:
    """The new project with a model that is not a port (big orders), tested on its columns."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "dagmesh"), "init", "shop"], cwd=tmp_path, capture_output=True
    )
    assert done.returncode == 0
    project = tmp_path / "shop"
    config = project / CONFIG
    anchor = "  - {name: customer_totals, sql: customer_orders/customer_totals.sql}\n"
    config.write_text(config.read_text().replace(anchor, anchor + BIG_ORDERS.replace("MIN", str(minimum))))
    (project / "sql" / "customer_orders" / "big_orders.sql").write_text(
        "select order_id, amount\nfrom {{ ref('orders') }}\nwhere amount >= 100\n"
    )
    return project


def test_column_tests_of_a_model_validate_and_bind(tmp_path: Path) -> None:
    assert [str(p) for p in check(load_project(shop_with_big_orders(tmp_path, 100)))] == []


def test_column_tests_belong_on_the_port_when_the_model_is_published(tmp_path: Path) -> None:
    project = shop_with_big_orders(tmp_path, 100)
    config = project / CONFIG
    config.write_text(
        config.read_text().replace(
            "  - {name: customer_totals, sql: customer_orders/customer_totals.sql}",
            "  - {name: customer_totals, sql: customer_orders/customer_totals.sql, "
            "columns: {orders: {tests: [not_null]}}}",
        )
    )
    (problem,) = [str(p) for p in check(load_project(project)) if p.is_error]
    assert problem.endswith(
        "error: model 'customer_totals' is published as a port: "
        "declare its column tests on the port's columns"
    )
