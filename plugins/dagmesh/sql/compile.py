"""Render a domain's SQL for one engine: references become that engine's relations."""

from __future__ import annotations

from dataclasses import dataclass

from dagmesh.config.model import Domain, PortRef
from dagmesh.engines.base import Engine
from dagmesh.sql.template import Resolver, render


class UnresolvedReference(Exception):
    """A ``ref``/``source``/``port`` name the domain does not declare."""


@dataclass(frozen=True)
class DomainRelations:
    """What ``ref``, ``source`` and ``port`` mean inside one domain on one engine."""

    engine: Engine
    domain: Domain

    def ref(self, name: str) -> str:
        if self.domain.model(name) is None:
            raise UnresolvedReference(f"ref('{name}'): '{name}' is not a model of domain {self.domain.name}")
        return self.engine.qualify(self.engine.build_schema(self.domain.name), name)

    def source(self, name: str) -> str:
        source = self.domain.sources.get(name)
        if source is None:
            raise UnresolvedReference(
                f"source('{name}'): '{name}' is not a source of domain {self.domain.name}"
            )
        return self.engine.source_relation(source.table)

    def port(self, name: str) -> str:
        parts = name.split(".")
        ref = PortRef(parts[0], parts[1]) if len(parts) == 2 else None
        if ref is None or all(c.port != ref for c in self.domain.consumes):
            raise UnresolvedReference(f"port('{name}'): domain {self.domain.name} does not consume '{name}'")
        return self.engine.port_relation(ref)

    def resolver(self, this: str = "", incremental: bool = False) -> Resolver:
        return Resolver(ref=self.ref, source=self.source, port=self.port, this=this, incremental=incremental)


def render_sql(text: str, relations: DomainRelations, this: str = "", incremental: bool = False) -> str:
    """The SQL with references resolved, still in Snowflake's dialect."""
    return render(text, relations.resolver(this=this, incremental=incremental))
