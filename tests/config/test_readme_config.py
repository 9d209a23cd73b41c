"""The README's configuration section and the config schema cannot disagree: its examples
are valid configs, and every key a config can hold is documented there."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
import yaml

from dagmesh.config.schema import json_schema
from tests.helpers import REPO

SECTION = re.compile(r"^## Configuration\n(.*?)^## ", re.MULTILINE | re.DOTALL)


def config_section() -> str:
    match = SECTION.search((REPO / "README.md").read_text())
    assert match, "README has a Configuration section"
    return match.group(1)


def yaml_blocks() -> list[Any]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", config_section(), re.DOTALL)]


def keys(schema: dict[str, Any]) -> set[str]:
    """Every key any mapping of a config may hold."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


@pytest.mark.parametrize("kind", ["mesh", "domain"])
def test_every_key_of_the_schema_is_documented_in_the_readme(kind: str) -> None:
    section = config_section()
    undocumented = sorted(k for k in keys(json_schema(kind)) if not re.search(rf"\b{k}\b", section))
    assert undocumented == []


def test_the_readmes_config_examples_are_valid_configs() -> None:
    mesh, domain = yaml_blocks()
    for kind, document in (("mesh", mesh), ("domain", domain)):
        schema = json_schema(kind)
        check = jsonschema.validators.validator_for(schema)(schema)
        assert [e.message for e in check.iter_errors(document)] == [], kind
