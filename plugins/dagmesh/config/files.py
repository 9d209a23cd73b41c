"""Where a project's files are read from: the working tree, or a git revision.

``dagmesh validate --base REF`` loads the project as it was at ``REF`` through
:class:`GitFiles`, with the same loader as the working tree.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import os
import subprocess
import time
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypedDict

from dagmesh.errors import ConfigError

CONFIG_DIR = "dag_configs"
SQL_DIR = "sql"
MESH_FILE = "mesh.yaml"
#: ``mesh.yaml`` relative to the project root, as problems name it.
MESH_PATH = f"{CONFIG_DIR}/{MESH_FILE}"
CONFIG_SUFFIXES = (".yaml", ".yml")

#: Names the project Airflow's DAG files (and the REST API) serve, when set.
PROJECT_DIR_VAR = "DAGMESH_PROJECT_DIR"


def project_root_for(folder: Path) -> Path:
    """The project a folder of Airflow's belongs to: ``$DAGMESH_PROJECT_DIR``, or the nearest
    folder at or above it (symbolic links resolved) that holds ``dag_configs/mesh.yaml``
    (else its parent)."""
    configured = os.environ.get(PROJECT_DIR_VAR)
    if configured:
        return Path(configured)
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / MESH_PATH).is_file():
            return candidate
    return folder.parent


def decode(relative: str, data: bytes) -> tuple[str, ConfigError | None]:
    """A file's text: UTF-8, a byte order mark some editors write dropped. Bytes that are not
    UTF-8 are replaced, and the first of them is a located problem."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8-sig", "replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        problem = ConfigError(
            relative,
            line,
            col,
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} here); save it as UTF-8",
        )
        return data.decode("utf-8-sig", "replace"), problem


class ProjectFiles(Protocol):
    """Read access to a project's files by path relative to its root (``a/b.yaml``).

    ``problems`` holds, by path, why a file read so far is not clean text.
    """

    root: Path
    problems: dict[str, ConfigError]

    def list(self, directory: str, suffixes: tuple[str, ...]) -> list[str]:
        """Relative paths of the files under ``directory`` ending in one of ``suffixes``."""
        ...

    def read(self, relative: str) -> str | None:
        """The file's text, or ``None`` when it does not exist."""
        ...

    def find(self, directory: str, stem: str, suffixes: tuple[str, ...]) -> builtins.list[str]:
        """Relative paths of the files named ``<stem><suffix>`` anywhere under ``directory``."""
        ...


class DiskFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: dict[str, ConfigError] = {}

    def list(self, directory: str, suffixes: tuple[str, ...]) -> list[str]:
        found = []
        for folder, subfolders, names in os.walk(self.root / directory):
            subfolders[:] = [d for d in subfolders if not d.startswith(".")]
            prefix = os.path.relpath(folder, self.root).replace(os.sep, "/")
            found += [f"{prefix}/{n}" for n in names if n.endswith(suffixes) and not n.startswith(".")]
        return sorted(found)

    def read(self, relative: str) -> str | None:
        try:
            data = (self.root / relative).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        text, problem = decode(relative, data)
        if problem is not None:
            self.problems[relative] = problem
        return text

    def find(self, directory: str, stem: str, suffixes: tuple[str, ...]) -> builtins.list[str]:
        """Without listing the files: one ``stat`` per folder (the folders are listed once per
        process). A folder created since is missed; callers fall back to :meth:`list`."""
        found = []
        for folder in _folders(str(self.root / directory)):
            for suffix in suffixes:
                if os.path.isfile(os.path.join(folder, stem + suffix)):
                    prefix = os.path.relpath(folder, self.root).replace(os.sep, "/")
                    found.append(f"{prefix}/{stem}{suffix}")
        return sorted(found)


class RecordingFiles(DiskFiles):
    """The working tree, noting what every read, listing and search returned (as a digest),
    so that a result derived from them can later be checked to still hold (see
    :func:`unchanged`); and, for a file read that had not changed for a while, its ``stat``,
    so the check need not read it again while that is the same."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.record: FilesRecord = {"read": {}, "stat": {}, "list": [], "find": []}

    def list(self, directory: str, suffixes: tuple[str, ...]) -> builtins.list[str]:
        found = super().list(directory, suffixes)
        self.record["list"].append([directory, [*suffixes], found])
        return found

    def read(self, relative: str) -> str | None:
        signature = _settled_signature(self.root / relative)  # before reading: never newer than the text
        text = super().read(relative)
        self.record["read"][relative] = _digest(text)
        if signature is not None:
            self.record["stat"][relative] = signature
        return text

    def find(self, directory: str, stem: str, suffixes: tuple[str, ...]) -> builtins.list[str]:
        found = super().find(directory, stem, suffixes)
        self.record["find"].append([directory, stem, [*suffixes], found])
        return found


class FilesRecord(TypedDict):
    #: Relative path -> digest of its text (``None``: it did not exist).
    read: dict[str, str | None]
    #: Relative path -> ``stat`` signature of a file read, when it was settled (see
    #: :func:`_settled_signature`).
    stat: dict[str, builtins.list[int]]
    #: ``[directory, suffixes, found]`` of every listing.
    list: builtins.list[builtins.list[Any]]
    #: ``[directory, stem, suffixes, found]`` of every search.
    find: builtins.list[builtins.list[Any]]


def unchanged(root: Path, record: Any, settled: dict[str, list[int]] | None = None) -> bool:
    """True when every read, listing and search of ``record`` gives the same today (False for
    anything that is not such a record). A file whose ``stat`` is what was recorded is not
    read again; any other is read and compared by digest, and if it has settled since it was
    recorded, its signature is added to ``settled`` (to record for the next check)."""
    try:
        files, top = DiskFiles(root), str(root)
        stats = record["stat"]
        if not isinstance(stats, dict):
            return False

        def same(path: str, digest: str | None) -> bool:
            full = os.path.join(top, path)
            if path in stats and _signature(full) == stats[path]:
                return True
            signature = _settled_signature(full)  # before reading, as when recording
            if _digest(files.read(path)) != digest:
                return False
            if signature is not None and settled is not None:
                settled[path] = signature
            return True

        return (
            all(same(path, digest) for path, digest in record["read"].items())
            and all(files.list(d, tuple(s)) == found for d, s, found in record["list"])
            and all(files.find(d, stem, tuple(s)) == found for d, stem, s, found in record["find"])
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


#: How long a file must have been left alone before its ``stat`` stands for its text.
SETTLED_NS = 2_000_000_000


def _signature(path: str | Path) -> list[int] | None:
    """What changes whenever the file's content is written or replaced: the inode, the size,
    and the modification and status-change times (the latter cannot be set back by hand)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _settled_signature(path: str | Path) -> list[int] | None:
    """The file's signature if it last changed more than :data:`SETTLED_NS` ago. A file
    written just now could be written again within the file system's timestamp granularity
    with the same size and times (git's "racy" entries): such a file is always read."""
    signature = _signature(path)
    if signature is None or time.time_ns() - max(signature[2], signature[3]) <= SETTLED_NS:
        return None
    return signature


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=16)
def _folders(top: str) -> tuple[str, ...]:
    """Every folder under ``top`` (itself included), hidden ones left out."""
    found, stack = [], [top]
    while stack:
        folder = stack.pop()
        found.append(folder)
        try:
            with os.scandir(folder) as entries:
                stack.extend(e.path for e in entries if e.is_dir() and not e.name.startswith("."))
        except OSError:
            continue
    return tuple(found)


def forget_folders() -> None:
    """For a process that outlives changes to the project: list its folders again."""
    _folders.cache_clear()


def _hidden(path: Path | PurePosixPath) -> bool:
    return any(part.startswith(".") for part in path.parts)


class GitError(Exception):
    pass


class GitFiles:
    """The project's files as committed at ``revision`` (nothing is checked out)."""

    def __init__(self, root: Path, revision: str) -> None:
        self.root = root
        self.revision = revision
        self.problems: dict[str, ConfigError] = {}
        top = self._git("rev-parse", "--show-toplevel").strip()
        # Paths inside the repository of the project root, for projects in a subfolder.
        prefix = Path(root).resolve().relative_to(Path(top).resolve()).as_posix()
        self.prefix = "" if prefix == "." else prefix + "/"
        self._git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")

    def _git(self, *args: str) -> str:
        return self._git_bytes(*args).decode("utf-8", "replace")

    def _git_bytes(self, *args: str) -> bytes:
        try:
            done = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, check=False)
        except FileNotFoundError as exc:
            raise GitError("git is not installed") from exc
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip()
            reason = stderr.splitlines()[-1] if stderr else "unknown revision"
            if args[:1] == ("rev-parse",) and "--verify" in args:
                reason = f"'{self.revision}' is not a commit of this repository"
            raise GitError(reason)
        return done.stdout

    def list(self, directory: str, suffixes: tuple[str, ...]) -> list[str]:
        listing = self._git("ls-tree", "-r", "--name-only", self.revision, "--", self.prefix + directory)
        found = []
        for line in listing.splitlines():
            relative = line[len(self.prefix) :]
            inside = PurePosixPath(relative).relative_to(directory)
            if PurePosixPath(relative).suffix in suffixes and not _hidden(inside):
                found.append(relative)
        return sorted(found)

    def read(self, relative: str) -> str | None:
        try:
            data = self._git_bytes("show", f"{self.revision}:{self.prefix}{relative}")
        except GitError:
            return None
        text, problem = decode(relative, data)
        if problem is not None:
            self.problems[relative] = problem
        return text

    def find(self, directory: str, stem: str, suffixes: tuple[str, ...]) -> builtins.list[str]:
        return [p for p in self.list(directory, suffixes) if PurePosixPath(p).stem == stem]


class DataFilesError(Exception):
    pass


def data_files(root: Path, pattern: str) -> list[Path]:
    """The files a source's ``path`` names (a glob relative to the project), sorted; each one,
    symbolic links followed, must be inside the project."""
    top = root.resolve()
    found = []
    try:
        matches = sorted(top.glob(pattern))
    except ValueError as exc:  # e.g. '**' inside a path component
        raise DataFilesError(f"'{pattern}' is not a usable file pattern: {exc}") from exc
    for match in matches:
        real = match.resolve()
        if not real.is_relative_to(top):
            raise DataFilesError(f"{match.relative_to(top)} leads outside the project")
        if real.is_file():
            found.append(real)
    return found
