"""The mesh as a graph: domains ordered by what they consume, models by ``ref()``.

Pure functions of the config values; no Airflow, no warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dagmesh.config.model import Consume, Domain, Via


def toposort(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> tuple[list[str], list[list[str]]]:
    """Order ``nodes`` so each comes after its dependencies (``edges[n]``).

    Returns the order and the cycles found, each as a closed path ``[a, b, ..., a]``.
    Nodes on a cycle are left out of the order; ties keep the input order.
    """
    nodes = list(nodes)
    known = set(nodes)
    deps = {n: [d for d in edges.get(n, ()) if d in known] for n in nodes}
    cycles = _cycles(nodes, deps)
    cyclic = {n for cycle in cycles for n in cycle}
    order: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        done.add(node)
        for dep in deps[node]:
            if dep not in done and dep not in cyclic:
                visit(dep)
        order.append(node)

    for node in nodes:
        if node not in done and node not in cyclic:
            visit(node)
    return order, cycles


def _cycles(nodes: list[str], deps: Mapping[str, list[str]]) -> list[list[str]]:
    """One closed path per strongly connected component that has a cycle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in deps[node]:
            if dep not in index:
                connect(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in deps[node]:
                components.append(component)

    for node in nodes:
        if node not in index:
            connect(node)
    cycles = []
    for component in components:
        first = next(n for n in nodes if n in component)
        cycles.append(_path_back(first, component, deps))
    return sorted(cycles, key=lambda c: nodes.index(c[0]))


def _path_back(start: str, component: set[str], deps: Mapping[str, list[str]]) -> list[str]:
    """A closed path from ``start`` back to itself inside one component (BFS, shortest)."""
    parents: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for dep in deps[node]:
            if dep not in component:
                continue
            if dep == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [start, *reversed(path[:-1]), start] if node != start else [start, start]
            if dep not in parents:
                parents[dep] = node
                queue.append(dep)
    return [start, start]


@dataclass(frozen=True)
class Edge:
    """``consumer`` reads ``consume.port`` of ``upstream`` through ``via``."""

    consumer: str
    upstream: str
    consume: Consume
    via: Via


def effective_via(consumer: Domain, consume: Consume) -> Via:
    """How a dependency is orchestrated when the config does not say.

    A cron-scheduled consumer waits for each upstream with a sensor at the aligned
    logical date; everything else is chained by Assets. The choice depends on the
    consumer's own config only, so a consumer's DAG never changes shape because an
    upstream's config changed or broke.
    """
    if consume.via is not None:
        return consume.via
    return "sensor" if consumer.schedule.kind == "cron" else "asset"


class MeshGraph:
    """Domains and their consumes-edges.

    ``edges`` holds every consume of the given domains, also those whose upstream is
    not among them (its config is broken, or it does not exist): a consumer keeps all
    its inputs. Ordering and ancestry only follow edges between the given domains.
    """

    def __init__(self, domains: Mapping[str, Domain], layers: Iterable[str] = ()) -> None:
        self.domains = dict(domains)
        rank = {layer: i for i, layer in enumerate(layers)}
        self._ordered_names = sorted(
            self.domains, key=lambda n: (rank.get(self.domains[n].layer, len(rank)), n)
        )
        self.edges: list[Edge] = [
            Edge(name, consume.port.domain, consume, effective_via(self.domains[name], consume))
            for name in self._ordered_names
            for consume in self.domains[name].consumes
        ]
        self._up: dict[str, list[str]] = {n: [] for n in self.domains}
        self._down: dict[str, list[str]] = {n: [] for n in self.domains}
        self._into: dict[str, list[Edge]] = {}
        for edge in self.edges:
            self._into.setdefault(edge.consumer, []).append(edge)
            if edge.upstream in self.domains and edge.upstream not in self._up[edge.consumer]:
                self._up[edge.consumer].append(edge.upstream)
                self._down[edge.upstream].append(edge.consumer)
        self._order, self.cycles = toposort(self._ordered_names, self._up)

    def upstream(self, name: str) -> list[str]:
        return list(self._up.get(name, ()))

    def downstream(self, name: str) -> list[str]:
        return list(self._down.get(name, ()))

    def edges_into(self, name: str) -> list[Edge]:
        return list(self._into.get(name, ()))

    def ancestors(self, name: str) -> set[str]:
        return self._closure(name, self._up)

    def descendants(self, name: str) -> set[str]:
        return self._closure(name, self._down)

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """Domains in dependency order (upstream first); only ``names`` when given."""
        if names is None:
            return list(self._order)
        wanted = set(names)
        return [n for n in self._order if n in wanted]

    def shared_ancestors(self, name: str) -> dict[str, list[str]]:
        """Ancestors reachable through more than one direct input, with those inputs.

        These are the diamonds where two inputs must agree on which version of the
        ancestor they were built from.
        """
        via: dict[str, list[str]] = {}
        for upstream in self.upstream(name):
            for ancestor in self.ancestors(upstream) | {upstream}:
                via.setdefault(ancestor, []).append(upstream)
        return {a: inputs for a, inputs in via.items() if len(inputs) > 1}

    @staticmethod
    def _closure(start: str, links: Mapping[str, list[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(links.get(start, ()))
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(links.get(node, ()))
        return seen


def model_order(
    models: Iterable[str], refs: Mapping[str, Iterable[str]]
) -> tuple[list[str], list[list[str]]]:
    """Models of one domain in build order, from the ``ref()`` calls of each model."""
    return toposort(models, refs)
