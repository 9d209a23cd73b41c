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
from typing import Any

from dagmesh.collector import collector_paused
from dagmesh.config import cache as parse_cache
from dagmesh.config.cache import ParseCache
from dagmesh.config.files import (
    CONFIG_DIR,
    CONFIG_SUFFIXES,
    MESH_PATH,
    SQL_DIR,
    DiskFiles,
    ProjectFiles,
)
from dagmesh.config.model import Domain, Mesh
from dagmesh.config.parse import parse_domain, parse_mesh
from dagmesh.config.types import IDENTIFIER
from dagmesh.config.yamlfile import from_data, parse_yaml, to_data
from dagmesh.errors import ConfigError, Diagnostics, Location
from dagmesh.templating.macros import MACRO_DIR, Library, expand, library
from dagmesh.templating.template import SqlProblem


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
    _texts: dict[str, str | None] = field(default_factory=dict, repr=False)
    _expanded: dict[str, tuple[str, list[SqlProblem]]] = field(default_factory=dict, repr=False)
    _library: Library | None = field(default=None, repr=False)

    @property
    def mesh_path(self) -> str:
        return MESH_PATH

    def config_version(self, name: str) -> str:
        """A fingerprint of everything that decides how domain ``name`` runs.

        It hashes ``mesh.yaml``, the domain's config file and every SQL file of its models
        and tests. It is part of the domain's DAG, so any change to them is a new DAG
        version in Airflow while other domains keep theirs; a run records the version its
        first task saw, and every later task checks it still holds.
        """
        domain = self.domains[name]
        digest = hashlib.sha256()
        sql = sorted({m.sql for m in domain.models} | {t.sql for t in domain.tests})
        parts = [(MESH_PATH, self.mesh_text), (domain.path, self.read_text(domain.path) or "")]
        parts += [(self.sql_display_path(path), self.read_sql(path) or "") for path in sql]
        for path, text in parts:
            digest.update(f"{path}\0{len(text)}\0{text}\0".encode())
        return digest.hexdigest()[:12]

    def relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    def read_text(self, relative: str) -> str | None:
        """A project file's text (read once per project), or ``None`` when it does not exist.
        A file that is not UTF-8 reads with its bad bytes replaced: see :meth:`unreadable`."""
        if relative not in self._texts:
            self._texts[relative] = self.files.read(relative)
        return self._texts[relative]

    def unreadable(self, relative: str) -> ConfigError | None:
        """Why a file read so far is not clean text (``None`` when it is)."""
        return self.files.problems.get(relative)

    def read_sql(self, relative_to_sql_dir: str) -> str | None:
        """The text of ``sql/<path>`` with its macro and ``var()`` calls expanded (see
        :mod:`dagmesh.templating.macros`), or ``None`` when the file does not exist."""
        display = self.sql_display_path(relative_to_sql_dir)
        if display not in self._expanded:
            raw = self.read_text(display)
            if raw is None:
                return None
            self._expanded[display] = expand(raw, self.library)
        return self._expanded[display][0]

    def expansion_problems(self, relative_to_sql_dir: str) -> list[SqlProblem]:
        """Macro and ``var()`` calls of ``sql/<path>`` that could not be expanded."""
        self.read_sql(relative_to_sql_dir)
        found = self._expanded.get(self.sql_display_path(relative_to_sql_dir))
        return found[1] if found else []

    @property
    def library(self) -> Library:
        """The project's macros (``macros/*.sql``) and the mesh's ``vars``, read once."""
        if self._library is None:
            files = {path: self.read_text(path) or "" for path in self.files.list(MACRO_DIR, (".sql",))}
            self._library = library(files, dict(self.mesh.vars) if self.mesh is not None else {})
        return self._library

    def sql_display_path(self, relative_to_sql_dir: str) -> str:
        return f"{SQL_DIR}/{relative_to_sql_dir}"


def load_project(root: str | Path, files: ProjectFiles | None = None, only: str | None = None) -> Project:
    """Read ``mesh.yaml`` and every domain file of the project at ``root``.

    ``files`` reads from somewhere else than the working tree (a git revision), or notes
    what the working tree gave (:class:`~dagmesh.config.files.RecordingFiles`).
    ``only`` loads just that domain and its direct upstreams (what Airflow needs to
    run one task), when the domain's file is named after it; otherwise everything.
    """
    with collector_paused():
        return _load_project(root, files, only)


def _load_project(root: str | Path, files: ProjectFiles | None, only: str | None) -> Project:
    root = Path(root)
    on_disk = files is None or isinstance(files, DiskFiles)
    files = files or DiskFiles(root)
    diagnostics = Diagnostics()
    mesh_display = MESH_PATH
    cache = ParseCache.for_project(root) if on_disk else ParseCache(None)
    text = files.read(mesh_display)
    if text is None:
        mesh: Mesh | None = None
        diagnostics.error(Location(mesh_display), f"{mesh_display} not found in {root}")
    else:
        cache_key = parse_cache.key("mesh", text)
        parsed = cache.recall(cache_key)
        if parsed is None:
            problems = Diagnostics()
            document = _document(
                cache, cache_key, text, mesh_display, files.problems.get(mesh_display), problems
            )
            parsed = (parse_mesh(document, mesh_display, problems) if not problems else None, list(problems))
            cache.remember(cache_key, parsed)
        mesh, mesh_problems = parsed
        diagnostics.extend(mesh_problems)
    project = Project(
        root=root,
        mesh=mesh,
        domains={},
        diagnostics=diagnostics,
        files=files,
        cache=cache,
        mesh_text=text or "",
    )
    if only is not None and _load_focused(project, only):
        return project
    for display in files.list(CONFIG_DIR, CONFIG_SUFFIXES):
        if display != mesh_display:
            _load_domain_file(project, display)
    return project


def _load_focused(project: Project, name: str) -> bool:
    """Load ``name`` and its direct upstreams, found by file name without reading the other
    configs (what one DAG file needs, at any mesh size); False when that does not work."""
    found = project.files.find(CONFIG_DIR, name, CONFIG_SUFFIXES)
    if len(found) != 1 or found[0] == MESH_PATH:
        return False
    _load_domain_file(project, found[0])
    domain = project.domains.get(name)
    if domain is None or project.domain_files.get(name) != found[0]:
        project.domains.clear()
        project.domain_files.clear()
        project.unnamed_files.clear()
        return False
    for upstream in domain.upstream_domains:
        for path in project.files.find(CONFIG_DIR, upstream, CONFIG_SUFFIXES):
            if path != MESH_PATH:
                _load_domain_file(project, path)
    project.focus = name
    return True


def _document(
    cache: ParseCache,
    cache_key: str,
    text: str,
    display: str,
    unreadable: ConfigError | None,
    diagnostics: Diagnostics,
) -> Any:
    """The located YAML document of a config file (``None`` when it cannot be read), read
    from the cache when the same text was read before; problems go to ``diagnostics``."""
    if unreadable is not None:
        diagnostics.add(unreadable)
        return None
    data = cache.get(cache_key)
    if isinstance(data, dict) and set(data) == {"document", "problems"}:
        diagnostics.extend(ConfigError(*p) for p in data["problems"])
        return from_data(data["document"], display)
    document, problems = parse_yaml(text, display)
    cache.put(
        cache_key,
        {
            "document": to_data(document),
            "problems": [[p.path, p.line, p.col, p.message, p.severity] for p in problems],
        },
    )
    diagnostics.extend(problems)
    return document


def _load_domain_file(project: Project, display: str) -> None:
    text = project.read_text(display) or ""
    cache_key = parse_cache.key("domain", project.mesh_text, display, text)
    parsed = project.cache.recall(cache_key)
    if parsed is None:
        problems = Diagnostics()
        document = _document(
            project.cache,
            cache_key,
            text,
            display,
            project.unreadable(display),
            problems,
        )
        domain = parse_domain(document, display, project.mesh, problems) if not problems.errors else None
        name = domain.name if domain else presumed_domain_name(document, text, display)
        parsed = (domain, name, list(problems))
        project.cache.remember(cache_key, parsed)
    domain, name, problems = parsed
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
    if domain is not None and project.mesh is not None and not any(p.is_error for p in problems):
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
