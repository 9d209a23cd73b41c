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


def lintable_copy(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO / "sql", root / "sql")
    shutil.copytree(REPO / "dag_configs", root / "dag_configs")
    shutil.copy(REPO / ".sqlfluff", root / ".sqlfluff")
    return root


def test_lint_renders_by_the_same_template_rules_as_validate(tmp_path: Path) -> None:
    root = lintable_copy(tmp_path)
    planted = tmp_path / "pwned"
    model = root / "sql" / "product" / "product.sql"
    model.write_text(
        model.read_text()
        + f"-- {{{{ cycler.__init__.__globals__.os.system('touch {planted}') }}}}\n{{% include 'x.sql' %}}\n"
    )

    done = dagmesh("lint", "sql/product", project=root)

    assert done.returncode == 1 and not planted.exists()
    (error, summary) = done.stdout.splitlines()
    assert error.startswith("sql/product/product.sql:")
    assert "attribute access ({{ x.y }}) is not allowed in dagmesh SQL" in error
    assert summary == "1 violation(s) in 1 file(s)"


def test_a_sqlfluff_config_cannot_make_lint_run_python(tmp_path: Path) -> None:
    root = lintable_copy(tmp_path)
    planted = tmp_path / "pwned"
    library = root / "evil"
    library.mkdir()
    (library / "boom.py").write_text(f"open({str(planted)!r}, 'w').close()\n")
    config = root / ".sqlfluff"
    config.write_text(
        config.read_text().replace("templater = dagmesh", "templater = jinja\nlibrary_path = evil")
        + "\n[sqlfluff:templater:dagmesh]\nlibrary_path = evil\n"
    )

    done = dagmesh("lint", "sql/product", project=root)

    assert done.returncode == 0, done.stdout + done.stderr
    assert not planted.exists()
