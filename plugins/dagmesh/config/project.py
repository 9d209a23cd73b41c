"""A dagmesh project on disk: ``dag_configs/`` (mesh.yaml + domain files) and ``sql/``.

:func:`load_project` reads every config file once and never raises on bad content:
problems are collected in ``Project.diagnostics``, and a domain whose own file has
errors is kept out of ``Project.domains`` so the rest of the mesh still loads.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dagmesh.config.fields import IDENTIFIER
from dagmesh.config.files import DiskFiles, ProjectFiles
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
    files: ProjectFiles
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
        return self.files.read(self.sql_display_path(relative_to_sql_dir))

    def sql_display_path(self, relative_to_sql_dir: str) -> str:
        return f"{SQL_DIR}/{relative_to_sql_dir}"

    def problems_in(self, path: str) -> list[ConfigError]:
        return [p for p in self.diagnostics.errors if p.path == path]


def load_project(root: str | Path, files: ProjectFiles | None = None) -> Project:
    """Read ``mesh.yaml`` and every domain file of the project at ``root``.

    ``files`` reads from somewhere else than the working tree (a git revision).
    """
    root = Path(root)
    files = files or DiskFiles(root)
    diagnostics = Diagnostics()
    mesh_display = f"{CONFIG_DIR}/{MESH_FILE}"
    mesh: Mesh | None = None
    text = files.read(mesh_display)
    if text is None:
        diagnostics.error(Location(mesh_display), f"{mesh_display} not found in {root}")
    else:
        document, problems = parse_yaml(text, mesh_display)
        diagnostics.extend(problems)
        if not problems:
            mesh = parse_mesh(document, mesh_display, diagnostics)
    project = Project(root=root, mesh=mesh, domains={}, diagnostics=diagnostics, files=files)
    for display in files.list(CONFIG_DIR, (".yaml", ".yml")):
        if display != mesh_display:
            _load_domain_file(project, display, files.read(display) or "")
    return project


def _load_domain_file(project: Project, display: str, text: str) -> None:
    diagnostics = project.diagnostics
    document, problems = parse_yaml(text, display)
    diagnostics.extend(problems)
    own = Diagnostics()
    domain = None
    if project.mesh is not None and not problems:
        domain = parse_domain(document, display, project.mesh, own)
    diagnostics.extend(own)
    name = domain.name if domain else presumed_domain_name(document, text, display)
    if name is None:
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


_DOMAIN_LINE = re.compile(r"^domain:\s*[\"']?([a-z][a-z0-9_]*)[\"']?\s*(#.*)?$", re.MULTILINE)


def presumed_domain_name(document: object, text: str, display: str) -> str | None:
    """The name a broken domain file most likely defines, so its consumers know it exists.

    Its ``domain:`` value when that is usable (read from the text if the YAML does not
    parse), else the file name. Consumers of a broken domain then report nothing of
    their own: the broken file is the one problem, and the rest of the mesh loads.
    """
    declared = document.get("domain") if isinstance(document, dict) else None
    if isinstance(declared, str) and IDENTIFIER.match(declared):
        return declared
    match = _DOMAIN_LINE.search(text)
    if match:
        return match.group(1)
    stem = PurePosixPath(display).stem
    return stem if IDENTIFIER.match(stem) else None


def content_key(*parts: str) -> str:
    """A short stable hash of texts, for caches keyed by content."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]
