"""Validate binds every model and check against an empty catalog of what the configs declare.

The project is the one ``dagmesh init`` creates: ``customers`` reads a source with declared
columns; ``customer_orders`` reads that port, another declared source, and its own model.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from dagmesh.config.project import load_project
from dagmesh.mesh.analysis import analyze
from dagmesh.stages.bind import bind_problems
from tests.helpers import REPO, edit

ORDERS = "sql/customer_orders/orders.sql"
TOTALS = "sql/customer_orders/customer_totals.sql"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "dagmesh"), "init", "shop"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return tmp_path / "shop"


def problems(project: Path) -> list[str]:
    loaded = load_project(project)
    analysis = analyze(loaded)
    assert not loaded.diagnostics.errors, loaded.diagnostics.sorted()
    return [str(p) for p in bind_problems(analysis)]


def test_the_new_project_binds_without_a_problem(shop: Path) -> None:
    assert problems(shop) == []


def test_an_unknown_column_of_a_consumed_port_is_located_in_the_users_sql(shop: Path) -> None:
    edit(shop, ORDERS, "    c.country,", "    c.region,")
    (problem,) = problems(shop)
    assert problem.startswith(
        f'{ORDERS}:5:5: error: Binder Error: Table "c" does not have a column named "region"'
    )


def test_an_unknown_column_of_a_source_with_declared_columns_is_located(shop: Path) -> None:
    edit(shop, ORDERS, "cast(o.ordered_at as date)", "cast(o.ordered_on as date)")
    (problem,) = problems(shop)
    assert problem.startswith(f'{ORDERS}:6:10: error: Binder Error: Table "o" does not have a column named')
    assert '"ordered_at"' in problem  # DuckDB's candidate


def test_an_unknown_column_of_a_ref_is_located(shop: Path) -> None:
    edit(shop, TOTALS, "else amount end", "else amount_usd end")
    (problem,) = problems(shop)
    assert problem.startswith(f'{TOTALS}:5:56: error: Binder Error: Referenced column "amount_usd" not found')


def test_a_join_of_a_number_with_text_is_located_at_the_join(shop: Path) -> None:
    edit(
        shop, ORDERS, "on cast(o.customer_id as varchar) = c.customer_id", "on o.customer_id = c.customer_id"
    )
    assert problems(shop) == [
        f"{ORDERS}:11:8: error: join compares number with text: "
        '"o"."customer_id" (number) = "c"."customer_id" (text)'
    ]


def test_a_model_that_does_not_build_its_ports_contract_is_an_error_at_the_model(shop: Path) -> None:
    edit(shop, TOTALS, "    count(*) as orders,", "    count(*) as order_count,")
    config = "dag_configs/integrated/customer_orders.yaml"
    assert sorted(problems(shop)) == [
        f"{config}:24:5: error: model customer_totals does not build its port's contract: missing columns: "
        "orders; columns not in the contract: order_count",
        f"{config}:42:7: error: check customer_orders.customer_totals.orders:range does not bind: "
        'Binder Error: Referenced column "orders" not found in FROM clause! '
        'Candidate bindings: "order_count", "revenue", "customer_id"',
    ]


def test_a_freshness_column_must_be_a_declared_column(shop: Path) -> None:
    edit(
        shop,
        "dag_configs/mastered/customers.yaml",
        "    path: data/customers.csv\n",
        "    path: data/customers.csv\n    freshness: {column: loaded_at, error_after: 2d}\n",
    )
    (problem,) = problems(shop)
    assert problem.startswith("dag_configs/mastered/customers.yaml:13:")
    assert "freshness column 'loaded_at' is not one of the source's declared columns" in problem


def test_sql_reading_a_source_without_declared_columns_is_not_bound(shop: Path) -> None:
    path = shop / "dag_configs" / "integrated" / "customer_orders.yaml"
    declared = re.compile(r"(    path: data/orders\.csv\n)    columns:\n(      .*\n)+")
    path.write_text(declared.sub(r"\1", path.read_text()))  # shop_orders no longer declares its columns
    edit(shop, ORDERS, "cast(o.ordered_at as date)", "cast(o.ordered_on as date)")
    assert problems(shop) == []  # nothing is known about the source: its errors show at run time
