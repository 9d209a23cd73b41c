"""Whatever bytes a pull request puts in a config or SQL file, ``dagmesh validate`` and a
DagBag load end with located messages (or "ok"): never a traceback, a crash or a hang.

A deterministic mutation run over the example project: keys deleted and misspelt, values
of the wrong type, empty, huge or exotic, duplicate keys, aliases and merge keys, deep
nesting, tabs, byte order marks, binary garbage, CRLF, bad crons and durations, broken
Jinja. Each case is validated in-process (the CLI's own functions); a sample also runs
the real CLI and a real DagBag.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dagmesh.cli.validate import check
from dagmesh.config.project import load_project
from dagmesh.errors import ConfigError
from tests.helpers import REPO, copy_example, dagmesh

Mutation = Callable[[bytes, random.Random], bytes]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _pick_line(data: bytes, rng: random.Random, pattern: bytes = rb"^\s*[a-z_]+:") -> int:
    candidates = [i for i, line in enumerate(_lines(data)) if re.match(pattern, line)]
    return rng.choice(candidates) if candidates else 0


def _edit_line(
    data: bytes, rng: random.Random, change: Callable[[bytes], bytes], pattern: bytes = rb"^\s*[a-z_]+:"
) -> bytes:
    lines = _lines(data)
    index = _pick_line(data, rng, pattern)
    lines[index] = change(lines[index])
    return b"\n".join(lines)


def delete_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    del lines[_pick_line(data, rng)]
    return b"\n".join(lines)


def misspell_key(data: bytes, rng: random.Random) -> bytes:
    return _edit_line(
        data, rng, lambda line: re.sub(rb"([a-z_]+):", lambda m: m.group(1)[::-1] + b":", line, count=1)
    )


def replace_value(value: bytes) -> Mutation:
    def mutate(data: bytes, rng: random.Random) -> bytes:  # on a line holding `key: value`
        change = lambda line: re.sub(rb":\s.*$", b": " + value, line, count=1)  # noqa: E731
        return _edit_line(data, rng, change, rb"^\s*(- )?[a-z_]+:\s+[^\s#]")

    return mutate


def duplicate_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    index = _pick_line(data, rng)
    lines.insert(index, lines[index])
    return b"\n".join(lines)


def tab_indent(data: bytes, rng: random.Random) -> bytes:
    return _edit_line(data, rng, lambda line: re.sub(rb"^ +", b"\t", line))


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) or 1)]


def garbage(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) or 1)
    return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))) + data[at:]


def with_bom(data: bytes, rng: random.Random) -> bytes:
    return b"\xef\xbb\xbf" + data


def crlf(data: bytes, rng: random.Random) -> bytes:
    return data.replace(b"\n", b"\r\n")


def nul_byte(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) or 1)
    return data[:at] + b"\x00" + data[at:]


def deep(levels: int) -> Mutation:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        return data + b"\ndeep: " + b"[" * levels + b"]" * levels + b"\n"

    return mutate


def laughs(data: bytes, rng: random.Random) -> bytes:
    bomb = [b"l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]".encode() for i in range(1, 9)]
    return data + b"\n" + b"\n".join(bomb) + b"\n"


def merge_keys(data: bytes, rng: random.Random) -> bytes:
    return b"base: &base {owner: x, retries: 1}\n" + data + b"\n<<: *base\n"


def undefined_alias(data: bytes, rng: random.Random) -> bytes:
    return replace_value(b"*nowhere")(data, rng)


def python_tag(data: bytes, rng: random.Random) -> bytes:
    return replace_value(b"!!python/object/apply:os.system ['touch /tmp/dagmesh-pwned']")(data, rng)


def sql_insert(snippet: bytes) -> Mutation:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        lines = _lines(data)
        lines.insert(rng.randrange(len(lines) + 1), snippet)
        return b"\n".join(lines)

    return mutate


YAML_MUTATIONS: dict[str, Mutation] = {
    "delete a key": delete_line,
    "misspell a key": misspell_key,
    "duplicate a key": duplicate_line,
    "value: empty string": replace_value(b'""'),
    "value: null": replace_value(b"null"),
    "value: list": replace_value(b"[1, [2], {a: 3}]"),
    "value: mapping": replace_value(b"{x: {y: z}}"),
    "value: boolean": replace_value(b"yes"),
    "value: huge number": replace_value(b"9" * 400),
    "value: negative": replace_value(b"-12"),
    "value: float": replace_value(b".nan"),
    "value: infinity": replace_value(b"1e999"),
    "value: huge text": replace_value(b"x" * 200_000),
    "value: unicode": replace_value("\u202egnp.exe 🐍 ÄÖÜ".encode()),
    "value: date": replace_value(b"2026-02-30"),
    "value: bad cron": replace_value(b"'61 25 * * 8'"),
    "value: never-firing cron": replace_value(b"'0 0 31 2 *'"),
    "value: bad duration": replace_value(b"5x"),
    "value: zero duration": replace_value(b"0s"),
    "value: huge duration": replace_value(b"99999999999999999d"),
    "value: port reference": replace_value(b"a.b.c"),
    "value: SQL injection": replace_value(b'"x\'); DROP TABLE y; --"'),
    "value: undefined alias": undefined_alias,
    "value: python tag": python_tag,
    "anchors that expand forever": laughs,
    "merge keys": merge_keys,
    "nesting 200 deep": deep(200),
    "nesting 50,000 deep": deep(50_000),
    "tab indentation": tab_indent,
    "truncated": truncate,
    "binary garbage": garbage,
    "byte order mark": with_bom,
    "CRLF line endings": crlf,
    "NUL byte": nul_byte,
    "empty file": lambda data, rng: b"",
    "a list, not a mapping": lambda data, rng: b"- a\n- b\n",
    "two documents": lambda data, rng: data + b"\n---\nmore: 1\n",
}
SQL_MUTATIONS: dict[str, Mutation] = {
    "unclosed expression": sql_insert(b"{{ ref("),
    "unclosed block": sql_insert(b"{% if is_incremental() %}"),
    "for loop": sql_insert(b"{% for x in range(10**9) %}x{% endfor %}"),
    "attribute access": sql_insert(b"{{ ref.__globals__ }}"),
    "include": sql_insert(b"{% include '/etc/passwd' %}"),
    "filter": sql_insert(b"{{ 'x' | upper }}"),
    "division by zero": sql_insert(b"{{ 1/0 }}"),
    "second statement": sql_insert(b"; drop table x"),
    "table function": sql_insert(b"union all select * from read_csv('/etc/hostname')"),
    "binary garbage": garbage,
    "byte order mark": with_bom,
    "CRLF line endings": crlf,
    "NUL byte": nul_byte,
    "truncated": truncate,
    "empty file": lambda data, rng: b"",
}


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    mutation: Mutation

    def apply(self, root: Path, seed: int) -> None:
        path = root / self.file
        path.write_bytes(self.mutation(path.read_bytes(), random.Random(seed)))


def cases() -> list[Case]:
    yaml_files = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "dag_configs").rglob("*.yaml"))
    sql_files = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "sql").rglob("*.sql"))
    found = [Case(f"{name} in {file}", file, m) for file in yaml_files for name, m in YAML_MUTATIONS.items()]
    rng = random.Random(11)
    for name, mutation in SQL_MUTATIONS.items():
        for file in rng.sample(sql_files, 4):
            found.append(Case(f"{name} in {file}", file, mutation))
    return found


CASES = cases()


def test_the_run_has_a_few_hundred_cases() -> None:
    assert len(CASES) >= 300


def checked(root: Path) -> tuple[int, list[ConfigError]]:
    """What ``dagmesh validate`` decides, through its own functions: exit code and problems."""
    problems = check(load_project(root))
    return (1 if any(p.is_error for p in problems) else 0), problems


def assert_located(root: Path, problems: list[ConfigError]) -> None:
    for problem in problems:
        path = root / problem.path
        assert path.is_file(), f"{problem} names no file of the project"
        lines = path.read_bytes().replace(b"\r\n", b"\n").count(b"\n") + 1
        assert 1 <= problem.line <= lines + 1 and problem.col >= 1, str(problem)


@pytest.mark.parametrize("index", range(0, len(CASES), 25))
def test_every_mutation_ends_in_located_messages(index: int, tmp_path: Path) -> None:
    for number, case in enumerate(CASES[index : index + 25], start=index):
        root = copy_example(tmp_path / str(number))
        case.apply(root, seed=number)
        code, problems = checked(root)
        assert code in (0, 1), case.name
        assert_located(root, problems)
        shutil.rmtree(root)


def test_a_sample_runs_through_the_real_cli_without_a_traceback(tmp_path: Path) -> None:
    assert not Path("/tmp/dagmesh-pwned").exists()
    for number, case in enumerate(CASES[::37]):
        root = copy_example(tmp_path / str(number))
        case.apply(root, seed=number)
        done = dagmesh("validate", project=root, timeout=120)
        assert done.returncode in (0, 1), (case.name, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr, case.name
        for line in done.stdout.splitlines():
            if ": error: " in line:
                assert re.match(r"^[^:]+:\d+:\d+: error: ", line), (case.name, line)
    assert not Path("/tmp/dagmesh-pwned").exists()


DAGBAG = r"""
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
result = {}
for root in sys.argv[1:]:
    os.environ["DAGMESH_PROJECT_DIR"] = root
    bag = DagBag(dag_folder=os.path.join(root, "dags"))
    errors = {os.path.basename(k): v for k, v in bag.import_errors.items()}
    result[root] = {"dags": sorted(bag.dag_ids), "errors": errors}
print(json.dumps(result))
"""


@pytest.mark.e2e
def test_a_dagbag_load_of_broken_projects_reports_located_import_errors(tmp_path: Path) -> None:
    sample = [c for c in CASES if "/mastered/" in c.file or c.file.endswith("mesh.yaml")][::9]
    roots = []
    for number, case in enumerate(sample):
        root = copy_example(tmp_path / str(number))
        case.apply(root, seed=number)
        roots.append(str(root))
    done = subprocess.run(
        [sys.executable, "-c", DAGBAG, *roots],
        env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for case, root in zip(sample, roots, strict=True):
        found = results[root]
        assert len(found["dags"]) + len(found["errors"]) >= 6, case.name
        for message in found["errors"].values():
            assert "Traceback" not in message, (case.name, message)
            assert re.search(r"dag_configs/\S+:\d+:\d+: error: |sql/\S+:\d+:\d+: error: ", message), (
                case.name,
                message,
            )
