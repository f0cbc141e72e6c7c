"""From an HTTP request to the statement that answers it: parse → plan → build SQL.

Pure: request facts and the schema cache in, a `Prepared` out (the SQL with its parameters
and what the response needs to know), or a RestError. The executor runs it; nothing here
touches the database.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gptdesk.rest.errors import RestError
from gptdesk.rest.grammar import GrammarError
from gptdesk.rest.media import Media, negotiate
from gptdesk.rest.mutation import Kind, plan_write, write_sql
from gptdesk.rest.plan import ReadNode, plan_filters, plan_read, resolve_table
from gptdesk.rest.preferences import Page, PreferenceError, Preferences, parse_prefer
from gptdesk.rest.query import Query, parse_query
from gptdesk.rest.rpc import (
    function_names,
    plan_get,
    plan_post,
    result_table,
    scalar_sql,
    table_source,
)
from gptdesk.rest.schema_cache import SchemaCache, Table
from gptdesk.rest.sql import Statement, node_sql, read_sql

Action = Literal["read", "insert", "update", "delete", "call"]
_WRITES: dict[str, Kind] = {"POST": "insert", "PATCH": "update", "DELETE": "delete"}


@dataclass(frozen=True)
class RestRequest:
    """What the pipeline needs of an HTTP request to /rest/v1."""

    method: str
    path: str  # after /rest/v1/, e.g. "gpts" or "rpc/rate_gpt"
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""


@dataclass(frozen=True)
class Prepared:
    """A statement ready to run and what shaping its response takes."""

    action: Action
    statement: Statement
    media: Media
    preferences: Preferences
    read_only: bool
    page: Page = field(default_factory=Page)
    rows_returned: bool = True  # the statement yields (total, page_total, body)
    count_statement: Statement | None = None  # for count=planned / estimated
    head: bool = False
    void: bool = False
    primary_key: tuple[str, ...] = ()
    table: str = ""


def _bad_request(error: GrammarError | PreferenceError) -> RestError:
    if isinstance(error, GrammarError):
        return RestError(400, error.code, error.message, error.details)
    return RestError(error.status, error.code, error.message, error.details)


def check_profile(headers: Mapping[str, str], method: str, schema: str) -> None:
    """Accept-Profile / Content-Profile must name the exposed schema (PGRST106)."""
    name = "accept-profile" if method in ("GET", "HEAD") else "content-profile"
    profile = headers.get(name)
    if profile is not None and profile.strip() != schema:
        raise RestError(406, "PGRST106", f"The schema must be one of the following: {schema}")


def _count_statement(node: ReadNode, schema: str, source: str | None = None) -> Statement:
    statement = Statement()
    everything = node_sql(node, statement, schema=schema, source=source, paged=False)
    statement.sql = f"select count(*) from ({everything}) pgrst_all"
    return statement


def prepare(
    request: RestRequest,
    cache: SchemaCache,
    *,
    max_rows: int | None,
    parsed: Callable[[], None] = lambda: None,
) -> Prepared:
    """The statement answering `request`, or the RestError PostgREST gives it.

    `parsed` is called between parsing and planning (Server-Timing reports the two).
    """
    try:
        return _prepare(request, cache, max_rows, parsed)
    except (GrammarError, PreferenceError) as error:
        raise _bad_request(error) from None


def _prepare(
    request: RestRequest, cache: SchemaCache, max_rows: int | None, parsed: Callable[[], None]
) -> Prepared:
    method = request.method
    check_profile(request.headers, method, cache.schema)
    preferences = parse_prefer([request.headers.get("prefer", "")])
    media = negotiate(request.headers.get("accept"))
    name, _, rest = request.path.partition("/")
    if name == "rpc" and rest:
        return _prepare_call(request, cache, rest, preferences, media, max_rows, parsed)
    if rest or not name:
        raise RestError(404, "PGRST125", f"Invalid path specified in request URL: /{request.path}")
    table = resolve_table(cache, name)
    reading = method in ("GET", "HEAD")  # Range applies to reads only
    query = parse_query(request.query, request.headers.get("range") if reading else None)
    parsed()
    schema = cache.schema
    if reading:
        node = plan_read(cache, table, query, max_rows=max_rows)
        exact = preferences.count == "exact"
        counted = preferences.count in ("planned", "estimated")
        return Prepared(
            "read",
            read_sql(
                node, schema=schema, count=exact, strip_nulls=media.strip_nulls,
                csv=media.shape == "csv",
            ),
            media, preferences, True, node.page,
            count_statement=_count_statement(node, schema) if counted else None,
            head=method == "HEAD",
        )  # fmt: skip
    kind = _WRITES.get(method)
    if kind is None:
        raise RestError(405, "PGRST117", f"Unsupported HTTP method: {method}")
    if kind != "insert" and any(
        page.limit is not None or page.offset for page in query.pages.values()
    ):
        raise RestError(400, "PGRST127", "limit/offset on updates and deletes is not supported")
    where = plan_filters(cache, table, _root_filters(query)) if kind != "insert" else ()
    mutation = plan_write(
        table, kind, request.body, columns=query.columns, on_conflict=query.on_conflict,
        where=where, preferences=preferences,
    )  # fmt: skip
    wants_rows = preferences.return_ in ("representation", "headers-only")
    representation = None
    if wants_rows:
        select = query if preferences.return_ == "representation" else _keys_only(table)
        representation = plan_read(cache, table, _without_filters(select))
    statement = write_sql(
        mutation, schema=schema, representation=representation,
        count=preferences.count is not None,
        csv=media.shape == "csv" and preferences.return_ == "representation",
    )  # fmt: skip
    return Prepared(
        kind, statement, media, preferences, False, rows_returned=wants_rows,
        primary_key=table.primary_key, table=table.name,
    )  # fmt: skip


def _root_filters(query: Query) -> Query:
    return Query(filters=query.filters)


def _without_filters(query: Query) -> Query:
    return Query(select=query.select, select_given=query.select_given)


def _keys_only(table: Table) -> Query:
    """headers-only needs the primary key of what was written, for `Location`."""
    text = ",".join(table.primary_key) or "*"
    return Query(select=parse_query([("select", text)]).select)


def _prepare_call(
    request: RestRequest,
    cache: SchemaCache,
    name: str,
    preferences: Preferences,
    media: Media,
    max_rows: int | None,
    parsed: Callable[[], None],
) -> Prepared:
    method = request.method
    if method not in ("GET", "HEAD", "POST"):
        raise RestError(405, "PGRST101", "Cannot use the " + method + " method on RPC")
    reading = method != "POST"
    arguments = function_names(cache, name) if reading else None
    query = parse_query(request.query, request.headers.get("range"), argument_names=arguments)
    parsed()
    call = (
        plan_get(cache, name, query.arguments) if reading else plan_post(cache, name, request.body)
    )
    read_only = reading or call.read_only
    schema = cache.schema
    table = result_table(cache, call.function) if call.function.returns_set else None
    if table is None:
        statement = Statement()
        statement.sql = scalar_sql(call, statement, schema)
        if media.shape == "object":
            media = Media("array", media.strip_nulls)  # a single value is already unwrapped
        return Prepared(
            "call", statement, media, preferences, read_only, void=call.returns_void,
            head=method == "HEAD",
        )  # fmt: skip
    node = plan_read(cache, table, query, max_rows=max_rows)
    statement = Statement()
    source = table_source(call, statement, schema)
    read_sql(
        node, schema=schema, count=preferences.count == "exact", strip_nulls=media.strip_nulls,
        csv=media.shape == "csv", source=source, statement=statement,
    )  # fmt: skip
    return Prepared(
        "call", statement, media, preferences, read_only, node.page, head=method == "HEAD"
    )
