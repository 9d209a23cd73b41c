"""JSON Schema of ``mesh.yaml`` and of a domain file, made from the models.

Editors (VS Code's and JetBrains' YAML support) complete and check keys with it when a
config starts with ``# yaml-language-server: $schema=<path to the schema>``. The schema
holds what a file can say on its own; rules that need the whole mesh (layers, the policy)
are checked by ``dagmesh validate``.
"""

from __future__ import annotations

import json
from typing import Any

from dagmesh.config.model import Domain, Located, Mesh

#: The configs a schema exists for, the model of each and the file it is written to.
SCHEMAS: dict[str, tuple[type[Located], str]] = {
    "mesh": (Mesh, "mesh.schema.json"),
    "domain": (Domain, "domain.schema.json"),
}
#: Where ``dagmesh schema --write`` puts them, relative to the project.
SCHEMA_DIR = "schemas"
_TITLES = {
    "mesh": "dagmesh mesh.yaml: environments, defaults and the mesh's policy",
    "domain": "dagmesh domain: sources, models, output ports with contracts, tests and consumed ports",
}


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a ``mesh`` or ``domain`` config file."""
    model, _ = SCHEMAS[kind]
    schema = _any_of(model.model_json_schema(by_alias=True))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": _TITLES[kind],
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text(kind: str) -> str:
    return json.dumps(json_schema(kind), indent=2, sort_keys=False) + "\n"


def schema_files() -> dict[str, str]:
    """``{file name in schemas/: text}`` for every config kind."""
    return {filename: schema_text(kind) for kind, (_, filename) in SCHEMAS.items()}


def _any_of(node: Any) -> Any:
    """dagmesh's unions pick their member by the value's shape, and the shapes may overlap
    as JSON (``manual`` is also a string a cron could be): ``anyOf``, not ``oneOf``."""
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_any_of(v) for v in node]
    return node
