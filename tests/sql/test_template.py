"""Template calls are found without rendering, with their lines and columns."""

from __future__ import annotations

import pytest

from dagmesh.templating.template import Resolver, render, template_calls

SQL = """select *
from {{ ref('stg') }} as s
join {{ source('npi') }} as n on s.npi = n.npi
join {{ port('physician.physician') }} as p on p.id = s.id
"""


def test_calls_are_found_with_their_arguments_and_positions() -> None:
    info = template_calls(SQL)
    assert info.problems == ()
    assert [(c.func, c.arg, c.line, c.col) for c in info.calls] == [
        ("ref", "stg", 2, 9),
        ("source", "npi", 3, 9),
        ("port", "physician.physician", 4, 9),
    ]


@pytest.mark.parametrize(
    ("sql", "message", "line"),
    [
        ("select {{ ref(name) }}", "ref() takes exactly one quoted name, e.g. ref('name')", 1),
        ("select 1\nfrom {{ table('x') }}", "unknown function 'table()'", 2),
        ("select {{ thing }}", "unknown template variable 'thing'", 1),
        ("select 1\n\nfrom {{ ref('a' }}", "template syntax error", 3),
    ],
)
def test_bad_template_code_is_a_located_problem(sql: str, message: str, line: int) -> None:
    problems = template_calls(sql).problems
    assert len(problems) == 1
    assert message in problems[0].message
    assert problems[0].line == line


def test_rendering_replaces_each_call_with_the_relation_it_names() -> None:
    resolver = Resolver(
        ref=lambda n: f"build.{n}", source=lambda n: f"raw.{n}", port=lambda n: f"pub.{n.split('.')[1]}"
    )
    rendered = render(SQL, resolver)
    assert "from build.stg as s" in rendered
    assert "join raw.npi as n" in rendered
    assert "join pub.physician as p" in rendered
