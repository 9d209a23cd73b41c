"""An ODPS v1.0 data product for each domain.

`Open Data Product Standard <https://bitol-io.github.io/open-data-product-standard/>`_
describes a product by its ports: a domain's input ports are the ports it consumes (each
naming the upstream's contract), its output ports reference their own ODCS contracts.
"""

from __future__ import annotations

from typing import Any

from dagmesh.config.model import Domain, Mesh
from dagmesh.config.types import PortRef
from dagmesh.export.odcs import contract_id, contract_version

API_VERSION = "v1.0.0"


def data_product(mesh: Mesh, domain: Domain, domains: dict[str, Domain]) -> dict[str, Any]:
    """The ODPS product of ``domain``; ``domains`` gives the consumed ports' versions."""
    product: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "DataProduct",
        "id": f"{mesh.name}.{domain.name}",
        "name": domain.name,
        "status": "active",
        "domain": domain.layer,
        "tags": [domain.layer, *domain.tags],
        "team": {"name": domain.owner},
        "outputPorts": [
            {
                "name": port.name,
                "version": contract_version(port),
                "contractId": contract_id(mesh, PortRef(domain.name, port.name)),
                "type": "tables",
                **({"description": port.description} if port.description else {}),
            }
            for port in domain.outputs.values()
        ],
        "customProperties": [{"property": "dagmeshMesh", "value": mesh.name}],
    }
    if domain.description:
        product["description"] = {"purpose": domain.description.strip()}
    inputs = []
    for consume in domain.consumes:
        upstream = domains.get(consume.port.domain)
        port = upstream.outputs.get(consume.port.port) if upstream else None
        inputs.append(
            {
                "name": str(consume.port),
                "version": contract_version(port) if port else "unknown",
                "contractId": contract_id(mesh, consume.port),
            }
        )
    if inputs:
        product["inputPorts"] = inputs
    return product
