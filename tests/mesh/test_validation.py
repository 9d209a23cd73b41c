"""Every bad config and SQL file is reported at its exact file and line.

Each case under ``tests/fixtures/bad/<case>/`` overlays files on the valid mesh of
``tests/fixtures/base/``. A line of a case's files ending in ``# expect: gist`` (YAML)
or ``-- expect: gist`` (SQL) must get an error whose message contains the gist; no
other line may get an error. ``expect-warning`` does the same for warnings.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dagmesh.config.project import load_project
from dagmesh.mesh.validation import validate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CASES = sorted(p.name for p in (FIXTURES / "bad").iterdir())
EXPECT = re.compile(r"(?:#|--)\s*expect(-warning)?:\s*(.+?)\s*$")


def expectations(case: Path) -> dict[tuple[str, str, int], list[str]]:
    """``(severity, path, line) -> gists`` from the annotations of a case's files."""
    found: dict[tuple[str, str, int], list[str]] = {}
    for path in sorted(p for p in case.rglob("*") if p.is_file()):
        relative = path.relative_to(case).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = EXPECT.search(line)
            if match:
                severity = "warning" if match.group(1) else "error"
                found.setdefault((severity, relative, number), []).append(match.group(2))
    return found


def project_for(case: str, tmp_path: Path) -> Path:
    root = tmp_path / case
    shutil.copytree(FIXTURES / "base", root)
    shutil.copytree(FIXTURES / "bad" / case, root, dirs_exist_ok=True)
    return root


def test_the_base_mesh_is_valid(tmp_path: Path) -> None:
    project = load_project(FIXTURES / "base")
    validate(project)
    assert project.diagnostics.sorted() == []


def test_the_corpus_has_at_least_forty_distinct_cases() -> None:
    assert len(CASES) >= 40
    assert all(expectations(FIXTURES / "bad" / case) for case in CASES)


@pytest.mark.parametrize("case", CASES)
def test_each_problem_is_reported_at_its_file_and_line(case: str, tmp_path: Path) -> None:
    project = load_project(project_for(case, tmp_path))
    validate(project)
    expected = expectations(FIXTURES / "bad" / case)
    reported: dict[tuple[str, str, int], list[str]] = {}
    for problem in project.diagnostics.sorted():
        reported.setdefault((problem.severity, problem.path, problem.line), []).append(problem.message)
    # Warnings are checked only where a case expects them.
    relevant = {key for key in reported if key[0] == "error"} | {k for k in expected if k[0] == "warning"}
    assert {k: reported.get(k) for k in relevant} == {k: reported.get(k) for k in expected}, (
        f"expected problems at {sorted(expected)}, got {sorted(reported.items())}"
    )
    for key, gists in expected.items():
        for gist in gists:
            assert any(gist in message for message in reported[key]), (key, gist, reported[key])
