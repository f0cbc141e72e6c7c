"""The vocabulary of a parsed request: what the URL grammar of PostgREST says, as data."""

from dataclasses import dataclass
from typing import Literal

# Operators of horizontal filters, as PostgREST names them.
OPERATORS = frozenset(
    {
        "eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "in", "is",
        "isdistinct", "fts", "plfts", "phfts", "wfts", "cs", "cd", "ov", "sl", "sr", "nxr",
        "nxl", "adj",
    }
)  # fmt: skip
QUANTIFIABLE = frozenset({"eq", "like", "ilike", "gt", "gte", "lt", "lte", "match", "imatch"})
FULL_TEXT = frozenset({"fts", "plfts", "phfts", "wfts"})
IS_VALUES = frozenset({"null", "not_null", "true", "false", "unknown"})


@dataclass(frozen=True)
class JsonStep:
    """One `->key` / `->>key` / `->0` step into a json(b) value."""

    key: str
    as_text: bool  # ->> rather than ->


@dataclass(frozen=True)
class Field:
    """A column, possibly followed by a JSON path."""

    name: str
    json_path: tuple[JsonStep, ...] = ()


@dataclass(frozen=True)
class SelectField:
    """`alias:column->path::cast` in `select=`."""

    field: Field
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class SelectStar:
    """`*` in `select=`."""


@dataclass(frozen=True)
class SelectEmbed:
    """`alias:relation!hint!inner(children)` or the spread `...relation(children)`."""

    relation: str
    children: tuple["SelectItem", ...]
    alias: str | None = None
    hint: str | None = None
    join: Literal["left", "inner"] = "left"
    spread: bool = False


SelectItem = SelectField | SelectStar | SelectEmbed


@dataclass(frozen=True)
class Operation:
    """`[not.]op[(any|all)][(config)].value` of a filter."""

    operator: str
    value: str | tuple[str, ...]  # a tuple for `in` and quantified operators
    negated: bool = False
    quantifier: Literal["any", "all"] | None = None
    fts_config: str | None = None


@dataclass(frozen=True)
class Filter:
    """`column=operation`; `embed_path` names the embedded resource it filters, if any."""

    field: Field
    operation: Operation
    embed_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Logic:
    """`or=(…)` / `and=(…)`, possibly negated and nested."""

    operator: Literal["and", "or"]
    children: tuple["Filter | Logic", ...]
    negated: bool = False
    embed_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderTerm:
    """`column[.asc|.desc][.nullsfirst|.nullslast]`, or `relation(column)` of a to-one embed."""

    field: Field
    descending: bool = False
    nulls_first: bool | None = None  # None: PostgreSQL's default for the direction
    relation: str | None = None
