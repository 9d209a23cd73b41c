"""``dagmesh validate`` as CI and pre-commit run it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers import REPO, dagmesh

FIXTURES = REPO / "tests" / "fixtures"


def broken_copy(tmp_path: Path, case: str) -> Path:
    root = tmp_path / case
    shutil.copytree(FIXTURES / "base", root)
    shutil.copytree(FIXTURES / "bad" / case, root, dirs_exist_ok=True)
    return root


def test_a_valid_mesh_passes() -> None:
    done = dagmesh("validate", project=REPO)
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == "ok: 6 domains, no problems"


def test_problems_are_listed_with_file_line_and_column_and_the_exit_code_is_1(tmp_path: Path) -> None:
    done = dagmesh("validate", project=broken_copy(tmp_path, "unknown_key_did_you_mean"))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "dag_configs/mastered/products.yaml:1:1: error: domain is missing required key 'schedule'",
        "dag_configs/mastered/products.yaml:3:1: error: unknown key 'shedule' in domain "
        "(did you mean 'schedule'?)",
        "2 error(s), 0 warning(s) in 1 file(s)",
    ]
    assert done.stderr == ""


def test_github_format_prints_workflow_annotations(tmp_path: Path) -> None:
    done = dagmesh("validate", "--format", "github", project=broken_copy(tmp_path, "ref_unknown_model"))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        "::error file=sql/customers/customers.sql,line=5,col=9::ref('stg_customer'): domain customers "
        "has no model 'stg_customer' (did you mean 'stg_customers'?)"
    )


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def test_base_reports_a_removed_column_unless_the_port_version_was_raised(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "base", root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    config = root / "dag_configs" / "mastered" / "customers.yaml"
    config.write_text(config.read_text().replace("      email: {type: varchar, tests: [unique]}\n", ""))
    sql = root / "sql" / "customers" / "customers.sql"
    sql.write_text(sql.read_text().replace("    email,\n", ""))
    test_sql = root / "sql" / "customers" / "tests" / "one_row_per_email.sql"
    test_sql.write_text("select customer_id from {{ ref('customers') }} where customer_id is null\n")
    git(root, "commit", "-qam", "drop email")

    done = dagmesh("validate", "--base", "HEAD~1", project=root)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        "dag_configs/mastered/customers.yaml:10:3: error: breaking change to port customers.customers "
        "since HEAD~1: column 'email' was removed; raise its version to 2 to publish a breaking change"
    )

    config.write_text(config.read_text().replace("    version: 1", "    version: 2"))
    assert dagmesh("validate", "--base", "HEAD~1", project=root).returncode == 0


def test_an_unknown_base_revision_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "base", root)
    git(root, "init", "-q")
    done = dagmesh("validate", "--base", "main", project=root)
    assert done.returncode == 2
    assert "cannot read --base main" in done.stderr
    assert "Traceback" not in done.stderr
