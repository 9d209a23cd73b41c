"""A dagmesh project on disk: ``dag_configs/`` (mesh.yaml + domain files) and ``sql/``.

:func:`load_project` reads every config file once and never raises on bad content:
problems are collected in ``Project.diagnostics``, and a domain whose own file has
errors is kept out of ``Project.domains`` so the rest of the mesh still loads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from dagmesh.config.model import Domain, Mesh
from dagmesh.config.parse import parse_domain, parse_mesh
from dagmesh.config.yamlfile import parse_yaml
from dagmesh.errors import ConfigError, Diagnostics, Location

CONFIG_DIR = "dag_configs"
SQL_DIR = "sql"
MESH_FILE = "mesh.yaml"


@dataclass
class Project:
    """Everything read from one project directory."""

    root: Path
    mesh: Mesh | None
    #: Domains whose own config file parsed without errors, by name.
    domains: dict[str, Domain]
    diagnostics: Diagnostics
    #: Config file (relative path) of every domain name seen, valid or not.
    domain_files: dict[str, str] = field(default_factory=dict)
    #: Relative paths of domain files whose domain name could not be read.
    unnamed_files: list[str] = field(default_factory=list)

    @property
    def config_dir(self) -> Path:
        return self.root / CONFIG_DIR

    @property
    def sql_dir(self) -> Path:
        return self.root / SQL_DIR

    def relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    def read_sql(self, relative_to_sql_dir: str) -> str | None:
        """The text of ``sql/<path>``, or ``None`` when the file does not exist."""
        path = self.sql_dir / relative_to_sql_dir
        return _read_text(path)

    def sql_display_path(self, relative_to_sql_dir: str) -> str:
        return f"{SQL_DIR}/{relative_to_sql_dir}"

    def problems_in(self, path: str) -> list[ConfigError]:
        return [p for p in self.diagnostics.errors if p.path == path]


def domain_config_files(root: Path) -> list[Path]:
    """Every domain file under ``dag_configs/`` (all ``*.yaml``/``*.yml`` but mesh.yaml)."""
    config_dir = root / CONFIG_DIR
    files = [
        p
        for pattern in ("*.yaml", "*.yml")
        for p in config_dir.rglob(pattern)
        if p.name != MESH_FILE and not any(part.startswith(".") for part in p.parts)
    ]
    return sorted(files)


def load_project(root: str | Path) -> Project:
    """Read ``mesh.yaml`` and every domain file of the project at ``root``."""
    root = Path(root)
    diagnostics = Diagnostics()
    mesh_path = root / CONFIG_DIR / MESH_FILE
    mesh_display = f"{CONFIG_DIR}/{MESH_FILE}"
    mesh: Mesh | None = None
    text = _read_text(mesh_path)
    if text is None:
        diagnostics.error(Location(mesh_display), f"{mesh_display} not found in {root}")
    else:
        document, problems = parse_yaml(text, mesh_display)
        diagnostics.extend(problems)
        if not problems:
            mesh = parse_mesh(document, mesh_display, diagnostics)
    project = Project(root=root, mesh=mesh, domains={}, diagnostics=diagnostics)
    for path in domain_config_files(root):
        display = project.relative(path)
        _load_domain_file(project, path, display)
    return project


def _load_domain_file(project: Project, path: Path, display: str) -> None:
    diagnostics = project.diagnostics
    text = _read_text(path) or ""
    document, problems = parse_yaml(text, display)
    diagnostics.extend(problems)
    if project.mesh is None:
        # Without a usable mesh.yaml no domain can be checked against the policy.
        name = document.get("domain") if isinstance(document, dict) else None
        if isinstance(name, str):
            project.domain_files.setdefault(name, display)
        else:
            project.unnamed_files.append(display)
        return
    own = Diagnostics()
    domain = parse_domain(document, display, project.mesh, own) if not problems else None
    diagnostics.extend(own)
    name = domain.name if domain else (document.get("domain") if isinstance(document, dict) else None)
    if not isinstance(name, str):
        project.unnamed_files.append(display)
        return
    if name in project.domain_files:
        first = project.domain_files[name]
        where = domain.loc if domain else Location(display)
        diagnostics.error(where, f"domain '{name}' is already defined in {first}")
        return
    project.domain_files[name] = display
    if domain is not None and not own.errors:
        project.domains[name] = domain


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def content_key(*parts: str) -> str:
    """A short stable hash of texts, for caches keyed by content."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]
