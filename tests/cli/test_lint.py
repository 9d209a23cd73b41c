"""``dagmesh lint``: the example is clean; a planted violation is reported at its line."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers import REPO, dagmesh


def test_the_example_sql_is_lint_clean() -> None:
    done = dagmesh("lint", project=REPO)
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == "ok: no lint violations"


def test_a_planted_violation_is_reported_with_file_line_and_rule(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(REPO / "sql", root / "sql")
    shutil.copytree(REPO / "dag_configs", root / "dag_configs")
    shutil.copy(REPO / ".sqlfluff", root / ".sqlfluff")
    model = root / "sql" / "product" / "product.sql"
    lines = model.read_text().splitlines()
    assert lines[6] == "    manufacturer,"
    lines[6] = "    manufacturer AS maker,"  # upper-case keyword, line 7
    model.write_text("\n".join(lines) + "\n")

    done = dagmesh("lint", "sql/product", project=root)

    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "sql/product/product.sql:7:18: error: CP01 Keywords must be lower case. [capitalisation.keywords]",
        "1 violation(s) in 1 file(s)",
    ]


def test_templating_is_understood_so_ref_source_and_port_are_not_violations() -> None:
    done = dagmesh("lint", "sql/payer_dw/physician_access.sql", project=REPO)
    assert done.returncode == 0, done.stdout
