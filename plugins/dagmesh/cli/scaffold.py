"""The files of a new project (``dagmesh init``) and of a new domain (``dagmesh new``).

Everything is generated here as text, so a new project needs nothing but the installed
package: a DuckDB dev environment and a Snowflake prod template, a mastered domain read
from CSV files in ``data/`` and an integrated domain consuming it, Airflow's DAG files,
the JSON Schemas for editors, ``.sqlfluff``, ``.gitignore``, a pre-commit config and a CI
workflow.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta

from dagmesh.config.model import Domain, OutputPort, PortRef

SCHEMA_COMMENT = "# yaml-language-server: $schema=../../schemas/domain.schema.json\n"

MESH_YAML = """\
# yaml-language-server: $schema=../schemas/mesh.schema.json
# Mesh-wide settings and the policy every domain obeys.
mesh: {name}
description: The {name} data mesh.

environments:
  dev:  {{engine: duckdb, path: .dagmesh/warehouse.duckdb}}
  # Production on Snowflake: create the Airflow connection, then DAGMESH_ENV=prod.
  prod: {{engine: snowflake, conn_id: snowflake_default, database: {database}, warehouse: TRANSFORM_WH}}
default_environment: dev

defaults:
  owner: data-platform
  retries: 2
  retry_delay: 5m
  timezone: UTC

policy:
  layers: [mastered, integrated, self_service]   # dependencies may only point to earlier layers
  output_ports:
    require_primary_key: true
    min_rows: 1
    standard_tests: [row_count, primary_key, not_null_columns, accepted_values, schema_matches_contract]
"""

CUSTOMERS_YAML = (
    SCHEMA_COMMENT
    + """\
domain: customers
layer: mastered
description: One row per customer of the web shop, from the shop's daily export.
owner: shop-data
schedule: "0 6 * * *"

sources:
  # On DuckDB, `dagmesh load` reads the files into RAW.SHOP.*; Snowflake reads the tables.
  shop_customers:
    table: RAW.SHOP.CUSTOMERS
    path: data/customers.csv
    columns:        # declared, so `dagmesh validate` binds the SQL that reads them
      customer_id: integer
      name: varchar
      email: varchar
      country: varchar
      signed_up_on: date
      exported_at: timestamp

models:
  - {name: customers, sql: customers/customers.sql}

outputs:
  customers:
    version: 1
    description: One row per customer.
    primary_key: [customer_id]
    columns:
      customer_id:  {type: varchar}
      name:         {type: varchar, tests: [not_null]}
      email:        {type: varchar, tests: [unique]}
      country:      {type: varchar, tests: [not_null, {accepted_values: [US, DE, FR, GB]}]}
      signed_up_on: {type: date}
"""
)

CUSTOMERS_SQL = """\
-- One row per customer: the latest export row wins.
select
    cast(customer_id as varchar) as customer_id,
    name,
    lower(email) as email,
    upper(country) as country,
    cast(signed_up_on as date) as signed_up_on
from {{ source('shop_customers') }}
qualify row_number() over (partition by customer_id order by exported_at desc) = 1
"""

CUSTOMER_ORDERS_YAML = (
    SCHEMA_COMMENT
    + """\
domain: customer_orders
layer: integrated
description: Orders with the customer who placed them, and each customer's totals.
owner: shop-analytics
schedule: on_upstream        # runs when customers certifies a new version

consumes:
  - customers.customers

sources:
  shop_orders:
    table: RAW.SHOP.ORDERS
    path: data/orders.csv
    columns:
      order_id: integer
      customer_id: integer
      ordered_at: timestamp
      amount_cents: integer
      status: varchar

models:
  - {name: orders, sql: customer_orders/orders.sql}
  - {name: customer_totals, sql: customer_orders/customer_totals.sql}

outputs:
  orders:
    version: 1
    primary_key: [order_id]
    columns:
      order_id:     {type: varchar}
      customer_id:  {type: varchar, tests: [not_null]}
      country:      {type: varchar}
      ordered_on:   {type: date, tests: [not_null]}
      amount:       {type: number, tests: [{range: {min: 0}}]}
      status:       {type: varchar, tests: [{accepted_values: [placed, shipped, returned]}]}
  customer_totals:
    version: 1
    primary_key: [customer_id]
    columns:
      customer_id:  {type: varchar}
      orders:       {type: integer, tests: [{range: {min: 1}}]}
      revenue:      {type: number}
"""
)

ORDERS_SQL = """\
-- Every order with its customer's country; amounts arrive in cents.
select
    cast(o.order_id as varchar) as order_id,
    c.customer_id,
    c.country,
    cast(o.ordered_at as date) as ordered_on,
    cast(o.amount_cents / 100.0 as number(12, 2)) as amount,
    o.status
from {{ source('shop_orders') }} as o
inner join {{ port('customers.customers') }} as c
    on cast(o.customer_id as varchar) = c.customer_id
"""

CUSTOMER_TOTALS_SQL = """\
-- Orders and revenue per customer (returned orders earn nothing).
select
    customer_id,
    count(*) as orders,
    cast(sum(case when status = 'returned' then 0 else amount end) as number(14, 2)) as revenue
from {{ ref('orders') }}
group by customer_id
"""

SQLFLUFF = """\
# sqlfluff settings for the mesh's SQL: `dagmesh lint` (or `sqlfluff lint sql/`, which
# needs `templater = dagmesh` to understand ref(), source() and port()).
[sqlfluff]
dialect = snowflake
templater = dagmesh
max_line_length = 110

[sqlfluff:indentation]
tab_space_size = 4
indent_unit = space

[sqlfluff:rules:capitalisation.keywords]
capitalisation_policy = lower
"""

GITIGNORE = """\
.dagmesh/
__pycache__/
.venv/
"""

PRE_COMMIT = """\
# pre-commit: check configs and SQL before each commit (needs dagmesh installed).
repos:
  - repo: local
    hooks:
      - id: dagmesh-validate
        name: dagmesh validate
        entry: dagmesh validate
        language: system
        pass_filenames: false
        files: ^(dag_configs|sql|dags)/
      - id: dagmesh-lint
        name: dagmesh lint
        entry: dagmesh lint
        language: system
        types: [sql]
"""

CI_WORKFLOW = """\
# Every pull request is validated (with breaking changes to output-port contracts against
# the target branch) and linted; problems show as annotations on the changed files.
name: mesh
on:
  pull_request:
    paths: ["dag_configs/**", "sql/**", "dags/**"]

jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install dagmesh   # pin the version your Airflow runs
      - run: dagmesh validate --base "origin/${{ github.base_ref }}" --format github
      - run: dagmesh lint --format github
"""


def example_data(seed: int = 11) -> dict[str, str]:
    """Small, deterministic CSV exports for the example domains."""
    rng = random.Random(seed)
    countries = ["US", "DE", "FR", "GB"]
    first = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
    last = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman"]
    exported = datetime(2026, 1, 5, 6, 0)
    customers = ["customer_id,name,email,country,signed_up_on,exported_at"]
    for number in range(1, 61):
        name = f"{rng.choice(first)} {rng.choice(last)}"
        email = f"{name.lower().replace(' ', '.')}.{number}@example.com"
        signed_up = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
        customers.append(
            f"{number},{name},{email},{rng.choice(countries)},{signed_up},{exported:%Y-%m-%d %H:%M:%S}"
        )
    orders = ["order_id,customer_id,ordered_at,amount_cents,status"]
    for number in range(1, 241):
        ordered = datetime(2025, 1, 1) + timedelta(minutes=rng.randrange(500_000))
        status = rng.choices(["placed", "shipped", "returned"], [2, 7, 1])[0]
        customer, cents = rng.randrange(1, 61), rng.randrange(500, 50_000)
        orders.append(f"{1000 + number},{customer},{ordered:%Y-%m-%d %H:%M:%S},{cents},{status}")
    return {"data/customers.csv": "\n".join(customers) + "\n", "data/orders.csv": "\n".join(orders) + "\n"}


def project_files(name: str) -> dict[str, str]:
    """Every file of a new project named ``name`` (paths relative to its root)."""
    return {
        "dag_configs/mesh.yaml": MESH_YAML.format(name=name, database=name.upper()),
        "dag_configs/mastered/customers.yaml": CUSTOMERS_YAML,
        "dag_configs/integrated/customer_orders.yaml": CUSTOMER_ORDERS_YAML,
        "sql/customers/customers.sql": CUSTOMERS_SQL,
        "sql/customer_orders/orders.sql": ORDERS_SQL,
        "sql/customer_orders/customer_totals.sql": CUSTOMER_TOTALS_SQL,
        **example_data(),
        ".sqlfluff": SQLFLUFF,
        ".gitignore": GITIGNORE,
        ".pre-commit-config.yaml": PRE_COMMIT,
        ".github/workflows/mesh.yml": CI_WORKFLOW,
    }


def domain_files(name: str, layer: str, consumes: list[tuple[Domain, OutputPort]]) -> dict[str, str]:
    """A domain's config and SQL that validate: it publishes one port, ``name``. With
    consumed ports it reads the first one (its columns and primary key become the port's
    contract); without, it reads a file source in ``data/<name>/`` to fill in."""
    lines = [
        SCHEMA_COMMENT.rstrip("\n"),
        f"domain: {name}",
        f"layer: {layer}",
        f"description: {name.replace('_', ' ').capitalize()} (describe what consumers get here).",
        "owner: data-platform",
    ]
    if consumes:
        first_domain, first_port = consumes[0]
        ref = PortRef(first_domain.name, first_port.name)
        lines += ["schedule: on_upstream", "", "consumes:"]
        lines += [f"  - {d.name}.{p.name}" for d, p in consumes]
        columns = {c: column.type for c, column in first_port.columns.items()}
        primary_key = list(first_port.primary_key) or [next(iter(columns))]
        reads = f"{{{{ port('{ref}') }}}}"
        others = [f"{d.name}.{p.name}" for d, p in consumes[1:]]
        note = f"-- Also consumed (read with port()): {', '.join(others)}\n" if others else ""
    else:
        lines += [
            'schedule: "0 6 * * *"',
            "",
            "sources:",
            f"  records: {{table: RAW.{name.upper()}.RECORDS, path: data/{name}/*.csv}}",
        ]
        columns = {"id": "varchar"}
        primary_key = ["id"]
        reads = "{{ source('records') }}"
        note = "-- Add the columns consumers need, and declare them in the port's contract.\n"
    lines += ["", "models:", f"  - {{name: {name}, sql: {name}/{name}.sql}}", "", "outputs:", f"  {name}:"]
    lines += ["    version: 1", f"    primary_key: {json.dumps(primary_key)}", "    columns:"]
    lines += [f"      {column}: {{type: {kind}}}" for column, kind in columns.items()]
    select = ",\n".join(f"    {column}" for column in columns)
    sql_text = f"-- {name}: one row per {', '.join(primary_key)}.\n{note}select\n{select}\nfrom {reads}\n"
    return {f"dag_configs/{layer}/{name}.yaml": "\n".join(lines) + "\n", f"sql/{name}/{name}.sql": sql_text}
