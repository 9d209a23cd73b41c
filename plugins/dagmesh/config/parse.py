"""From located YAML documents to :mod:`dagmesh.config.model` values.

``parse_mesh`` and ``parse_domain`` never raise on bad input: they record every
problem in the given :class:`~dagmesh.errors.Diagnostics` and return the value only when
it has no errors (``None`` otherwise).
"""

from __future__ import annotations

from typing import Any

from dagmesh.config.located import read
from dagmesh.config.model import Domain, Mesh
from dagmesh.config.rules import domain_problems, mesh_problems
from dagmesh.errors import Diagnostics


def parse_mesh(node: Any, path: str, diagnostics: Diagnostics) -> Mesh | None:
    """Read ``mesh.yaml``; ``None`` when it has errors (every domain then fails)."""
    mesh = read(Mesh, node, path, "mesh.yaml", diagnostics)
    if mesh is None:
        return None
    problems = list(mesh_problems(mesh))
    diagnostics.extend(problems)
    return None if problems else mesh


def parse_domain(node: Any, path: str, mesh: Mesh | None, diagnostics: Diagnostics) -> Domain | None:
    """Read one domain file; ``None`` when it has errors.

    Without a mesh (its ``mesh.yaml`` is broken) the file is still checked on its own, so
    every problem shows at once; the rules that need the mesh's policy wait for it.
    """
    context = {"defaults": mesh.defaults} if mesh is not None else {}
    domain = read(Domain, node, path, "a domain file", diagnostics, **context)
    if domain is None or mesh is None:
        return domain
    problems = list(domain_problems(domain, mesh))
    diagnostics.extend(problems)
    return None if any(p.is_error for p in problems) else domain
