"""postgres_changes filters: parsed once at join, evaluated on each change (pure).

`filter` is `column=op.value`, several joined by commas meaning AND
(`amount=gt.100,status=in.(open,pending)`); ops `eq neq lt lte gt gte in like ilike is
match imatch isdistinct`, any of them negated with `not.`. Values are compared after
conversion to the column's type (numbers as numbers, timestamps as instants, uuids case-
insensitively), as PostgreSQL would compare them after a cast.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

OPERATORS = frozenset(
    {"eq", "neq", "lt", "lte", "gt", "gte", "in", "like", "ilike", "is", "match", "imatch",
     "isdistinct"}
)  # fmt: skip
MAX_IN_VALUES = 100
_INTEGERS = {"int2", "int4", "int8"}
_NUMBERS = {"float4", "float8", "numeric"}


class FilterError(Exception):
    """A filter that does not parse, or names an unknown column."""


@dataclass(frozen=True)
class Condition:
    """One `column=[not.]op.value`."""

    column: str
    operator: str
    negated: bool
    value: Any  # str, tuple of str for `in`


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and double quotes."""
    parts, depth, quoted, current = [], 0, False, []
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _in_values(text: str) -> tuple[str, ...]:
    if not (text.startswith("(") and text.endswith(")")):
        raise FilterError("in needs a list: in.(a,b,c)")
    values = tuple(v.strip().strip('"') for v in _split_top(text[1:-1]) if v.strip())
    if len(values) > MAX_IN_VALUES:
        raise FilterError(f"in takes at most {MAX_IN_VALUES} values")
    return values


def parse_filter(text: str | None, columns: Mapping[str, str]) -> tuple[Condition, ...]:
    """The conditions of `text` over a table with `columns` (name → type name)."""
    if text is None or not text.strip():
        return ()
    conditions = []
    for part in _split_top(text):
        column, equals, rest = part.partition("=")
        column = column.strip()
        if not equals or not column:
            raise FilterError(f"{part!r} is not column=op.value")
        if column not in columns:
            raise FilterError(f"the table has no column {column!r}")
        negated = rest.startswith("not.")
        if negated:
            rest = rest[4:]
        operator, dot, value = rest.partition(".")
        if not dot or operator not in OPERATORS:
            raise FilterError(f"unknown operator in {part!r}")
        if operator == "is" and value.lower() not in ("null", "true", "false", "unknown"):
            raise FilterError("is takes null, true, false or unknown")
        if operator in ("match", "imatch"):
            try:
                re.compile(value)
            except re.error as exc:
                raise FilterError(f"bad pattern {value!r}: {exc}") from None
        conditions.append(
            Condition(column, operator, negated, _in_values(value) if operator == "in" else value)
        )
    return tuple(conditions)


def _typed(value: Any, kind: str) -> Any:
    """`value` (from JSON, or a filter's text) as the column type compares it."""
    if value is None:
        return None
    try:
        if kind in _INTEGERS:
            return int(value)
        if kind in _NUMBERS:
            return Decimal(str(value))
        if kind == "bool":
            return value if isinstance(value, bool) else str(value).lower() in ("true", "t", "1")
        if kind in ("timestamptz", "timestamp"):
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            if kind == "timestamptz" and moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)  # as PostgreSQL reads it (TimeZone UTC)
            return moment
        if kind == "date":
            return date.fromisoformat(str(value))
        if kind == "uuid":
            return str(value).lower()
    except (ValueError, InvalidOperation, TypeError):
        return str(value)
    if isinstance(value, dict | list):
        return value
    return str(value)


def _like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    expression = "".join(".*" if c in "%*" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{expression}$", flags | re.DOTALL)


def _compare(operator: str, left: Any, right: Any) -> bool | None:
    """The SQL comparison (None when either side is null)."""
    if left is None or right is None:
        return None
    try:
        checks: dict[str, Callable[[], bool]] = {
            "eq": lambda: left == right, "neq": lambda: left != right,
            "lt": lambda: left < right, "lte": lambda: left <= right,
            "gt": lambda: left > right, "gte": lambda: left >= right,
        }  # fmt: skip
        return checks[operator]()
    except TypeError:
        return False


def _holds(condition: Condition, record: Mapping[str, Any], kind: str) -> bool | None:
    raw = record.get(condition.column)
    value = _typed(raw, kind)
    operator = condition.operator
    if operator == "is":
        wanted = condition.value.lower()
        if wanted in ("null", "unknown"):
            return value is None
        return value is (wanted == "true")
    if operator == "isdistinct":
        other = None if condition.value.lower() == "null" else _typed(condition.value, kind)
        return value != other
    if operator == "in":
        if value is None:
            return None
        return value in {_typed(v, kind) for v in condition.value}
    if operator in ("like", "ilike", "match", "imatch"):
        if value is None:
            return None
        text = raw if isinstance(raw, str) else str(raw)
        if operator in ("like", "ilike"):
            flags = re.IGNORECASE if operator == "ilike" else 0
            return bool(_like(condition.value, flags).match(text))
        flags = re.IGNORECASE if operator == "imatch" else 0
        return re.search(condition.value, text, flags) is not None
    return _compare(operator, value, _typed(condition.value, kind))


def matches(
    conditions: tuple[Condition, ...], record: Mapping[str, Any] | None, columns: Mapping[str, str]
) -> bool:
    """Whether `record` passes every condition (SQL: unknown is not a pass)."""
    if not conditions:
        return True
    if record is None:
        return False
    for condition in conditions:
        result = _holds(condition, record, columns.get(condition.column, "text"))
        if result is None:
            return False
        if result == condition.negated:
            return False
    return True
