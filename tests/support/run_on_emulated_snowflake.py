"""The dagmesh CLI with the emulated Snowflake account patched in.

    python -m tests.support.run_on_emulated_snowflake STATE_DIR dagmesh-arguments...

STATE_DIR keeps the emulated databases between invocations (seed, then run). fakesnow
emulates every session on one DuckDB whose helper macros it re-creates per connection, so
sessions at the same time conflict there (a real account has no such limit): `run` builds
one domain at a time here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dagmesh.cli.main import main
from tests.support.fake_snowflake import fake_snowflake


def run(argv: list[str]) -> int:
    state, *arguments = argv
    Path(state).mkdir(parents=True, exist_ok=True)
    if "run" in arguments and "--threads" not in arguments:
        arguments = [*arguments, "--threads", "1"]
    with fake_snowflake(db_path=Path(state)):
        return main(arguments)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
