"""``dagmesh load``: read the files that sources name (``path:``) into the embedded warehouse."""

from __future__ import annotations

import argparse
import time
from pathlib import PurePosixPath
from typing import Any

from dagmesh.cli.common import CliError, open_project, select_domains, target_engine
from dagmesh.config.files import DataFilesError, data_files
from dagmesh.config.model import DATA_FORMATS, Source
from dagmesh.config.project import Project
from dagmesh.engines.base import WarehouseError
from dagmesh.engines.duckdb import raw_table_name


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "load",
        parents=[shared],
        help="load the CSV, Parquet and JSON files sources name into the DuckDB warehouse",
        description="Replace each source table that names files (path:) with the rows of those files, "
        "in a DuckDB environment. Snowflake environments read their sources where they are.",
    )
    parser.add_argument("domains", nargs="*", metavar="DOMAIN", help="only these domains' sources")
    parser.add_argument("--env", help="environment to load into (default: the active one)")


def file_sources(project: Project, names: list[str]) -> dict[str, Source]:
    """Sources that name files, by table; two domains naming different files for one table
    is an error."""
    found: dict[str, Source] = {}
    for name in names:
        for source in project.domains[name].sources.values():
            if source.path is None:
                continue
            table = source.table.upper()
            first = found.get(table)
            if first is not None and first.path != source.path:
                elsewhere = f"{first.path} ({first.where('path')})"
                raise CliError(f"{source.where('path')}: {table} is already loaded from {elsewhere}")
            found.setdefault(table, source)
    return found


def run(args: argparse.Namespace) -> int:
    project, analysis = open_project(args.project)
    names = select_domains(analysis, args.domains) if args.domains else sorted(project.domains)
    sources = file_sources(project, names)
    if not sources:
        print("no source names files (path:); nothing to load")
        return 0
    engine = target_engine(project, args.env)
    print(f"loading {len(sources)} file source(s) into {engine.describe()}")
    started = time.monotonic()
    total = 0
    for table, source in sorted(sources.items()):
        assert source.path is not None
        try:
            files = data_files(project.root, source.path)
        except DataFilesError as exc:
            raise CliError(f"{source.where('path')}: {exc}", code=1) from exc
        if not files:
            raise CliError(f"{source.where('path')}: '{source.path}' matches no file", code=1)
        try:
            rows = engine.load_files(table, files, DATA_FORMATS[PurePosixPath(source.path).suffix.lower()])
        except WarehouseError as exc:
            raise CliError(f"cannot load {table} from {source.path}: {exc}", code=1) from exc
        total += rows
        where = raw_table_name(table) if engine.name == "duckdb" else table
        print(f"  {table:<32} {rows:>12,} rows  from {source.path} ({len(files)} file(s)) into {where}")
    print(f"{total:,} rows in {len(sources)} table(s) in {time.monotonic() - started:.1f}s")
    return 0
