"""``dagmesh seed``: load the example's synthetic raw data into an environment."""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any

from dagmesh.cli.common import CliError, open_project, target_engine
from dagmesh.clock import utcnow
from dagmesh.engines.base import RawDataGenerator, WarehouseError

GENERATOR = Path("include") / "raw_data.py"


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "seed",
        parents=[shared],
        help="load the example's synthetic raw data",
        description=f"Generate the deterministic raw data of {GENERATOR} into an environment's warehouse.",
    )
    parser.add_argument(
        "--scale", type=_scale, default=1.0, help="data size; 1 = about 1M raw AMA rows (default 1)"
    )
    parser.add_argument("--env", help="environment to seed (default: the active one)")


def _scale(value: str) -> float:
    try:
        scale = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must be a number, not '{value}'") from None
    if not 0 < scale <= 100:
        raise argparse.ArgumentTypeError(f"--scale must be between 0 (exclusive) and 100, not {value}")
    return scale


def load_generator(root: Path) -> RawDataGenerator:
    path = root / GENERATOR
    if not path.is_file():
        raise CliError(f"{GENERATOR} not found in {root}: this project has no example data to seed")
    spec = importlib.util.spec_from_file_location("dagmesh_project_raw_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generate = getattr(module, "generate", None)
    if not callable(generate):
        raise CliError(f"{GENERATOR} has no generate() function")
    return generate


def run(args: argparse.Namespace) -> int:
    project, _ = open_project(args.project)
    engine = target_engine(project, args.env)
    generate = load_generator(project.root)
    print(f"seeding {engine.describe()} at scale {args.scale:g}")
    started = time.monotonic()

    def progress(table: str, rows: int) -> None:
        print(f"  {table:<28} {rows:>12,} rows")

    try:
        counts = engine.load_raw(generate, args.scale, utcnow(), progress)
    except WarehouseError as exc:
        raise CliError(str(exc), code=1) from exc
    declared = {s.table.upper() for d in project.domains.values() for s in d.sources.values()}
    missing = sorted(declared - {t.upper() for t in counts})
    print(f"{sum(counts.values()):,} rows in {len(counts)} tables in {time.monotonic() - started:.1f}s")
    if missing:
        print(f"note: declared sources the generator does not create: {', '.join(missing)}")
    return 0
