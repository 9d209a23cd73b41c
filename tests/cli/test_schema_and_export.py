"""``dagmesh schema`` for editors and ``dagmesh export`` to the open standards catalogs read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helpers import REPO, dagmesh

STANDARDS = REPO / "tests" / "data" / "standards"


def validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def printed_schema(kind: str) -> jsonschema.protocols.Validator:
    done = dagmesh("schema", kind, project=REPO)
    assert done.returncode == 0, done.stderr
    return validator(json.loads(done.stdout))


def errors(check: jsonschema.protocols.Validator, document: Any) -> list[str]:
    """Every error, with the reasons each alternative of an ``anyOf`` failed."""
    found = []
    pending = list(check.iter_errors(document))
    while pending:
        error = pending.pop(0)
        found.append(f"{list(error.absolute_path)}: {error.message}")
        pending.extend(error.context or ())
    return found


def test_the_schemas_accept_every_example_config() -> None:
    domain, mesh = printed_schema("domain"), printed_schema("mesh")
    assert errors(mesh, yaml.safe_load((REPO / "dag_configs" / "mesh.yaml").read_text())) == []
    configs = sorted((REPO / "dag_configs").glob("*/*.yaml"))
    assert len(configs) == 6
    for config in configs:
        assert errors(domain, yaml.safe_load(config.read_text())) == [], config


@pytest.mark.parametrize(
    ("change", "gist"),
    [
        (lambda d: d.update(shedule="@daily"), "'shedule' was unexpected"),
        (lambda d: d["outputs"]["product"]["columns"]["ndc"].update(tpye="varchar"), "'tpye' was unexpected"),
        (lambda d: d.update(retries="two"), "'two' is not of type 'integer'"),
        (lambda d: d["outputs"]["product"]["columns"]["ndc"].update(type="varchr"), "does not match"),
    ],
)
def test_the_domain_schema_rejects_what_validate_rejects(change: Any, gist: str) -> None:
    document = yaml.safe_load((REPO / "dag_configs" / "mastered" / "product.yaml").read_text())
    change(document)
    assert any(gist in e for e in errors(printed_schema("domain"), document))


def test_the_committed_schemas_are_current_and_the_configs_point_editors_at_them() -> None:
    assert dagmesh("schema", "--check", project=REPO).returncode == 0
    for config in (REPO / "dag_configs").rglob("*.yaml"):
        first = config.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), config
        schema = (config.parent / first.split("$schema=", 1)[1]).resolve()
        kind = "mesh" if config.name == "mesh.yaml" else "domain"
        assert schema == REPO / "schemas" / f"{kind}.schema.json", config


def test_schema_check_fails_when_the_written_schema_is_stale(project: Path) -> None:
    (project / "schemas" / "domain.schema.json").write_text("{}\n")
    stale = dagmesh("schema", "--check", project=project)
    assert stale.returncode == 1 and "out of date: schemas/domain.schema.json" in stale.stdout
    assert dagmesh("schema", "--write", project=project).returncode == 0
    assert dagmesh("schema", "--check", project=project).returncode == 0


def exported(fmt: str, *domains: str) -> list[dict[str, Any]]:
    done = dagmesh("export", "--format", fmt, *domains, project=REPO)
    assert done.returncode == 0, done.stderr
    return list(yaml.safe_load_all(done.stdout))


def test_each_output_port_exports_a_valid_odcs_contract() -> None:
    check = validator(json.loads((STANDARDS / "odcs-json-schema-v3.1.0.json").read_text()))
    contracts = exported("odcs")
    assert len(contracts) == 13  # every output port of the example
    for contract in contracts:
        assert errors(check, contract) == [], contract["id"]
    physician = next(c for c in contracts if c["id"] == "pharma.physician.physician")
    assert physician["version"] == "1.0.0" and physician["team"] == {"name": "mdm-team"}
    table = physician["schema"][0]
    key = next(p for p in table["properties"] if p["name"] == "physician_id")
    assert key["primaryKey"] is True and key["required"] is True
    npi = next(p for p in table["properties"] if p["name"] == "npi")
    assert {r["metric"] for r in npi["quality"] if r["type"] == "library"} >= {
        "nullValues",
        "duplicateValues",
    }
    assert any(r["metric"] == "rowCount" for r in table["quality"])
    broken = {**physician, "status": 3}
    assert errors(check, broken) != []  # the validator does reject a wrong contract


def test_each_domain_exports_a_valid_odps_product_whose_ports_name_contracts() -> None:
    check = validator(json.loads((STANDARDS / "odps-json-schema-v1.0.0.json").read_text()))
    products = exported("odps")
    contracts = {c["id"] for c in exported("odcs")}
    assert [p["name"] for p in products] == [
        "payer",
        "physician",
        "product",
        "payer_dw",
        "physician_dw",
        "launch_analytics",
    ]
    for product in products:
        assert errors(check, product) == [], product["id"]
        for port in product["outputPorts"] + product.get("inputPorts", []):
            assert port["contractId"] in contracts
    physician_dw = next(p for p in products if p["name"] == "physician_dw")
    assert [i["name"] for i in physician_dw["inputPorts"]] == ["physician.physician", "product.product"]


def test_export_names_one_domain_and_writes_files(tmp_path: Path) -> None:
    done = dagmesh("export", "--format", "odcs", "product", "--out", str(tmp_path), project=REPO)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["product.product.odcs.yaml"]
    unknown = dagmesh("export", "--format", "odps", "prodcut", project=REPO)
    assert unknown.returncode == 2 and "unknown domain 'prodcut' (did you mean 'product'?)" in unknown.stderr
