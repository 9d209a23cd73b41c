"""``dagmesh lint``: the example is clean; a planted violation is reported at its line."""

from __future__ import annotations

import re
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


def lint_project(tmp_path: Path, sqlfluff: str | None) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO / "sql", root / "sql")
    shutil.copytree(REPO / "dag_configs", root / "dag_configs")
    if sqlfluff is not None:
        (root / ".sqlfluff").write_text(sqlfluff)
    return root


def test_without_a_sqlfluff_file_lint_uses_the_snowflake_dialect_and_its_templater(tmp_path: Path) -> None:
    done = dagmesh("lint", "sql/product", project=lint_project(tmp_path, None))
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr
    assert not re.search(r": (TMP|PRS) ", done.stdout)  # templated, and parsed as Snowflake SQL
    assert re.fullmatch(
        r"ok: no lint violations|\d+ violation\(s\) in \d+ file\(s\)", done.stdout.splitlines()[-1]
    )


def test_a_foreign_sqlfluff_file_is_used_with_dagmeshs_templater_and_a_note(tmp_path: Path) -> None:
    foreign = (
        "[sqlfluff]\ndialect = snowflake\ntemplater = dbt\n\n[sqlfluff:templater:dbt]\nproject_dir = .\n"
    )
    done = dagmesh("lint", "sql/product", project=lint_project(tmp_path, foreign))
    assert "Traceback" not in done.stderr
    assert "note: .sqlfluff sets templater = dbt; dagmesh lint renders with its own" in done.stderr
    assert not re.search(r": (TMP|PRS) ", done.stdout)  # ref(), source() and port() were rendered


def test_a_broken_sqlfluff_file_is_one_clear_message(tmp_path: Path) -> None:
    for text, reason in (
        ("[sqlfluff]\ndialect = nosuch\n", "Unknown dialect"),
        ("[sqlfluff\ndialect = snowflake\n", "File contains no section headers"),
    ):
        done = dagmesh("lint", project=lint_project(tmp_path / reason.split()[0], text))
        assert done.returncode == 1, done.stdout
        assert (
            done.stderr.strip()
            == f"dagmesh lint: error: .sqlfluff cannot be used: {reason}."[: len(done.stderr.strip())]
        )
        assert reason in done.stderr and "Traceback" not in done.stderr
