"""A dagmesh project on disk: ``dag_configs/`` (mesh.yaml + domain files) and ``sql/``.

:func:`load_project` reads every config file once and never raises on bad content:
problems are collected in ``Project.diagnostics``, and a domain whose own file has
errors is kept out of ``Project.domains`` so the rest of the mesh still loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dagmesh.config import cache as parse_cache
from dagmesh.config.cache import ParseCache
from dagmesh.config.fields import IDENTIFIER
from dagmesh.config.files import DiskFiles, ProjectFiles
from dagmesh.config.model import Domain, Mesh
from dagmesh.config.parse import parse_domain, parse_mesh
from dagmesh.config.yamlfile import parse_yaml
from dagmesh.errors import Diagnostics, Location
from dagmesh.sql.template import TemplateInfo, template_calls

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
    #: Set when only one domain (and its direct upstreams) was loaded: its name.
    focus: str | None = None
    cache: ParseCache = field(default_factory=lambda: ParseCache(None))
    mesh_text: str = ""

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

    def template_info(self, relative_to_sql_dir: str) -> TemplateInfo | None:
        """The ``ref``/``source``/``port`` calls of ``sql/<path>`` (cached by content)."""
        text = self.read_sql(relative_to_sql_dir)
        if text is None:
            return None
        cache_key = parse_cache.key("sql", text)
        info = self.cache.get(cache_key)
        if not isinstance(info, TemplateInfo):
            info = template_calls(text)
            self.cache.put(cache_key, info)
        return info


def load_project(root: str | Path, files: ProjectFiles | None = None, only: str | None = None) -> Project:
    """Read ``mesh.yaml`` and every domain file of the project at ``root``.

    ``files`` reads from somewhere else than the working tree (a git revision).
    ``only`` loads just that domain and its direct upstreams (what Airflow needs to
    run one task), when the domain's file is named after it; otherwise everything.
    """
    root = Path(root)
    on_disk = files is None
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
    project = Project(
        root=root,
        mesh=mesh,
        domains={},
        diagnostics=diagnostics,
        files=files,
        cache=ParseCache.for_project(root) if on_disk else ParseCache(None),
        mesh_text=text or "",
    )
    paths = [p for p in files.list(CONFIG_DIR, (".yaml", ".yml")) if p != mesh_display]
    if only is not None and _load_focused(project, paths, only):
        return project
    for display in paths:
        _load_domain_file(project, display)
    return project


def _load_focused(project: Project, paths: list[str], name: str) -> bool:
    """Load ``name`` and its direct upstreams by file name; False when that does not work."""
    by_stem: dict[str, list[str]] = {}
    for path in paths:
        by_stem.setdefault(PurePosixPath(path).stem, []).append(path)
    if len(by_stem.get(name, [])) != 1:
        return False
    _load_domain_file(project, by_stem[name][0])
    domain = project.domains.get(name)
    if domain is None or project.domain_files.get(name) != by_stem[name][0]:
        project.domains.clear()
        project.domain_files.clear()
        project.unnamed_files.clear()
        return False
    for upstream in domain.upstream_domains:
        for path in by_stem.get(upstream, []):
            _load_domain_file(project, path)
    project.focus = name
    return True


def _load_domain_file(project: Project, display: str) -> None:
    text = project.files.read(display) or ""
    cache_key = parse_cache.key("domain", project.mesh_text, display, text)
    cached = project.cache.get(cache_key)
    if cached is None:
        problems = Diagnostics()
        domain, name = _parse_domain_file(project, display, text, problems)
        cached = (domain, name, list(problems))
        project.cache.put(cache_key, cached)
    domain, name, problems = cached
    project.diagnostics.extend(problems)
    if name is None:
        project.unnamed_files.append(display)
        return
    if name in project.domain_files:
        first = project.domain_files[name]
        where = domain.loc if domain else Location(display)
        project.diagnostics.error(where, f"domain '{name}' is already defined in {first}")
        return
    project.domain_files[name] = display
    if domain is not None and not any(p.is_error for p in problems):
        project.domains[name] = domain


def _parse_domain_file(
    project: Project, display: str, text: str, diagnostics: Diagnostics
) -> tuple[Domain | None, str | None]:
    """The domain a file defines (``None`` if unusable) and its (presumed) name."""
    document, problems = parse_yaml(text, display)
    diagnostics.extend(problems)
    domain = None
    if project.mesh is not None and not problems:
        domain = parse_domain(document, display, project.mesh, diagnostics)
    name = domain.name if domain else presumed_domain_name(document, text, display)
    return domain, name


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
