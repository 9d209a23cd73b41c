"""``dagmesh``: validate, graph, seed, run and inspect a data mesh."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from dagmesh.cli.common import CliError, Terminated, stop_on_sigterm

#: Subcommands and the module implementing each (imported only when used).
COMMANDS = {
    "init": "dagmesh.cli.init",
    "new": "dagmesh.cli.init",
    "validate": "dagmesh.cli.validate",
    "dags": "dagmesh.cli.dags",
    "lint": "dagmesh.cli.lint",
    "graph": "dagmesh.cli.graph",
    "seed": "dagmesh.cli.seed",
    "load": "dagmesh.cli.load",
    "run": "dagmesh.cli.run",
    "status": "dagmesh.cli.status",
    "show": "dagmesh.cli.status",
    "airflow": "dagmesh.cli.airflow_cmd",
    "env": "dagmesh.cli.env",
    "grants": "dagmesh.cli.grants",
    "schema": "dagmesh.cli.schema",
    "export": "dagmesh.cli.export",
}


PROJECT_HELP = "project directory (default: found from the current directory)"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="dagmesh",
        description="Run a data mesh on Apache Airflow: one YAML file and one certified DAG per domain.",
    )
    root.add_argument("--project", metavar="DIR", help=PROJECT_HELP)
    # Also accepted after the command (dagmesh run --project DIR); SUPPRESS keeps the
    # value given before the command when it is not repeated.
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--project", metavar="DIR", help=PROJECT_HELP, default=argparse.SUPPRESS)
    commands = root.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in dict.fromkeys(COMMANDS.values()):  # a module may add several commands
        import_module(module).add_parser(commands, shared)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = import_module(COMMANDS[args.command])
    stop_on_sigterm()
    try:
        return int(command.run(args) or 0)
    except CliError as exc:
        print(f"dagmesh {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except Terminated:
        print(f"dagmesh {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"dagmesh {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (dagmesh status | head): stop quietly, as the Python docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
