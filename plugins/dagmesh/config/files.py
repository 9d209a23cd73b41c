"""Where a project's files are read from: the working tree, or a git revision.

``dagmesh validate --base REF`` loads the project as it was at ``REF`` through
:class:`GitFiles`, with the same loader as the working tree.
"""

from __future__ import annotations

import builtins
import functools
import os
import subprocess
from pathlib import Path, PurePosixPath
from typing import Protocol


class ProjectFiles(Protocol):
    """Read access to a project's files by path relative to its root (``a/b.yaml``)."""

    root: Path

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

    def list(self, directory: str, suffixes: tuple[str, ...]) -> list[str]:
        found = []
        for folder, subfolders, names in os.walk(self.root / directory):
            subfolders[:] = [d for d in subfolders if not d.startswith(".")]
            prefix = os.path.relpath(folder, self.root).replace(os.sep, "/")
            found += [f"{prefix}/{n}" for n in names if n.endswith(suffixes) and not n.startswith(".")]
        return sorted(found)

    def read(self, relative: str) -> str | None:
        try:  # utf-8-sig: a byte order mark some editors write is not part of the text
            return (self.root / relative).read_text(encoding="utf-8-sig")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

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


def _hidden(path: Path | PurePosixPath) -> bool:
    return any(part.startswith(".") for part in path.parts)


class GitError(Exception):
    pass


class GitFiles:
    """The project's files as committed at ``revision`` (nothing is checked out)."""

    def __init__(self, root: Path, revision: str) -> None:
        self.root = root
        self.revision = revision
        top = self._git("rev-parse", "--show-toplevel").strip()
        # Paths inside the repository of the project root, for projects in a subfolder.
        prefix = Path(root).resolve().relative_to(Path(top).resolve()).as_posix()
        self.prefix = "" if prefix == "." else prefix + "/"
        self._git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")

    def _git(self, *args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=False
            )
        except FileNotFoundError as exc:
            raise GitError("git is not installed") from exc
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "unknown revision"
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
            return self._git("show", f"{self.revision}:{self.prefix}{relative}").removeprefix("\ufeff")
        except GitError:
            return None

    def find(self, directory: str, stem: str, suffixes: tuple[str, ...]) -> builtins.list[str]:
        return [p for p in self.list(directory, suffixes) if PurePosixPath(p).stem == stem]
