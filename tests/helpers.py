"""Helpers tests share: the example project and running the CLI as a user would."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PARTS = (
    "dag_configs",
    "sql",
    "include",
    "dags",
    "schemas",
    "plugins/dagmesh_plugin.py",
    "plugins/.airflowignore",
)


def copy_example(target: Path) -> Path:
    """A fresh copy of the example project (configs, SQL, generator, dags/) at ``target``."""
    for part in EXAMPLE_PARTS:
        source = REPO / part
        destination = target / part
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)
    return target


def dagmesh(
    *args: str, project: Path, timeout: float = 600, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``dagmesh`` command as a user would, in ``project`` (with its local
    Airflow in ``home``, when given)."""
    import os

    env = {**os.environ, **({"DAGMESH_AIRFLOW_HOME": str(home)} if home else {})}
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "dagmesh"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stage_context(
    project: Path, domain: str, run_id: str = "manual__test", full_refresh: bool = False
) -> Any:
    """The build context the stages get inside Airflow, built directly for ``domain``."""
    from dagmesh.config.environments import environment
    from dagmesh.config.project import load_project
    from dagmesh.engines import engine_for
    from dagmesh.mesh.graph import MeshGraph
    from dagmesh.stages.context import BuildContext

    loaded = load_project(project)
    assert loaded.mesh is not None, loaded.diagnostics.sorted()
    mesh = loaded.mesh
    return BuildContext(
        project=loaded,
        mesh=mesh,
        graph=MeshGraph(loaded.domains, mesh.policy.layers),
        domain=loaded.domains[domain],
        engine=engine_for(loaded.root, mesh, environment(mesh, loaded.root)),
        dag_id=domain,
        run_id=run_id,
        full_refresh=full_refresh,
    )


def build_until_tests(ctx: Any) -> None:
    """check_inputs and build of one domain, through the stage functions."""
    from dagmesh.mesh.analysis import analyze
    from dagmesh.stages import build, check_inputs

    check_inputs.open_build(ctx)
    if ctx.domain.sources:
        check_inputs.check_sources(ctx)
    if ctx.domain.consumes:
        check_inputs.resolve_upstreams(ctx)
    build.prepare(ctx)
    for model in analyze(ctx.project).model_order[ctx.domain.name]:
        build.build_model(ctx, model)


def certify_domain(
    project: Path, domain: str, run_id: str = "manual__test", full_refresh: bool = False
) -> Any:
    """Every stage of one domain, as its DAG would run them; returns the certified build."""
    from dagmesh.stages import certify, test

    ctx = stage_context(project, domain, run_id, full_refresh)
    build_until_tests(ctx)
    for port in ctx.domain.outputs:
        test.run_port_checks(ctx, port)
    for custom in ctx.domain.tests:
        test.run_custom_test(ctx, custom.name)
    return certify.certify(ctx)


def dag_test_in_a_fresh_process(domain: str, project: Path, logical_date: str = "none") -> tuple[str, str]:
    """``dag.test()`` of ``domain`` in its own process: the run's state and its task logs."""
    import os
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "tests.support.dag_test", domain, logical_date],
        cwd=REPO,
        env={**os.environ, "DAGMESH_PROJECT_DIR": str(project)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("run state: "), done.stdout[-2000:] + done.stderr[-2000:]
    return lines[-1].removeprefix("run state: "), done.stdout


def task_log(output: str, task_id: str) -> str:
    """The log lines ``dag.test()`` printed while it ran ``task_id`` (its last try)."""
    start = output.rindex(f"[DAG TEST] starting task_id={task_id} ")
    end = output.index(f"[DAG TEST] end task task_id={task_id} ", start)
    return output[start:end]


#: Five physicians' latest AMA records take another physician's NPI, so the next
#: physician build fails its blocking npi:unique test (and the no_duplicate_npi test).
PLANT_DUPLICATE_NPIS = """
    UPDATE raw_ama.physicians
    SET npi = (SELECT npi FROM physician.physician ORDER BY physician_id LIMIT 1)
    WHERE me_number IN (SELECT me_number FROM physician.physician ORDER BY physician_id LIMIT 5 OFFSET 1)
"""


def mesh_of(environments: dict[str, dict[str, Any]], name: str = "m") -> Any:
    """A ``Mesh`` with these environments (as ``mesh.yaml`` would declare them), read by the
    models as a config would be."""
    from dagmesh.config.located import locate
    from dagmesh.config.model import Mesh
    from dagmesh.errors import Location

    mesh = Mesh.model_validate({"mesh": name, "environments": environments})
    locate(mesh, None, Location("mesh.yaml"))
    return mesh


def set_domain_key(project: Path, config: str, line: str) -> None:
    """Add a top-level ``key: value`` line to ``dag_configs/<config>`` (after its ``layer:``)."""
    path = project / "dag_configs" / config
    text = path.read_text()
    layer = re.search(r"^layer: .*\n", text, re.MULTILINE)
    assert layer is not None, config
    path.write_text(text[: layer.end()] + line + "\n" + text[layer.end() :])


def edit(project: Path, relative: str, old: str, new: str) -> None:
    """Replace the first ``old`` (which must be there) in a project file."""
    path = project / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new, 1))
