"""YAML reading keeps the location of every key and value."""

from __future__ import annotations

from dagmesh.config.yamlfile import YamlMap, YamlSeq, parse_yaml


def test_every_key_value_and_item_keeps_its_line_and_column() -> None:
    document, problems = parse_yaml("domain: physician\nmodels:\n  - a\n  - {name: b}\n", "f.yaml")
    assert problems == []
    assert isinstance(document, YamlMap)
    assert (document.key_loc("models").line, document.key_loc("models").col) == (2, 1)
    models = document["models"]
    assert isinstance(models, YamlSeq)
    assert [(loc.line, loc.col) for loc in models.item_locs] == [(3, 5), (4, 5)]
    assert models[1].key_loc("name").line == 4


def test_a_duplicate_key_is_reported_where_it_repeats() -> None:
    _, problems = parse_yaml("owner: a\nlayer: mastered\nowner: b\n", "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:3:1: error: duplicate key 'owner' (first defined on line 1)"
    ]


def test_a_syntax_error_names_the_line_of_the_problem() -> None:
    document, problems = parse_yaml("domain: x\nmodels: [a,\nlayer: b\n", "bad.yaml")
    assert document is None
    assert len(problems) == 1
    assert problems[0].path == "bad.yaml" and problems[0].line == 4  # where the parser gave up
    assert problems[0].message == (
        "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence started on line 2)"
    )
