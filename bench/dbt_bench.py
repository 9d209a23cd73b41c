"""``make bench``: ``dagmesh run`` against ``dbt build`` on one small project expressed both
ways (``bench/shop``: six domains / nine dbt models, the same SQL, tests and data), with
the published tables of the two compared for equality.

dbt runs from its own environment, ``.venv-dbt`` (``make bench`` installs the pinned
``bench/dbt-requirements.txt``; another ``dbt`` with the duckdb adapter can be named with
``DBT=path``); without one this part says so and is skipped. Both read the same raw
tables: ``dagmesh load`` copies them from a generated DuckDB file into the mesh's
warehouse, and dbt's warehouse starts as a copy of that file (its sources point at the
``raw_shop`` schema). Each command runs once to warm up (dbt's partial parse, dagmesh's
parse cache, bytecode), then the median of ``RUNS`` is reported.
Usage: ``python bench/dbt_bench.py [SCALE] [RUNS]``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run_bench import BYTECODE, command_seconds, dagmesh  # noqa: E402

SHOP = REPO / "bench" / "shop"
#: Each published port of the mesh: (domain, table); dbt builds a model of the same name.
PORTS = [
    ("customers", "customers"),
    ("products", "products"),
    ("payments", "payments"),
    ("orders", "order_lines"),
    ("orders", "orders"),
    ("customer_value", "customer_value"),
    ("product_sales", "product_sales"),
]

#: The shop's raw tables, deterministic for a scale: customers exported twice (the later
#: row wins) and a few without an id, orders of unknown customers, failed payments.
RAW_TABLES = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers AS
SELECT * FROM (
    SELECT i::INTEGER AS id, 'Ann' || i AS first_name, ' Lee' || (i % 97) AS last_name,
           'Customer' || i || '@Example.com ' AS email,
           ['us', 'DE', 'fr', 'GB', 'nl'][1 + i % 5] AS country,
           TIMESTAMP '2024-01-01' + to_days(i % 700) + to_seconds((i * 37) % 86400) AS signed_up_at,
           TIMESTAMP '2026-11-01' AS exported_at
    FROM range(1, {customers} + 1) AS t(i)
    UNION ALL
    SELECT i::INTEGER, 'Old' || i, 'Name', 'OLD' || i || '@example.com', 'us',
           TIMESTAMP '2024-01-01', TIMESTAMP '2026-10-01'
    FROM range(1, {customers} + 1, 10) AS t(i)
    UNION ALL
    SELECT NULL, 'No', 'Id', 'none' || i || '@example.com', 'GB', TIMESTAMP '2024-01-01',
           TIMESTAMP '2026-11-01'
    FROM range(3) AS t(i)
);
CREATE TABLE shop.products AS
SELECT 'SKU-' || lpad(i::VARCHAR, 4, '0') AS sku, 'Product ' || i AS name,
       ['books', 'Games', 'garden', 'KITCHEN', 'toys'][1 + i % 5] AS category,
       (199 + (i * 7919) % 20000)::INTEGER AS price_cents
FROM range(1, 201) AS t(i);
CREATE TABLE shop.orders AS
SELECT i::INTEGER AS id, (1 + (i * 7919) % ({customers} + 50))::INTEGER AS user_id,
       TIMESTAMP '2025-01-01' + to_seconds((i * 6263) % (365 * 86400)) AS ordered_at,
       CASE WHEN i % 7 = 0 THEN upper(s) ELSE s END AS status
FROM (
    SELECT i, CASE WHEN (i * 31) % 100 < 60 THEN 'completed' WHEN (i * 31) % 100 < 75 THEN 'shipped'
                   WHEN (i * 31) % 100 < 88 THEN 'placed' WHEN (i * 31) % 100 < 94 THEN 'return_pending'
                   ELSE 'returned' END AS s
    FROM range(1, {orders} + 1) AS t(i)
);
CREATE TABLE shop.order_items AS
SELECT i::INTEGER AS id, (1 + (i - 1) // 2)::INTEGER AS order_id,
       'SKU-' || lpad((1 + (i * 104729) % 200)::VARCHAR, 4, '0') AS sku,
       (1 + (i * 17) % 4)::INTEGER AS quantity
FROM range(1, 2 * {orders} + 1) AS t(i)
WHERE i % 2 = 1 OR (1 + (i - 1) // 2) % 3 <> 0;
CREATE TABLE shop.payments AS
SELECT i::INTEGER AS id, (1 + (i - 1) // 2)::INTEGER AS order_id,
       ['credit_card', 'coupon', 'bank_transfer', 'gift_card'][1 + (i * 7) % 4] AS payment_method,
       (500 + (i * 7919) % 30000)::INTEGER AS amount_cents,
       CASE WHEN i % 23 = 0 THEN 'fail' ELSE 'success' END AS status
FROM range(1, 2 * {orders} + 1) AS t(i)
WHERE (i % 2 = 1 OR (1 + (i - 1) // 2) % 4 = 0) AND (1 + (i - 1) // 2) % 11 <> 0;
"""


def dbt_command() -> Path | None:
    """The dbt to compare with: ``$DBT``, else ``.venv-dbt``'s, else none."""
    named = os.environ.get("DBT")
    for candidate in (Path(named) if named else None, REPO / ".venv-dbt" / "bin" / "dbt"):
        if candidate is not None and candidate.exists():
            return candidate
    return None


def dbt_build(project: Path, dbt: Path) -> float:
    """Seconds ``dbt build`` took; stops the bench when it fails."""
    build = [str(dbt), "build", "--profiles-dir", ".", "--project-dir", "."]
    return command_seconds(build, project, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")


def write_raw(path: Path, scale: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(RAW_TABLES.format(customers=int(5000 * scale), orders=int(40000 * scale)))


def compare(mesh_warehouse: Path, dbt_warehouse: Path) -> list[tuple[str, int, int, bool]]:
    """Each port: its rows in the mesh, in dbt, and whether the two hold the same rows."""
    found = []
    with duckdb.connect(str(mesh_warehouse), read_only=True) as con:
        con.execute(f"ATTACH '{dbt_warehouse}' AS dbt (READ_ONLY)")
        for domain, table in PORTS:
            ours, theirs = f"{domain}.{table}", f"dbt.main.{table}"
            counts = [con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in (ours, theirs)]
            differ = con.execute(
                f"SELECT count(*) FROM ((FROM {ours} EXCEPT ALL FROM {theirs})"
                f" UNION ALL (FROM {theirs} EXCEPT ALL FROM {ours}))"
            ).fetchone()
            rows = [int(c[0]) if c else -1 for c in counts]
            found.append((f"{domain}.{table}", rows[0], rows[1], differ is not None and differ[0] == 0))
    return found


def main(scale: str, runs: int) -> None:
    dbt = dbt_command()
    if dbt is None:
        print("\n(dagmesh run vs dbt build: skipped, no dbt; `make bench` installs it in .venv-dbt)")
        return
    work = Path(tempfile.mkdtemp(prefix="dagmesh-dbt-bench-"))
    try:
        mesh, dbt_project = work / "mesh", work / "dbt"
        shutil.copytree(SHOP / "mesh", mesh)
        shutil.copytree(SHOP / "dbt", dbt_project)
        write_raw(mesh / "data" / "raw.duckdb", float(scale))
        dagmesh(mesh, "load")
        shutil.copy2(mesh / ".dagmesh" / "warehouse.duckdb", dbt_project / "warehouse.duckdb")
        dbt_build(dbt_project, dbt)
        dbt_seconds = statistics.median(dbt_build(dbt_project, dbt) for _ in range(runs))
        dagmesh(mesh, "run")
        ours = statistics.median(dagmesh(mesh, "run") for _ in range(runs))
        ports = compare(mesh / ".dagmesh" / "warehouse.duckdb", dbt_project / "warehouse.duckdb")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cached = "on" if BYTECODE else "off"
    print(f"\n(bench/shop: 6 domains, 9 models; scale {scale}; bytecode caching {cached}; median of {runs})")
    print("| dbt build | dagmesh run | ratio | ports with the same rows |")
    print("|---:|---:|---:|---|")
    same = sum(equal for *_, equal in ports)
    print(f"| {dbt_seconds:.1f} s | {ours:.1f} s | {ours / dbt_seconds:.2f}x | {same} of {len(ports)} |")
    for port, mesh_rows, dbt_rows, equal in ports:
        if not equal:
            print(f"  {port}: {mesh_rows} rows in the mesh, {dbt_rows} in dbt, not the same rows")
    if same != len(ports):
        raise SystemExit("dagmesh and dbt published different rows")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "1", int(sys.argv[2]) if len(sys.argv) > 2 else 3)
