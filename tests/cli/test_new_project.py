"""A new mesh from nothing: ``dagmesh init``, ``dagmesh new``, file sources and ``dagmesh load``."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.helpers import REPO, dagmesh

DAGMESH = str(REPO / ".venv" / "bin" / "dagmesh")


def readme_recipe() -> list[str]:
    """The commands of the README's "Your own mesh" section, in order."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Your own mesh") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.e2e
def test_the_readme_recipe_creates_a_project_adds_two_domains_and_certifies_everything(
    tmp_path: Path,
) -> None:
    cwd = tmp_path
    last = None
    for line in readme_recipe():
        words = shlex.split(line)
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        assert words[0] == "dagmesh", line
        last = subprocess.run([DAGMESH, *words[1:]], cwd=cwd, capture_output=True, text=True, check=False)
        assert last.returncode == 0, f"{line}\n{last.stdout}\n{last.stderr}"
    assert last is not None and "4/4 domains certified" in last.stdout, last.stdout
    status = json.loads(dagmesh("status", "--json", project=cwd).stdout)
    assert {d["name"]: d["state"] for d in status} == {
        "customers": "certified",
        "customer_orders": "certified",
        "customer_report": "certified",
        "order_report": "certified",
    }


def test_init_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    done = subprocess.run([DAGMESH, "init", "taken"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and "already exists and is not empty" in done.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_new_refuses_what_would_not_validate(tmp_path: Path) -> None:
    assert subprocess.run([DAGMESH, "init", "shop"], cwd=tmp_path, capture_output=True).returncode == 0
    project = tmp_path / "shop"
    cases = {
        ("customers", "--layer", "mastered"): "domain customers already exists",
        ("things", "--layer", "mastred"): "unknown layer 'mastred' (did you mean 'mastered'?)",
        ("Things", "--layer", "mastered"): "cannot name a domain",
        (
            "things",
            "--layer",
            "integrated",
            "--consumes",
            "customer_orders.orders",
        ): "must point to earlier layers",
        ("things", "--layer", "integrated", "--consumes", "customers.nope"): "customers has no port 'nope'",
    }
    for args, message in cases.items():
        done = dagmesh("new", *args, project=project)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    assert dagmesh("validate", project=project).returncode == 0


def test_a_new_domain_without_inputs_reads_a_file_source_and_validates(tmp_path: Path) -> None:
    assert subprocess.run([DAGMESH, "init", "shop"], cwd=tmp_path, capture_output=True).returncode == 0
    project = tmp_path / "shop"
    assert dagmesh("new", "stores", "--layer", "mastered", project=project).returncode == 0
    done = dagmesh("validate", project=project)
    assert done.returncode == 0, done.stdout
    assert "dag_configs/mastered/stores.yaml:" in done.stdout and "matches no file yet" in done.stdout
    assert (project / "dags" / "domains" / "stores.py").is_file()


@pytest.mark.e2e
def test_csv_and_parquet_sources_load_and_run_and_the_dags_load_from_any_directory(tmp_path: Path) -> None:
    assert subprocess.run([DAGMESH, "init", "shop"], cwd=tmp_path, capture_output=True).returncode == 0
    project = tmp_path / "shop"
    (project / "data" / "orders").mkdir()
    with duckdb.connect() as con:  # the orders export as two Parquet files
        orders = str(project / "data" / "orders.csv")
        for half, condition in (("a", "order_id % 2 = 0"), ("b", "order_id % 2 = 1")):
            target = project / "data" / "orders" / f"part_{half}.parquet"
            con.execute(
                f"COPY (SELECT * FROM read_csv('{orders}') WHERE {condition}) TO '{target}' (FORMAT parquet)"
            )
    (project / "data" / "orders.csv").unlink()
    config = project / "dag_configs" / "integrated" / "customer_orders.yaml"
    config.write_text(config.read_text().replace("path: data/orders.csv", "path: data/orders/*.parquet"))

    loaded = dagmesh("load", project=project)
    assert loaded.returncode == 0, loaded.stderr
    assert re.search(r"RAW\.SHOP\.ORDERS\s+240 rows\s+from data/orders/\*\.parquet \(2 file", loaded.stdout)
    assert re.search(r"RAW\.SHOP\.CUSTOMERS\s+60 rows\s+from data/customers\.csv", loaded.stdout)
    ran = dagmesh("run", project=project)
    assert ran.returncode == 0 and "2/2 domains certified" in ran.stdout, ran.stdout + ran.stderr
    with duckdb.connect(str(project / ".dagmesh" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw_shop.orders").fetchone() == (240,)

    probe = (
        "import json, sys; from airflow.dag_processing.dagbag import DagBag; "
        "bag = DagBag(dag_folder=sys.argv[1]); "
        "print(json.dumps({'dags': sorted(bag.dag_ids), 'errors': list(bag.import_errors.values())}))"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("DAGMESH_PROJECT_DIR", "AIRFLOW__CORE__DAGS_FOLDER")
    }
    done = subprocess.run(
        [sys.executable, "-c", probe, str(project / "dags")], cwd="/", env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"dags": ["customer_orders", "customers"], "errors": []}


def test_a_source_path_may_not_leave_the_project(tmp_path: Path) -> None:
    assert subprocess.run([DAGMESH, "init", "shop"], cwd=tmp_path, capture_output=True).returncode == 0
    project = tmp_path / "shop"
    (tmp_path / "secret.csv").write_text("id\n1\n")
    config = project / "dag_configs" / "mastered" / "customers.yaml"
    text = config.read_text()

    config.write_text(text.replace("path: data/customers.csv", "path: ../secret.csv"))
    done = dagmesh("validate", project=project)
    assert done.returncode == 1
    assert re.search(
        r"dag_configs/mastered/customers\.yaml:\d+:\d+: error: path must be relative", done.stdout
    )

    (project / "data" / "leak.csv").symlink_to(tmp_path / "secret.csv")
    config.write_text(text.replace("path: data/customers.csv", "path: data/leak.csv"))
    done = dagmesh("validate", project=project)
    assert done.returncode == 1 and "data/leak.csv leads outside the project" in done.stdout
    loaded = dagmesh("load", project=project)
    assert loaded.returncode == 1 and "leads outside the project" in loaded.stderr
    assert "Traceback" not in loaded.stderr


def test_a_source_can_be_a_table_of_another_duckdb_database(tmp_path: Path) -> None:
    assert subprocess.run([DAGMESH, "init", "shop"], cwd=tmp_path, capture_output=True).returncode == 0
    project = tmp_path / "shop"
    with duckdb.connect(
        str(project / "data" / "extract.duckdb")
    ) as con:  # RAW.SHOP.CUSTOMERS -> shop.customers
        con.execute("CREATE SCHEMA shop")
        con.execute(
            f"CREATE TABLE shop.customers AS SELECT * FROM read_csv('{project / 'data' / 'customers.csv'}')"
        )
    config = project / "dag_configs" / "mastered" / "customers.yaml"
    config.write_text(config.read_text().replace("path: data/customers.csv", "path: data/extract.duckdb"))
    loaded = dagmesh("load", "customers", project=project)
    assert loaded.returncode == 0, loaded.stderr
    assert re.search(r"RAW\.SHOP\.CUSTOMERS\s+60 rows\s+from data/extract\.duckdb", loaded.stdout)
    assert dagmesh("validate", project=project).returncode == 0


def test_a_source_database_is_copied_only_from_a_base_table_never_a_view(tmp_path: Path) -> None:
    assert subprocess.run([DAGMESH, "init", "shop"], cwd=tmp_path, capture_output=True).returncode == 0
    project = tmp_path / "shop"
    (tmp_path / "secret.txt").write_text("not the mesh's\n")
    with duckdb.connect(
        str(project / "data" / "extract.duckdb")
    ) as con:  # a view reading outside the project
        con.execute("CREATE SCHEMA shop")
        con.execute(f"CREATE VIEW shop.customers AS SELECT * FROM read_text('{tmp_path / 'secret.txt'}')")
    config = project / "dag_configs" / "mastered" / "customers.yaml"
    config.write_text(config.read_text().replace("path: data/customers.csv", "path: data/extract.duckdb"))
    loaded = dagmesh("load", "customers", project=project)
    assert loaded.returncode == 1 and "Traceback" not in loaded.stderr
    assert "extract.duckdb has a view shop.customers: a source copies a table" in loaded.stderr


def test_a_source_path_that_is_not_a_usable_pattern_is_a_located_error(tmp_path: Path) -> None:
    assert subprocess.run([DAGMESH, "init", "shop"], cwd=tmp_path, capture_output=True).returncode == 0
    project = tmp_path / "shop"
    config = project / "dag_configs" / "mastered" / "customers.yaml"
    config.write_text(config.read_text().replace("path: data/customers.csv", "path: data/**x.csv"))
    for command in ("validate", "load"):
        done = dagmesh(command, project=project)
        assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr, command
        assert "dag_configs/mastered/customers.yaml:" in done.stdout + done.stderr
        assert "'data/**x.csv' is not a usable file pattern" in done.stdout + done.stderr
