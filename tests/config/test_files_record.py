"""The record of the files a result came from, and the check that they still read the same.

The DAG cache uses a domain's spec only while :func:`unchanged` holds for its record. The
check compares a file's ``stat`` when the file had settled before it was read, and its
text otherwise: an edit is never missed, however quickly it follows the read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from dagmesh.config.files import SETTLED_NS, RecordingFiles, unchanged


def settle() -> None:
    """Let every file written so far become settled."""
    time.sleep(SETTLED_NS / 1e9 + 0.1)


def test_a_settled_file_is_checked_by_its_stat_and_a_same_size_edit_is_still_seen(tmp_path: Path) -> None:
    (tmp_path / "settled.yaml").write_text("retries: 1\n")
    settle()
    files = RecordingFiles(tmp_path)
    files.read("settled.yaml")
    assert list(files.record["stat"]) == ["settled.yaml"]
    assert unchanged(tmp_path, files.record)

    (tmp_path / "settled.yaml").write_text("retries: 2\n")  # same size, written again
    assert not unchanged(tmp_path, files.record)

    (tmp_path / "settled.yaml").write_text("retries: 1\n")  # the same text again: its digest says so
    assert unchanged(tmp_path, files.record)


def test_a_file_read_just_after_it_was_written_is_checked_by_its_text(tmp_path: Path) -> None:
    files = RecordingFiles(tmp_path)
    (tmp_path / "fresh.sql").write_text("select 1\n")
    files.read("fresh.sql")
    files.read("missing.sql")
    assert files.record["stat"] == {}  # too recent to trust its times, and one that does not exist
    assert unchanged(tmp_path, files.record)

    (tmp_path / "fresh.sql").write_text("select 2\n")  # within the same clock tick, perhaps
    assert not unchanged(tmp_path, files.record)
    (tmp_path / "fresh.sql").write_text("select 1\n")
    (tmp_path / "missing.sql").write_text("select 3\n")
    assert not unchanged(tmp_path, files.record)


def test_a_file_replaced_by_another_with_the_same_times_is_seen(tmp_path: Path) -> None:
    target = tmp_path / "mesh.yaml"
    target.write_text("owner: a\n")
    settle()
    files = RecordingFiles(tmp_path)
    files.read("mesh.yaml")
    replacement = tmp_path / "next.yaml"
    replacement.write_text("owner: b\n")
    info = target.stat()
    os.utime(replacement, ns=(info.st_atime_ns, info.st_mtime_ns))  # as `cp -p` or a checkout might
    replacement.replace(target)

    assert not unchanged(tmp_path, files.record)


def test_a_file_recorded_while_fresh_is_checked_by_its_stat_once_it_has_settled(tmp_path: Path) -> None:
    (tmp_path / "model.sql").write_text("select 1\n")
    files = RecordingFiles(tmp_path)
    files.read("model.sql")
    assert files.record["stat"] == {}
    settle()

    settled: dict[str, list[int]] = {}
    assert unchanged(tmp_path, files.record, settled)
    assert list(settled) == ["model.sql"]  # the DAG cache records it with its entry

    files.record["stat"].update(settled)
    (tmp_path / "model.sql").write_text("select 2\n")
    changed: dict[str, list[int]] = {}
    assert not unchanged(tmp_path, files.record, changed) and changed == {}


def test_a_record_that_is_not_one_is_never_unchanged(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("select 1\n")
    files = RecordingFiles(tmp_path)
    files.read("a.sql")
    for stat in ([], ["a.sql"], None, {"a.sql": "nonsense"}):
        foreign = {**files.record, "stat": stat}
        settled: dict[str, list[int]] = {}
        assert unchanged(tmp_path, foreign, settled) is isinstance(stat, dict)
