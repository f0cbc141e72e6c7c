"""Calling a function through /rpc: which overload, its arguments, and the SQL of the call.

Pure. Arguments sent as JSON travel as one parameter spread by `jsonb_to_record` into the
argument types; arguments sent in the query string are text parameters cast to them. A
function returning rows of an exposed table (or `returns table (…)`) is read like a table,
so `select=`, filters, order and paging apply to its result.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import orjson

from gptdesk.rest.errors import RestError
from gptdesk.rest.schema_cache import Column, Function, SchemaCache, Table
from gptdesk.rest.sql import Statement, base_type, quote_ident

_JSON_TYPES = ("json", "jsonb")


@dataclass(frozen=True)
class Call:
    """A resolved call: the function and the arguments it is given (JSON or query text)."""

    function: Function
    json_arguments: str | None = None  # the JSON object of named arguments
    text_arguments: Mapping[str, str] | None = None
    whole_body: bool = False  # a single unnamed json/jsonb argument takes the body

    @property
    def read_only(self) -> bool:
        return self.function.volatility in ("s", "i")

    @property
    def returns_void(self) -> bool:
        return self.function.return_type == "void"


def _not_found(cache: SchemaCache, name: str, names: list[str]) -> RestError:
    listed = ", ".join(sorted(names))
    described = f"with parameters {listed}" if names else "without parameters"
    return RestError(
        404,
        "PGRST202",
        f"Could not find the function {cache.schema}.{name}({listed}) in the schema cache",
        f"Searched for the function {cache.schema}.{name} {described} or with a single "
        "unnamed json/jsonb parameter, but no matches were found in the schema cache.",
    )


def _choose(
    cache: SchemaCache, name: str, given: set[str], has_body: bool
) -> tuple[Function, bool]:
    overloads = cache.functions.get(name, ())
    matches = [f for f in overloads if given <= set(f.arg_names) and set(f.required) <= given]
    if not matches and has_body:
        matches = [f for f in overloads if f.arg_names == ("",) and f.arg_types[0] in _JSON_TYPES]
        if len(matches) == 1:
            return matches[0], True
    if not matches:
        raise _not_found(cache, name, sorted(given))
    if len(matches) > 1:
        signatures = ", ".join(f"{cache.schema}.{_signature(f)}" for f in matches)
        raise RestError(
            300,
            "PGRST203",
            f"Could not choose the best candidate function between: {signatures}",
            None,
            "Try renaming the parameters or the function itself in the database so function "
            "overloading can be resolved",
        )
    return matches[0], False


def _signature(function: Function) -> str:
    pairs = zip(function.arg_names, function.arg_types, strict=True)
    return f"{function.name}({', '.join(f'{n} => {t}' for n, t in pairs)})"


def function_names(cache: SchemaCache, name: str) -> frozenset[str]:
    """Every argument name of `name`'s overloads: the query parameters that are arguments."""
    return frozenset(a for f in cache.functions.get(name, ()) for a in f.arg_names if a)


def plan_post(cache: SchemaCache, name: str, body: bytes) -> Call:
    """`POST /rpc/name` with a JSON object of named arguments (or `{}` / no body)."""
    try:
        parsed = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise RestError(400, "PGRST102", "Empty or invalid json", str(exc)) from None
    given = set(parsed) if isinstance(parsed, dict) else set()
    function, whole = _choose(cache, name, given, bool(body.strip()))
    if whole:
        return Call(function, body.decode(), whole_body=True)
    if not isinstance(parsed, dict):
        raise RestError(400, "PGRST102", "Empty or invalid json", "expected a JSON object")
    return Call(function, body.decode() if body.strip() else "{}")


def plan_get(cache: SchemaCache, name: str, arguments: Mapping[str, list[str]]) -> Call:
    """`GET /rpc/name?arg=value`: the last value of each argument, as text."""
    function, _ = _choose(cache, name, set(arguments), False)
    return Call(function, text_arguments={k: v[-1] for k, v in arguments.items()})


def call_sql(call: Call, statement: Statement, schema: str) -> tuple[str, str]:
    """(FROM item producing the function's result as rows, the call expression)."""
    function = call.function
    name = f"{quote_ident(schema)}.{quote_ident(function.name)}"
    if call.whole_body:
        invocation = (
            f"{name}({statement.param(call.json_arguments, 'text')}::{function.arg_types[0]})"
        )
        return f"(select {invocation} as pgrst_value) pgrst_args", invocation
    given = set(call.text_arguments or {}) or set(orjson.loads(call.json_arguments or "{}"))
    pairs = [
        (n, t) for n, t in zip(function.arg_names, function.arg_types, strict=True) if n in given
    ]
    if call.text_arguments is not None:
        named = [
            f"{quote_ident(n)} => {statement.param(call.text_arguments[n], 'text')}::{base_type(t)}"
            for n, t in pairs
        ]
        return "(select) pgrst_args", f"{name}({', '.join(named)})"
    if not pairs:
        return "(select) pgrst_args", f"{name}()"
    named = [f"{quote_ident(n)} => pgrst_args.{quote_ident(n)}" for n, _ in pairs]
    definition = ", ".join(f"{quote_ident(n)} {t}" for n, t in pairs)
    record = f"jsonb_to_record({statement.param(call.json_arguments, 'text')}::jsonb)"
    return f"{record} pgrst_args({definition})", f"{name}({', '.join(named)})"


def result_table(cache: SchemaCache, function: Function) -> Table | None:
    """The rows a function returns, as a table the read planner can select from."""
    if function.return_table is not None:
        return cache.tables.get(function.return_table)
    if function.out_names:
        columns = {
            n: Column(n, t, t.rsplit(".", 1)[-1], True, None)
            for n, t in zip(function.out_names, function.out_types, strict=True)
        }
        return Table(function.name, True, MappingProxyType(columns))
    return None


def scalar_sql(call: Call, statement: Statement, schema: str) -> str:
    """A call whose result is one value (or a set of values) as JSON text."""
    source, invocation = call_sql(call, statement, schema)
    if call.returns_void:
        return (
            f"select null::bigint as total, 0::bigint as page_total, null::text as body "
            f"from {source} cross join lateral (select {invocation}) pgrst_v"
        )
    if call.function.returns_set:
        return (
            f"select null::bigint as total, count(*) as page_total, "
            f"coalesce(json_agg(pgrst_v), '[]')::text as body "
            f"from {source} cross join lateral {invocation} pgrst_v"
        )
    return (
        f"select null::bigint as total, 1::bigint as page_total, "
        f"coalesce(to_json({invocation})::text, 'null') as body from {source}"
    )


def table_source(call: Call, statement: Statement, schema: str) -> str:
    """The function's rows as a subquery to read from like a table."""
    source, invocation = call_sql(call, statement, schema)
    return f"(select pgrst_f.* from {source} cross join lateral {invocation} pgrst_f)"
