"""What every CLI command shares: finding the project, errors, and plain-text tables."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from dagmesh.airflow.dag_files import plan_dag_files
from dagmesh.config.environments import UnknownEnvironment, environment
from dagmesh.config.files import CONFIG_DIR, MESH_FILE
from dagmesh.config.model import Environment
from dagmesh.config.project import Project, load_project
from dagmesh.engines import Engine, engine_for
from dagmesh.errors import ConfigError, did_you_mean
from dagmesh.mesh.analysis import MeshAnalysis, analyze


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as on Ctrl-C (cleaning up on the way out), with a terminated process's exit code."""


_terminated: list[int] = []


def stop_on_sigterm() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread (call again after code that
    replaced the handler: Airflow's task runner installs its own for every task)."""

    def terminate(signum: int, frame: object) -> None:
        _terminated.append(signum)
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)


def check_terminated() -> None:
    """Raise :class:`Terminated` if SIGTERM arrived while something swallowed it (a task's runner)."""
    if _terminated:
        raise Terminated()


class CliError(Exception):
    """A problem with what the user asked for; printed as one line, exit ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("text", "github"),
        default="text",
        help="github: GitHub Actions annotations (::error file=...)",
    )


def print_problems(problems: Sequence[ConfigError], output_format: str) -> int:
    """Print located problems (``path:line:col: ...`` or GitHub annotations); the number of errors."""
    for problem in problems:
        print(github_annotation(problem) if output_format == "github" else problem)
    return sum(1 for p in problems if p.is_error)


def github_annotation(problem: ConfigError) -> str:
    """A GitHub Actions workflow command that annotates the file and line."""
    message = problem.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{problem.severity} file={problem.path},line={problem.line},col={problem.col}::{message}"


def find_project(start: str | None) -> Path:
    """``--project`` if given, else the nearest directory (upwards) holding dag_configs/mesh.yaml."""
    if start:
        root = Path(start).resolve()
        if not (root / CONFIG_DIR / MESH_FILE).is_file():
            raise CliError(f"{root} is not a dagmesh project: {CONFIG_DIR}/{MESH_FILE} not found")
        return root
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_DIR / MESH_FILE).is_file():
            return candidate
    raise CliError(
        f"no dagmesh project here: looked for {CONFIG_DIR}/{MESH_FILE} in {here} and its parents "
        "(use --project DIR)"
    )


def open_project(start: str | None) -> tuple[Project, MeshAnalysis]:
    """The project and its analysis; a broken mesh.yaml is an error for every command."""
    project = load_project(find_project(start))
    analysis = analyze(project)
    broken = [p for p in project.diagnostics.errors if project.mesh is None or p.path == project.mesh_path]
    if broken:
        raise CliError("the mesh configuration is invalid:\n" + "\n".join(str(p) for p in broken), code=1)
    return project, analysis


def require_dag_files(project: Project) -> None:
    """Stop with the fix when Airflow's DAG files (one per domain) are missing or out of date."""
    plan = plan_dag_files(project.root, project.domain_files)
    if plan.in_sync:
        return
    changes = [f"  missing or out of date: {p}" for p in sorted(plan.write)]
    changes += [f"  belongs to no domain: {p}" for p in plan.delete]
    raise CliError(
        "Airflow's DAG files do not match dag_configs/ (Airflow loads one file per domain):\n"
        + "\n".join(changes)
        + "\nrun `dagmesh dags` to write them",
        code=1,
    )


def target_environment(project: Project, name: str | None) -> Environment:
    assert project.mesh is not None
    try:
        return environment(project.mesh, project.root, name)
    except UnknownEnvironment as exc:
        raise CliError(f"{exc}{did_you_mean(name or '', project.mesh.environments)}") from exc


def target_engine(project: Project, name: str | None) -> Engine:
    return engine_of(project, target_environment(project, name))


def engine_of(project: Project, env: Environment) -> Engine:
    """The engine of ``env`` for a CLI command whose stdout may be data."""
    assert project.mesh is not None
    if env.engine == "snowflake":
        airflow_logs_to_stderr()  # the Snowflake engine works through Airflow's hook
    return engine_for(project.root, project.mesh, env)


def airflow_logs_to_stderr() -> None:
    """Import Airflow so that its logs and warnings go to stderr, keeping stdout for data.

    Airflow binds its logging handler to ``sys.stdout`` when it configures logging (at
    import) and its structlog loggers to ``sys.stdout`` when each is created, so
    ``dagmesh status --json`` would otherwise interleave Airflow's output with JSON.
    """
    if "airflow.settings" in sys.modules:
        return
    saved, sys.stdout = sys.stdout, sys.stderr
    try:
        import airflow.settings  # noqa: F401
    finally:
        sys.stdout = saved
    import structlog
    from airflow._shared.logging.structlog import LoggerFactory, NamedWriteLogger

    structlog.configure(logger_factory=LoggerFactory(NamedWriteLogger, io=sys.stderr))


def select_domains(analysis: MeshAnalysis, names: Sequence[str]) -> list[str]:
    """Named domains in dependency order (all domains when none are named)."""
    known = set(analysis.project.domain_files)
    for name in names:
        if name not in known:
            raise CliError(
                f"unknown domain '{name}'{did_you_mean(name, known)}; domains: {', '.join(sorted(known))}"
            )
    order = analysis.graph.order()
    broken = [n for n in (names or known) if n not in order]
    return [n for n in order if not names or n in names] + sorted(broken)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Style:
    """ANSI colour only when writing to a terminal (and NO_COLOR is unset)."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.enabled = stream.isatty() and not os.environ.get("NO_COLOR")

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def good(self, text: str) -> str:
        return self._wrap("32", text)

    def bad(self, text: str) -> str:
        return self._wrap("31", text)

    def warn(self, text: str) -> str:
        return self._wrap("33", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def state(self, word: str) -> str:
        """A domain's state: certified in green, failed in red, anything else in yellow."""
        return {"certified": self.good, "failed": self.bad}.get(word, self.warn)(word)
