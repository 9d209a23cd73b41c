"""Macros (``macros/*.sql``, plus the built-in ones) and ``var()`` from mesh.yaml's ``vars:``."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest

from dagmesh.cli.validate import check
from dagmesh.config.project import load_project
from dagmesh.templating.macros import expand, library
from tests.helpers import REPO, dagmesh

DAGMESH = str(REPO / ".venv" / "bin" / "dagmesh")
ORDERS = "sql/customer_orders/orders.sql"
MONEY = """\
{% macro cents_to_dollars(column, scale=2) -%}
cast({{ column }} / 100.0 as number(12, {{ scale }}))  -- cents arrive as integers
{%- endmacro %}
"""


def test_a_macro_expands_on_the_line_of_its_call() -> None:
    lib = library({"macros/money.sql": MONEY}, {})
    text, problems = expand("select\n    {{ cents_to_dollars('amount_cents') }} as amount\nfrom t\n", lib)
    assert problems == []
    assert text == "select\n    cast(amount_cents / 100.0 as number(12, 2)) as amount\nfrom t\n"


def test_the_built_in_surrogate_key_hashes_its_columns() -> None:
    text, _ = expand("{{ surrogate_key('a', 'b') }}", library({}, {}))
    assert text == "md5(coalesce(cast(a as varchar), '') || '-' || coalesce(cast(b as varchar), ''))"


def test_var_reads_mesh_yaml_vars_and_an_undeclared_one_is_a_problem_at_its_line() -> None:
    lib = library({}, {"start": "2025-01-01", "limit": 10, "live": True})
    text, problems = expand(
        "where d >= '{{ var('start') }}' and n < {{ var('limit') }} and {{ var('live') }}", lib
    )
    assert text == "where d >= '2025-01-01' and n < 10 and true" and problems == []
    _, problems = expand("select 1\nwhere x = {{ var('nope') }}", lib)
    assert [(p.line, p.message) for p in problems] == [
        (2, "var('nope') is not declared in mesh.yaml vars: (declared: limit, live, start)")
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{% for c in cols %}{{ c }}{% endfor %}", "'For' is not allowed in a macro"),
        ("{{ column.__class__ }}", "'Getattr' is not allowed in a macro"),
        ("{{ ref('orders') }}", "ref() is not allowed in a macro: read tables in the model"),
        ("{{ cycle(column) }}", "macro 'cycle' calls itself (cycle -> cycle)"),
        ("{{ lipsum() }}", "unknown macro 'lipsum()' in macro 'cycle'"),  # no Jinja globals
    ],
)
def test_a_macro_that_breaks_the_rules_is_refused_at_its_line(body: str, message: str) -> None:
    text = "{% macro cycle(column) -%}\n" + body + "\n{%- endmacro %}\n"
    lib = library({"macros/bad.sql": text}, {})
    assert "cycle" not in lib.macros
    assert any(message in p.message for p in lib.problems["macros/bad.sql"]), lib.problems


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    assert subprocess.run([DAGMESH, "init", "shop"], cwd=tmp_path, capture_output=True).returncode == 0
    project = tmp_path / "shop"
    (project / "macros").mkdir()
    (project / "macros" / "money.sql").write_text(MONEY)
    (project / "dag_configs" / "mesh.yaml").write_text(
        (project / "dag_configs" / "mesh.yaml").read_text() + "\nvars:\n  first_day: '2025-01-01'\n"
    )
    orders = project / ORDERS
    orders.write_text(
        orders.read_text()
        .replace(
            "cast(o.amount_cents / 100.0 as number(12, 2)) as amount",
            "{{ cents_to_dollars('o.amount_cents') }} as amount",
        )
        .replace(
            "    on cast(o.customer_id as varchar) = c.customer_id\n",
            "    on cast(o.customer_id as varchar) = c.customer_id\n"
            "where o.ordered_at >= '{{ var(\"first_day\") }}'\n",
        )
    )
    return project


def test_a_project_using_macros_and_vars_validates_binds_and_lints(shop: Path) -> None:
    assert [str(p) for p in check(load_project(shop))] == []
    linted = dagmesh("lint", project=shop)
    assert linted.returncode in (0, 1) and "TMP" not in linted.stdout and "PRS" not in linted.stdout, (
        linted.stdout
    )


def test_a_call_to_an_unknown_macro_is_located_with_the_known_ones(shop: Path) -> None:
    orders = shop / ORDERS
    orders.write_text(
        orders.read_text().replace("cents_to_dollars('o.amount_cents')", "cents_to_dollar('o.amount_cents')")
    )
    (problem,) = [str(p) for p in check(load_project(shop)) if p.is_error]
    assert problem == (
        f"{ORDERS}:7:8: error: unknown function 'cents_to_dollar()' (did you mean 'cents_to_dollars'?); "
        "a model may call ref, source, port, var and macros: cents_to_dollars, date_spine, surrogate_key"
    )


def test_a_broken_macro_file_is_an_error_and_its_callers_are_not_loaded(shop: Path) -> None:
    (shop / "macros" / "money.sql").write_text(MONEY.replace("{{ column }}", "{{ column.x }}"))
    problems = [str(p) for p in check(load_project(shop)) if p.is_error]
    assert any(
        p.startswith("macros/money.sql:2:1: error: 'Getattr' is not allowed in a macro") for p in problems
    )
    assert any(p.startswith(f"{ORDERS}:7:8: error: unknown function 'cents_to_dollars()'") for p in problems)


def test_the_built_in_date_spine_is_one_row_per_day_on_duckdb() -> None:
    import duckdb

    from dagmesh.sql import statements as sql
    from dagmesh.sql.portability import portability_problems
    from dagmesh.sql.references import check_references

    text, problems = expand(
        "select d.date_day from ({{ date_spine('2024-01-01', '2024-12-31') }}) as d", library({}, {})
    )
    assert problems == [] and check_references(text) == [] and portability_problems(text, "duckdb") == []
    rendered = sql.render(sql.parse_query(text), "duckdb")
    assert duckdb.sql(f"select count(*), min(date_day), max(date_day) from ({rendered})").fetchall() == [
        (366, date(2024, 1, 1), date(2024, 12, 31))
    ]
