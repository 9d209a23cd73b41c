"""``make bench``: DAG-parse time of the dagmesh loader against hand-written DAGs.

For meshes of 100, 1,000 and 10,000 generated domains it measures, each in a fresh
Python process (Airflow and the operator classes already imported, as in a running
DAG processor), the wall time of:

* one ``DagBag`` load of the project's ``dags/`` (the dagmesh loader);
* one ``DagBag`` load of the same DAGs written by hand: one Python file per domain, and
  all of them in one file;
* building a single DAG the way a worker does when it runs one task (Airflow's
  parsing context names the DAG), for the loader and for one hand-written file;
* the loader once more with its caches disabled (the first parse after a change); the
  other loader figures are what a running DAG processor sees for unchanged domains
  (their DAG specs come from the DAG cache, see ``dagmesh.airflow.dag_cache``);
* the slowest single file of each load (Airflow's per-file import timeout applies to it)
  and the peak memory of the loading process.

It first checks that both variants produce the same DAGs (ids, tasks, dependencies).
The three loads run in turn, round after round, after a warm-up of each; times are
medians over the rounds, and a ratio is the median of the rounds' ratios of CPU time
(on a machine whose speed drifts, the loads of one round ran at about the same speed).
Bytecode caching is on as users have it (``BENCH_BYTECODE=0`` turns it off).
Usage: ``python bench/parse_bench.py [SIZES...]``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from meshgen import generate_mesh, write_hand_written  # noqa: E402

from dagmesh.airflow.dag_files import apply_plan, plan_dag_files  # noqa: E402

PROBE = r"""
import json, os, resource, sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk, dagmesh.airflow.operators, dagmesh.airflow.sensors  # warm, as in a DAG processor
start, start_cpu = time.perf_counter(), time.process_time()
bag = DagBag(dag_folder=sys.argv[1])
seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
shape = {
    dag_id: sorted((t.task_id, sorted(t.upstream_task_ids)) for t in dag.tasks)
    for dag_id, dag in bag.dags.items()
} if os.environ.get("BENCH_SHAPE") else None
slowest = max((s.duration.total_seconds() for s in bag.dagbag_stats), default=0.0)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "dags": len(bag.dags), "errors": len(bag.import_errors),
                  "slowest_file": slowest, "peak_rss_mb": peak_mb, "shape": shape}))
"""


#: Users' Python caches compiled bytecode; this machine may turn that off for its own
#: processes. The probes cache it unless ``BENCH_BYTECODE=0`` (the first run warms it).
BYTECODE = os.environ.get("BENCH_BYTECODE", "1") != "0"


def probe(folder: Path, env: dict[str, str], shape: bool = False) -> dict:
    full = {**os.environ, **env, **({"BENCH_SHAPE": "1"} if shape else {})}
    if BYTECODE:
        full.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        full["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder)], env=full, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"probe failed for {folder}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_seconds(folder: Path, env: dict[str, str], runs: int = 3) -> tuple[float, dict]:
    probe(folder, env)  # warms the bytecode and parse caches, as a running Airflow has them
    results = [probe(folder, env) for _ in range(runs)]
    return statistics.median(r["seconds"] for r in results), results[0]


#: Rounds of the three loads at up to 1,000 domains, and above (where a load takes a minute).
ROUNDS, LARGE_ROUNDS = 7, 3


def interleaved(folders: dict[str, Path], env: dict[str, str], rounds: int) -> dict[str, list[dict]]:
    """Each load once per round, in turn, after a warm-up of each: on a machine whose speed
    drifts, the loads of one round ran at about the same speed, so their ratio holds."""
    for folder in folders.values():
        probe(folder, env)
    runs: dict[str, list[dict]] = {name: [] for name in folders}
    for _ in range(rounds):
        for name, folder in folders.items():
            runs[name].append(probe(folder, env))
    return runs


def median(results: list[dict], field: str) -> float:
    return statistics.median(r[field] for r in results)


def paired_ratio(ours: list[dict], theirs: list[dict]) -> float:
    """The median over rounds of one load's CPU time over the other's in the same round."""
    return statistics.median(a["cpu"] / b["cpu"] for a, b in zip(ours, theirs, strict=True))


class Row(NamedTuple):
    """One size's figures, in the table's column order."""

    size: int
    loader: float
    in_one: float
    to_one: float
    by_hand: float
    to_each: float
    cold: float
    single: float
    single_hand: float
    slowest: float
    slowest_hand: float
    rss: float
    rss_hand: float

    def line(self) -> str:
        return (
            f"| {self.size:,} | {self.loader:.2f} s | {self.in_one:.2f} s | {self.to_one:.2f}x "
            f"| {self.by_hand:.2f} s | {self.to_each:.2f}x | {self.cold:.2f} s "
            f"| {self.single * 1000:.0f} ms | {self.single_hand * 1000:.0f} ms "
            f"| {self.slowest * 1000:.0f} ms / {self.slowest_hand:.2f} s "
            f"| {self.rss:.0f} MB / {self.rss_hand:.0f} MB |"
        )


def main(sizes: list[int]) -> None:
    work = Path(tempfile.mkdtemp(prefix="dagmesh-bench-"))
    airflow_home = work / "airflow"
    base_env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
        "DAGMESH_DAG_CACHE": str(work / "dag-cache"),  # not the user's own ~/.cache
    }
    rows: list[Row] = []
    try:
        for size in sizes:
            project = work / f"mesh_{size}"
            names = generate_mesh(project, size)
            apply_plan(project, plan_dag_files(project, names))  # dags/domains/<domain>.py for each
            hand = work / f"hand_{size}"
            hand_one = work / f"hand_one_{size}"
            write_hand_written(project, hand, hand_one / "mesh_dags.py")
            env = {**base_env, "DAGMESH_PROJECT_DIR": str(project)}
            if size <= 100:  # same DAGs, task for task, edge for edge
                ours = probe(project / "dags", env, shape=True)
                theirs = probe(hand, env, shape=True)
                assert ours["shape"] == theirs["shape"], f"the hand-written DAGs differ at size {size}"
            folders = {"loader": project / "dags", "by_hand": hand, "in_one": hand_one}
            runs = interleaved(folders, env, rounds=ROUNDS if size <= 1000 else LARGE_ROUNDS)
            for name, results in runs.items():
                assert all(r["dags"] == size and r["errors"] == 0 for r in results), (name, results)
            loader, by_hand, in_one = (median(runs[name], "seconds") for name in folders)
            to_one, to_each = (
                paired_ratio(runs["loader"], runs["in_one"]),
                paired_ratio(runs["loader"], runs["by_hand"]),
            )
            slowest, rss = runs["loader"][0]["slowest_file"], runs["loader"][0]["peak_rss_mb"]
            slowest_hand, rss_hand = runs["in_one"][0]["slowest_file"], runs["in_one"][0]["peak_rss_mb"]
            cold, _ = median_seconds(project / "dags", {**env, "DAGMESH_PARSE_CACHE": "0"}, runs=1)
            one = names[len(names) // 2]
            context = {
                **env,
                "_AIRFLOW_PARSING_CONTEXT_DAG_ID": one,
                "_AIRFLOW_PARSING_CONTEXT_TASK_ID": "build.prepare",
            }
            # A worker running one task parses only the file its DAG came from.
            single, result = median_seconds(project / "dags" / "domains" / f"{one}.py", context)
            assert result["dags"] == 1, result
            single_hand, _ = median_seconds(hand / f"{one}.py", env)
            rows.append(
                Row(
                    size,
                    loader,
                    in_one,
                    to_one,
                    by_hand,
                    to_each,
                    cold,
                    single,
                    single_hand,
                    slowest,
                    slowest_hand,
                    rss,
                    rss_hand,
                )
            )
            print(f"  {size:>5} domains measured", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    cached = "on" if BYTECODE else "off"
    print(
        f"(bytecode caching {cached}; each load in a fresh process after a warm-up: the median of "
        f"{ROUNDS} rounds ({LARGE_ROUNDS} above 1,000 domains) that run the three loads in turn; "
        "a ratio is the median of the rounds' CPU-time ratios)"
    )
    header = (
        "domains",
        "dagmesh loader",
        "hand-written, one file",
        "ratio",
        "hand-written, a file per domain",
        "ratio",
        "loader, cold cache",
        "one DAG (parsing context)",
        "one hand-written DAG file",
        "slowest loader file / the one hand-written file",
        "peak RSS loader / one file",
    )
    print("| " + " | ".join(header) + " |")
    print("|---:" * len(header) + "|")
    for row in rows:
        print(row.line())


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 10000])
