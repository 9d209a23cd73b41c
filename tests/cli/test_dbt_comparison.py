"""The dbt comparison of ``make bench``: ``bench/shop`` says one project two ways.

The bench itself needs dbt (its own environment); what it relies on is proven here: the
mesh certifies every domain from the generated raw data, its ports are the dbt models with
the same columns and types, and the comparison of the two warehouses notices a changed row.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from bench.dbt_bench import PORTS, SHOP, compare, write_raw

from dagmesh.config.project import load_project
from tests.helpers import dagmesh

pytestmark = pytest.mark.e2e

#: How a contract type of the mesh is spelt in the dbt project's contracts.
DBT_TYPES = {"integer": "integer", "varchar": "varchar", "date": "date", "number": "decimal"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop mesh run once on a small scale of its raw data."""
    mesh = tmp_path_factory.mktemp("shop") / "mesh"
    shutil.copytree(SHOP / "mesh", mesh)
    write_raw(mesh / "data" / "raw.duckdb", 0.05)
    assert dagmesh("load", project=mesh).returncode == 0
    done = dagmesh("run", project=mesh)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6/6 domains certified" in done.stdout
    return mesh


def test_the_mesh_publishes_every_port_the_bench_compares(shop: Path) -> None:
    project = load_project(shop)
    published = {(d.name, port) for d in project.domains.values() for port in d.outputs}
    assert published == set(PORTS)


def test_each_port_is_a_dbt_model_with_the_same_columns_and_types() -> None:
    project = load_project(SHOP / "mesh")
    contracts = {}
    for schema in (SHOP / "dbt" / "models").glob("*/schema.yml"):
        for model in yaml.safe_load(schema.read_text())["models"]:
            assert model["config"]["contract"]["enforced"] is True
            contracts[model["name"]] = [(c["name"], c["data_type"].split("(")[0]) for c in model["columns"]]
    for domain, port in PORTS:
        columns = project.domains[domain].outputs[port].columns
        assert contracts[port] == [(name, DBT_TYPES[str(c.type)]) for name, c in columns.items()], port


def test_the_comparison_finds_the_same_rows_and_notices_one_changed(shop: Path, tmp_path: Path) -> None:
    warehouse = shop / ".dagmesh" / "warehouse.duckdb"
    other = tmp_path / "dbt.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute(f"ATTACH '{warehouse}' AS mesh (READ_ONLY)")
        for domain, table in PORTS:
            con.execute(f"CREATE TABLE main.{table} AS FROM mesh.{domain}.{table}")
    assert all(equal for *_, equal in compare(warehouse, other))

    with duckdb.connect(str(other)) as con:
        con.execute("UPDATE orders SET items = items + 1 WHERE order_id = (SELECT min(order_id) FROM orders)")
    verdicts = {port: (rows, equal) for port, rows, _, equal in compare(warehouse, other)}
    assert verdicts["orders.orders"][1] is False
    assert all(equal for port, (_, equal) in verdicts.items() if port != "orders.orders")
