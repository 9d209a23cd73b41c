"""The example's synthetic raw data is deterministic and shaped like the real feeds."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from types import ModuleType

import duckdb

from tests.helpers import REPO


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("raw_data", REPO / "include" / "raw_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relation(table: str) -> str:
    database, schema, name = table.lower().split(".")
    return f"{database}_{schema}.{name}"


def fingerprints(scale: float, loaded_at: datetime) -> dict[str, tuple[int, int]]:
    con = duckdb.connect()
    counts = generator().generate(con, scale, relation, loaded_at)
    result = {}
    for table in counts:
        columns = [
            r[0]
            for r in con.execute(f"DESCRIBE {relation(table)}").fetchall()
            if r[0] != "loaded_at"  # follows the time of seeding, so freshness checks pass
        ]
        (digest,) = con.execute(
            f"SELECT bit_xor(hash({', '.join(columns)})) FROM {relation(table)}"
        ).fetchone()
        result[table] = (counts[table], digest)
    return result


def test_the_same_scale_gives_the_same_rows_whenever_it_is_generated() -> None:
    first = fingerprints(0.01, datetime(2026, 1, 1))
    second = fingerprints(0.01, datetime(2026, 11, 21, 12, 30))
    assert first == second


def test_the_scale_sets_the_size_of_the_big_feeds() -> None:
    small = {t: n for t, (n, _) in fingerprints(0.01, datetime(2026, 1, 1)).items()}
    double = {t: n for t, (n, _) in fingerprints(0.02, datetime(2026, 1, 1)).items()}
    assert small["RAW.AMA.PHYSICIANS"] == 10_000  # 8,000 physicians, a quarter with an older record
    assert double["RAW.AMA.PHYSICIANS"] == 2 * small["RAW.AMA.PHYSICIANS"]
    assert double["RAW.CLAIMS.RX_CLAIMS"] == 2 * small["RAW.CLAIMS.RX_CLAIMS"]
    assert double["RAW.PRODUCT.NDC_CATALOG"] == small["RAW.PRODUCT.NDC_CATALOG"]  # reference data
