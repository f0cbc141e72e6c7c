"""Analytics answers as JSON (costs as exact decimal numbers) or CSV (pure)."""

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import orjson

FORMATS = ("json", "csv")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value.normalize(), "f") if value else b"0")
    raise TypeError(f"cannot encode {type(value).__name__}")


def to_json(value: Any) -> bytes:
    """JSON with Decimals as numbers written exactly and dates as ISO strings."""
    return orjson.dumps(value, default=_default)


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> bytes:
    """Rows as CSV with a header line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buffer.getvalue().encode()


def flatten(prefix: str, value: Any, into: list[dict[str, Any]]) -> None:
    """Nested figures as metric rows (`trends.cost.current`, value)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else key, inner, into)
    elif not isinstance(value, list):
        into.append({"metric": prefix, "value": value})
