"""Does a built table match its port's declared contract (columns and types)?

Warehouses name types differently (DuckDB ``VARCHAR``/``BIGINT``/``DECIMAL(18,2)``,
Snowflake ``TEXT``/``NUMBER`` with a scale); both are mapped to the same families
the contract uses, so one contract holds on every engine.
"""

from __future__ import annotations

#: Which warehouse families satisfy a declared family.
COMPATIBLE: dict[str, set[str]] = {
    "string": {"string"},
    "integer": {"integer"},
    "number": {"integer", "number"},
    "float": {"float", "number"},
    "boolean": {"boolean"},
    "date": {"date"},
    "timestamp": {"timestamp"},
}

_INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}  # fmt: skip
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8", "DOUBLE PRECISION"}


def warehouse_family(data_type: str, scale: str = "") -> str:
    """The contract family of a type as information_schema reports it."""
    base = data_type.upper().split("(")[0].strip()
    if base in ("VARCHAR", "TEXT", "STRING", "CHAR", "CHARACTER VARYING"):
        return "string"
    if base in _INTEGER_TYPES:
        return "integer"
    if base in ("NUMBER", "DECIMAL", "NUMERIC"):
        return "integer" if scale in ("", "0") and "," not in data_type else _decimal(data_type, scale)
    if base in _FLOAT_TYPES:
        return "float"
    if base in ("BOOLEAN", "BOOL"):
        return "boolean"
    if base == "DATE":
        return "date"
    if base.startswith("TIMESTAMP") or base == "DATETIME":
        return "timestamp"
    return base.lower()


def _decimal(data_type: str, scale: str) -> str:
    if scale not in ("", "0"):
        return "number"
    inner = data_type[data_type.find("(") + 1 : data_type.rfind(")")]
    parts = [p.strip() for p in inner.split(",")]
    return "integer" if len(parts) == 2 and parts[1] == "0" else "number"


def parse_listing(listing: str) -> list[tuple[str, str, str]]:
    """``name:TYPE:scale,...`` (from the fused query) as (name, type, scale) triples."""
    columns = []
    for item in _split_columns(listing):
        name, _, rest = item.partition(":")
        data_type, _, scale = rest.rpartition(":")
        columns.append((name.strip().lower(), data_type.strip(), scale.strip()))
    return columns


def _split_columns(listing: str) -> list[str]:
    """Split on commas that separate columns, not those inside ``DECIMAL(18,2)``."""
    items, depth, current = [], 0, ""
    for char in listing:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    if current:
        items.append(current)
    return [i for i in items if i.strip()]


def compare_schema(contract: tuple[tuple[str, str], ...], listing: str) -> list[str]:
    """Problems between the declared contract and the built table; empty when they match."""
    if not listing:
        return ["the table does not exist"]
    actual = {name: (data_type, scale) for name, data_type, scale in parse_listing(listing)}
    declared = dict(contract)
    problems = []
    missing = [c for c in declared if c not in actual]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    extra = [c for c in actual if c not in declared]
    if extra:
        problems.append(f"columns not in the contract: {', '.join(extra)}")
    for name, family in declared.items():
        if name not in actual:
            continue
        data_type, scale = actual[name]
        found = warehouse_family(data_type, scale)
        if found not in COMPATIBLE.get(family, {family}):
            problems.append(f"column {name} is declared {family} but built as {data_type}")
    return problems
