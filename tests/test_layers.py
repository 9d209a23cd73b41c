"""dagmesh's packages form layers: no package imports a package that imports it back."""

from __future__ import annotations

import ast

from tests.helpers import REPO

PACKAGE = REPO / "plugins" / "dagmesh"


def unit_of(module: str) -> str:
    """``dagmesh.config.model`` -> ``config``; a top-level module is its own unit."""
    return module.split(".")[1]


def imports() -> dict[str, set[str]]:
    """Which units each unit imports (anywhere in a module, function-level imports too)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if len(relative.parts) < 2:
            continue
        here = unit_of(".".join(relative.parts))
        graph.setdefault(here, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if not name.startswith("dagmesh."):
                    continue
                target = unit_of(name)
                exists = (PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").is_file()
                if exists and target != here:
                    graph[here].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_package_imports_a_package_that_imports_it_back() -> None:
    graph = imports()
    assert {"config", "sql", "engines", "mesh", "stages", "airflow", "cli"} <= set(graph)
    assert cycles(graph) == []


def test_the_check_finds_a_cycle_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_config_layer_imports_no_warehouse_sql_or_airflow_code() -> None:
    assert imports()["config"] <= {"errors", "collector", "templating"}
    assert imports()["templating"] <= {"errors"}  # Jinja's rules and the macros: nothing of dagmesh's
