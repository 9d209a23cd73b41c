"""SQL and config from a pull request cannot run code, inject statements or read behind the mesh's back."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from dagmesh.config.files import DiskFiles
from dagmesh.quality.checks import Measure
from dagmesh.sql import statements as sql
from dagmesh.sql.portability import WORKAROUNDS, portability_problems
from dagmesh.sql.references import ConditionError, check_references, condition
from dagmesh.templating.template import Resolver, TemplateViolation, render, template_calls
from tests.helpers import REPO

RELATIONS = Resolver(ref=lambda n: f"b.{n}", source=lambda n: f"s.{n}", port=lambda n: f"p.{n}")


def refused(text: str) -> list[tuple[str, int, int]]:
    """The template's problems; rendering it must refuse too, before anything of it runs."""
    problems = template_calls(text).problems
    with pytest.raises(TemplateViolation):
        render(text, RELATIONS)
    return [(p.message, p.line, p.col) for p in problems]


def test_template_code_cannot_run(tmp_path: Path) -> None:
    planted = tmp_path / "pwned"
    attack = (
        "select 1\nfrom {{ ref('a') }}\n"
        f"where {{{{ ref.__globals__['__builtins__']['__import__']('os').system('touch {planted}') }}}}"
    )

    (problem,) = refused(attack)

    assert not planted.exists()
    assert problem[0].startswith("attribute access ({{ x.y }}) is not allowed in dagmesh SQL")
    assert problem[1:] == (3, 14)  # the line and column of __globals__


@pytest.mark.parametrize(
    ("attack", "gist"),
    [
        ("select {{ lipsum.__globals__.os.environ }}", "attribute access"),
        ("select {{ cycler.__init__.__globals__ }}", "attribute access"),
        ("select {{ range(10) }}", "unknown function 'range()'"),
        ("select {{ config }}", "unknown template variable 'config'"),
        ("select 1\n{% include '/etc/passwd' %}", "{% include %} is not allowed"),
        ("{% import 'macros.sql' as m %}select 1", "{% import %} is not allowed"),
        ("{% extends 'base.sql' %}", "{% extends %} is not allowed"),
        ("select {{ 1/0 }}", "'Div' is not allowed"),
        ("select {{ 'x' | upper }}", "filters ({{ x | f }}) are not allowed"),
        ("{% for i in [1] %}select 1{% endfor %}", "{% for %} is not allowed"),
        ("{% set x = 1 %}select 1", "{% set %} is not allowed"),
    ],
)
def test_templates_may_only_call_the_mesh_functions(attack: str, gist: str) -> None:
    problems = refused(attack)
    assert problems and gist in problems[0][0], problems
    assert "a template may only call ref('model'), source('name'), port('domain.port')" in problems[0][0]


def test_an_environment_value_never_reaches_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGMESH_SECRET_PROBE", "s3cr3t-value")
    for attack in ("{{ lipsum.__globals__['os'].environ['DAGMESH_SECRET_PROBE'] }}", "{{ environ }}"):
        problems = refused(attack)
        assert all("s3cr3t-value" not in message for message, _, _ in problems)
    assert os.environ["DAGMESH_SECRET_PROBE"] == "s3cr3t-value"


def test_dbt_habits_get_a_message_saying_how_dagmesh_names_things() -> None:
    ((message, line, col),) = refused("select *\nfrom {{ source('ecom', 'raw_customers') }}")
    assert (line, col) == (2, 9)
    assert "source('ecom', 'raw_customers') is dbt's form" in message
    assert "source('raw_customers')" in message


def test_a_huge_template_is_refused_before_it_is_parsed() -> None:
    ((message, _, _),) = refused("select 1 " + "-- padding\n" * 100_000)
    assert "larger than 1,000,000 characters" in message


def test_a_utf8_bom_is_not_part_of_a_files_text(tmp_path: Path) -> None:
    (tmp_path / "model.sql").write_bytes("\ufeffselect *\nfrom {{ ref('a') }}\n".encode())
    text = DiskFiles(tmp_path).read("model.sql")
    assert text == "select *\nfrom {{ ref('a') }}\n"
    assert check_references(text) == []


@pytest.mark.parametrize(
    ("query", "gist", "where"),
    [
        ("select *\nfrom read_csv('/etc/hostname')", "reads through 'READ_CSV('/etc/hostname')'", (2, 6)),
        (
            "select *\nfrom TABLE('physician.physician')",
            "reads through 'TABLE('physician.physician')'",
            (2, 6),
        ),
        ("select *\nfrom identifier('physician.physician')", "reads through 'IDENTIFIER(", (2, 6)),
        ("select *\nfrom query_table('mesh_meta.certifications')", "reads through 'QUERY_TABLE(", (2, 6)),
        ("select *\nfrom mesh_meta.certifications", "reads 'mesh_meta.certifications'", (2, 6)),
        ("select *\nfrom physician__build.physician", "reads 'physician__build.physician'", (2, 6)),
        ("select *\nfrom dagmesh_ref.physician", "reads 'dagmesh_ref.physician'", (2, 6)),
        ("select getenv('HOME') as h\nfrom {{ ref('a') }}", "calls GETENV()", (1, 8)),
        ("select read_text('/etc/passwd') as t", "calls READ_TEXT()", (1, 8)),
        ("select * from {{ ref('a') }};\ndelete from x", "a SQL file holds one query", (2, 1)),
    ],
)
def test_every_way_to_read_behind_the_mesh_is_a_located_problem(
    query: str, gist: str, where: tuple[int, int]
) -> None:
    problems = check_references(query)
    assert problems, query
    assert gist in problems[0].message
    assert (problems[0].line, problems[0].col) == where


def test_harmless_table_functions_are_allowed() -> None:
    for query in (
        "select * from table(generator(rowcount => 10))",
        "select f.value from {{ ref('a') }} t, lateral flatten(input => t.arr) f",
        "select * from {{ ref('a') }} t, table(split_to_table(t.a, ','))",
        "select * from (values (1), (2)) as v(x)",
        "with c as (select * from {{ port('d.p') }}) select * from c",
    ):
        assert check_references(query) == [], query


@pytest.mark.parametrize(
    ("expression", "gist"),
    [
        ("1=1; DELETE FROM physician.physician", "is not one SQL condition"),
        ("npi IN (SELECT npi FROM physician.physician)", "reads a table or a subquery"),
        ("COUNT(*) > 1", "aggregates"),
        ("getenv('HOME') = npi", "calls GETENV()"),
        ("npi = 1 OR secret_column = 2", "reads 'secret_column', which is not a column of the port"),
        ("x.npi = 1", "reads 'x.npi'"),
        ("'a'", "is not a condition"),
    ],
)
def test_an_expression_test_is_one_condition_over_the_ports_columns(expression: str, gist: str) -> None:
    with pytest.raises(ConditionError) as refused_expression:
        condition(expression, ["npi", "specialty"])
    assert gist in str(refused_expression.value)


def test_an_expression_test_becomes_part_of_the_check_query_as_a_tree() -> None:
    text = "LENGTH(npi) = 10 AND \"group\" IN ('A', 'B')"
    written = sql.render(sql.measure(Measure("violations", ("npi", "group"), condition=text)), "duckdb")
    assert written.startswith("COUNT_IF(NOT (")
    assert "\"group\" IN ('A', 'B')" in written


@pytest.mark.parametrize(
    ("query", "gist", "where"),
    [
        (
            "select\n  to_char(ts, 'YYYY-MM') as m\nfrom {{ ref('a') }}",
            "'format' is not supported for expression 'ToChar'",
            (2, 3),
        ),
        (
            "select f.value\nfrom {{ ref('a') }} t,\n  lateral flatten(input => t.arr) f",
            "does not translate to DuckDB",
            (3, 3),
        ),
        (
            "select ratio_to_report(x) over (partition by g) as r\nfrom {{ ref('a') }}",
            "RATIO_TO_REPORT() does not exist on DuckDB",
            (1, 8),
        ),
        ("select\n   md5_number_lower64(a) as h\nfrom {{ ref('a') }}", "does not exist on DuckDB", (2, 4)),
    ],
)
def test_snowflake_sql_that_would_not_run_or_mean_the_same_on_duckdb_is_located(
    query: str, gist: str, where: tuple[int, int]
) -> None:
    (problem,) = portability_problems(query, "duckdb")
    assert gist in problem.message
    assert (problem.line, problem.col) == where


def test_a_function_sqlglot_can_write_for_duckdb_gives_the_same_answer() -> None:
    assert portability_problems("select strtok(a, ',', 2) as b from {{ ref('t') }}", "duckdb") == []
    query = sql.parse_query("select strtok('x,y,z', ',', 2) as b")
    with duckdb.connect() as con:
        for setting in sql.duckdb_settings():  # as every DuckDB session of the engine
            con.execute(sql.render(setting, "duckdb"))
        assert con.execute(sql.render(query, "duckdb")).fetchall() == [("y",)]


def test_the_readme_lists_every_known_workaround() -> None:
    readme = (REPO / "README.md").read_text()
    for name in WORKAROUNDS:
        assert f"`{name.upper()}(" in readme, name
    assert "`LATERAL FLATTEN(" in readme
