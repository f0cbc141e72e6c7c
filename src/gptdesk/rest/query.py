"""A request's query string as PostgREST reads it: select, filters, logic, order, paging.

Pure: `parse_query` turns the (ordered, repeatable) query parameters into a `Query`; what
the names mean is the planner's business. RPC arguments sent as query parameters are set
aside here by name, since PostgREST treats the other parameters of a GET /rpc as filters.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from gptdesk.rest.ast import Filter, Logic, OrderTerm, SelectItem, SelectStar
from gptdesk.rest.grammar import GrammarError, parse_filter, parse_logic, parse_name, parse_order
from gptdesk.rest.grammar import parse_select as parse_select_text
from gptdesk.rest.preferences import Page, PreferenceError, parse_page

Path = tuple[str, ...]  # the embed a parameter applies to; () is the requested table
_RESERVED = frozenset({"select", "columns", "on_conflict", "order", "limit", "offset"})
_RESERVED_SUFFIXES = (".order", ".limit", ".offset")


@dataclass(frozen=True)
class Query:
    """Everything the query string of one request asks for."""

    select: tuple[SelectItem, ...] = (SelectStar(),)
    filters: tuple[Filter | Logic, ...] = ()
    orders: dict[Path, tuple[OrderTerm, ...]] = field(default_factory=dict)
    pages: dict[Path, Page] = field(default_factory=dict)
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None
    arguments: dict[str, list[str]] = field(default_factory=dict)
    select_given: bool = False

    @property
    def page(self) -> Page:
        """The page of the requested table itself."""
        return self.pages.get((), Page())


def _names(text: str, parameter: str) -> tuple[str, ...]:
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise GrammarError(parameter, text, "expecting a comma-separated list of columns")
    return tuple(parse_name(part, parameter, text) for part in parts)


def _split_path(key: str, suffix: str) -> Path:
    head = key[: -len(suffix)].rstrip(".") if key != suffix else ""
    return tuple(parse_name(part, key, key) for part in head.split(".")) if head else ()


def _is_logic(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return last in ("or", "and") and "->" not in key


def _looks_like_filter(key: str, value: str) -> bool:
    if key in _RESERVED or key.endswith(_RESERVED_SUFFIXES) or _is_logic(key):
        return True
    try:
        parse_filter(key, value)
    except GrammarError:
        return False
    return True


def parse_query(
    items: Iterable[tuple[str, str]],
    range_header: str | None = None,
    *,
    argument_names: frozenset[str] | None = None,
) -> Query:
    """The query parameters of a request; GrammarError / PreferenceError when malformed.

    For a GET /rpc (`argument_names` given), a parameter that names an argument, or that is
    not a filter at all, is an argument: an unknown one then fails the function lookup.
    """
    select: tuple[SelectItem, ...] = (SelectStar(),)
    select_given = False
    filters: list[Filter | Logic] = []
    orders: dict[Path, tuple[OrderTerm, ...]] = {}
    limits: dict[Path, str] = {}
    offsets: dict[Path, str] = {}
    columns = on_conflict = None
    arguments: dict[str, list[str]] = {}
    for key, value in items:
        if argument_names is not None and (
            key in argument_names or not _looks_like_filter(key, value)
        ):
            arguments.setdefault(key, []).append(value)
        elif key == "select":
            select, select_given = parse_select_text(value), True
        elif key == "columns":
            columns = _names(value, key)
        elif key == "on_conflict":
            on_conflict = _names(value, key)
        elif key == "order" or key.endswith(".order"):
            orders[_split_path(key, "order")] = parse_order(value)
        elif key == "limit" or key.endswith(".limit"):
            limits[_split_path(key, "limit")] = value
        elif key == "offset" or key.endswith(".offset"):
            offsets[_split_path(key, "offset")] = value
        elif _is_logic(key):
            filters.append(parse_logic(key, value))
        elif key:
            filters.append(parse_filter(key, value))
    pages = {(): parse_page(limits.pop((), None), offsets.pop((), None), range_header)}
    for path in set(limits) | set(offsets):
        pages[path] = parse_page(limits.get(path), offsets.get(path), None)
    return Query(
        select, tuple(filters), orders, pages, columns, on_conflict, arguments, select_given
    )


__all__ = ["GrammarError", "Path", "PreferenceError", "Query", "parse_query"]
