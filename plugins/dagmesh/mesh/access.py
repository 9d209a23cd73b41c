"""Who may read which output port: one reader role per port, one role per consumer.

Pure data from the configs; engines turn it into SQL (Snowflake database roles and
grants). A consumer domain's role gets the reader roles of exactly the ports it
declares in ``consumes``, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagmesh.config.model import Domain, PortRef
from dagmesh.mesh.graph import MeshGraph


def reader_role(port: PortRef) -> str:
    """The role that can read one output port's published table."""
    return f"{port.domain}__{port.port}__reader".upper()


def consumer_role(domain: str) -> str:
    """The role of a consumer domain: the union of the ports it consumes."""
    return f"{domain}__consumer".upper()


@dataclass(frozen=True)
class PortAccess:
    port: PortRef
    #: Domains that declare ``port`` in their consumes.
    consumers: tuple[str, ...]

    @property
    def reader(self) -> str:
        return reader_role(self.port)


@dataclass(frozen=True)
class AccessPlan:
    ports: tuple[PortAccess, ...]


def domain_access(domain: Domain, graph: MeshGraph) -> AccessPlan:
    """The access to one domain's output ports (what its certify re-grants)."""
    consumers: dict[str, list[str]] = {port: [] for port in domain.outputs}
    for edge in graph.edges:
        if edge.upstream == domain.name and edge.consume.port.port in consumers:
            consumers[edge.consume.port.port].append(edge.consumer)
    return AccessPlan(
        tuple(
            PortAccess(PortRef(domain.name, port), tuple(sorted(set(names))))
            for port, names in consumers.items()
        )
    )
