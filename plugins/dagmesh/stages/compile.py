"""A domain's SQL for one engine: the template rendered with that engine's relations, parsed
once into a query tree, and refused when it reads anything it may not.

This is what a build and a custom test run; validation runs the same checks
(:func:`dagmesh.sql.references.check_references`) without a warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlglot import exp

from dagmesh.config.model import Domain, PortRef
from dagmesh.engines.base import Engine
from dagmesh.quality.checks import Measure
from dagmesh.sql.references import check_references
from dagmesh.sql.statements import SOURCE_DIALECT, QueryError, Relation, parse_query
from dagmesh.templating.template import Resolver, TemplateViolation, render


class UnresolvedReference(Exception):
    """A ``ref``/``source``/``port`` name the domain does not declare."""


class RefusedSql(Exception):
    """Domain SQL that may not run: ``file:line:col: message``."""


@dataclass(frozen=True)
class DomainRelations:
    """What ``ref``, ``source`` and ``port`` mean inside one domain on one engine."""

    engine: Engine
    domain: Domain

    def ref_relation(self, name: str) -> Relation:
        if self.domain.model(name) is None:
            raise UnresolvedReference(f"ref('{name}'): '{name}' is not a model of domain {self.domain.name}")
        return self.engine.table(self.engine.build_schema(self.domain.name), name)

    def ref(self, name: str) -> str:
        return self.ref_relation(name).sql(SOURCE_DIALECT)

    def source(self, name: str) -> str:
        source = self.domain.sources.get(name)
        if source is None:
            raise UnresolvedReference(
                f"source('{name}'): '{name}' is not a source of domain {self.domain.name}"
            )
        return self.engine.source_relation(source.table).sql(SOURCE_DIALECT)

    def port(self, name: str) -> str:
        parts = name.split(".")
        ref = PortRef(parts[0], parts[1]) if len(parts) == 2 else None
        if ref is None or all(c.port != ref for c in self.domain.consumes):
            raise UnresolvedReference(f"port('{name}'): domain {self.domain.name} does not consume '{name}'")
        return self.engine.port_relation(ref).sql(SOURCE_DIALECT)

    def parents(self, measures: Iterable[Measure | None]) -> dict[str, Relation]:
        """The tables the ``orphans`` checks among ``measures`` look values up in: a consumed
        port (``domain.port``) or one of the domain's models."""
        found = {}
        for what in measures:
            if what is not None and what.kind == "orphans":
                name = what.parent
                found[name] = (
                    self.engine.port_relation(PortRef(*name.split(".")))
                    if "." in name
                    else self.ref_relation(name)
                )
        return found

    def resolver(self, this: str = "", incremental: bool = False) -> Resolver:
        return Resolver(ref=self.ref, source=self.source, port=self.port, this=this, incremental=incremental)


def compile_query(
    display: str,
    text: str,
    relations: DomainRelations,
    this: Relation | None = None,
    incremental: bool = False,
) -> exp.Query:
    """The SQL file ``display`` as one query tree on the engine, or :class:`RefusedSql`.

    The same checks as ``dagmesh validate`` run first (template rules, one query, no
    backdoors), so SQL that validation would refuse never reaches the warehouse.
    """
    problems = check_references(text)
    if problems:
        first = problems[0]
        raise RefusedSql(f"{display}:{first.line}:{first.col}: {first.message}")
    resolver = relations.resolver(this=this.sql(SOURCE_DIALECT) if this else "", incremental=incremental)
    try:
        return parse_query(render(text, resolver))
    except TemplateViolation as exc:
        problem = exc.problems[0]
        raise RefusedSql(f"{display}:{problem.line}:{problem.col}: {problem.message}") from exc
    except (UnresolvedReference, QueryError) as exc:
        raise RefusedSql(f"{display}: {exc}") from exc
