"""The OpenAPI (Swagger 2.0) description served at `GET /rest/v1/`, built from the schema cache.

Pure, and shaped as PostgREST's `Response/OpenAPI.hs` shapes it: one path and one definition
per table or view, one path per function under /rpc, and the shared parameters they refer to.
"""

import json
import re
from typing import Any
from urllib.parse import urlsplit

from gptdesk.rest.schema_cache import Column, Function, SchemaCache, Table

JSON = dict[str, Any]
# (table, column) -> (table, column) its single-column foreign key refers to
_Targets = dict[tuple[str, str], tuple[str, str]]

_MEDIA_TYPES = ("application/json", "application/vnd.pgrst.object+json", "text/csv")
_SWAGGER_TYPES: dict[str, str | None] = {
    **dict.fromkeys(("character varying", "character", "text"), "string"),
    **dict.fromkeys(("smallint", "integer", "bigint"), "integer"),
    **dict.fromkeys(("numeric", "real", "double precision"), "number"),
    "boolean": "boolean",
    **dict.fromkeys(("json", "jsonb"), None),  # any JSON value: PostgREST gives it no type
}
_TYPMOD = re.compile(r"\((\d+)(?:,\d+)?\)")
_CAST_LITERAL = re.compile(r"'((?:[^']|'')*)'::[^']+")
_NOT_CALLABLE = frozenset({"trigger", "event_trigger"})
_RETURN = ("return=representation", "return=minimal", "return=headers-only")
_RESOLUTION = ("resolution=ignore-duplicates", "resolution=merge-duplicates")
_COUNT = ("count=exact", "count=planned", "count=estimated")
_PAGING = "Limiting and Pagination"


def openapi_document(cache: SchemaCache, *, base_url: str, version: str) -> JSON:
    """The Swagger 2.0 document PostgREST serves at its root, for the schema in `cache`."""
    url = urlsplit(base_url)
    tables = sorted(cache.tables.values(), key=lambda table: table.name)
    foreign_keys = {
        (fk.table, fk.columns[0]): (fk.foreign_table, fk.foreign_columns[0])
        for fk in cache.foreign_keys
        if len(fk.columns) == 1  # PostgREST notes single-column keys only
    }
    return {
        "swagger": "2.0",
        "info": {
            "title": "GPT Desk REST API",
            "description": f"The PostgREST-compatible data API of the `{cache.schema}` schema.",
            "version": version,
        },
        "host": url.netloc,
        "basePath": url.path.rstrip("/") + "/rest/v1",
        "schemes": [url.scheme or "http"],
        "consumes": list(_MEDIA_TYPES),
        "produces": list(_MEDIA_TYPES),
        "paths": {
            "/": _root_path(),
            **{f"/{table.name}": _table_path(table) for table in tables},
            **{f"/rpc/{fn.name}": _rpc_path(fn, cache.schema) for fn in _rpc_functions(cache)},
        },
        "definitions": {
            table.name: _definition(table, foreign_keys, cache.schema) for table in tables
        },
        "parameters": _parameters(tables),
    }


def _pg_type(data_type: str) -> tuple[str, int | None]:
    """A format_type() name as PostgREST shows it (no typmod; the cache already qualifies
    types outside pg_catalog), with the length limit of a `varchar(n)` or `character(n)`."""
    name = _TYPMOD.sub("", data_type)
    limit = _TYPMOD.search(data_type)
    max_length = int(limit[1]) if limit and name in ("character varying", "character") else None
    return name, max_length


def _swagger_type(pg_type: str) -> str | None:
    """The Swagger type PostgREST gives a PostgreSQL type: none for json and jsonb."""
    if pg_type in _SWAGGER_TYPES:
        return _SWAGGER_TYPES[pg_type]
    return "array" if pg_type.endswith("[]") else "string"


def _query_type(pg_type: str) -> str:
    """A query parameter's type: arrays (sent as `{a,b}`) and JSON values are strings."""
    kind = _swagger_type(pg_type)
    return kind if kind in ("integer", "number", "boolean") else "string"


def _typed(pg_type: str) -> JSON:
    """The `type`, `format` and, for an array, `items` of a value of `pg_type`."""
    schema: JSON = {"format": pg_type}
    kind = _swagger_type(pg_type)
    if kind is not None:
        schema["type"] = kind
    if kind == "array":
        item = _swagger_type(pg_type.removesuffix("[]"))
        schema["items"] = {"type": item} if item else {}
    return schema


def _default(kind: str | None, expression: str) -> Any:
    """A column default as JSON: a cast literal's text for strings, else the expression if it
    is JSON (`0`, `true`); None for anything computed, such as `nextval(...)`."""
    if kind == "string":
        literal = _CAST_LITERAL.fullmatch(expression)
        return literal[1].replace("''", "'") if literal else expression
    try:
        return json.loads(expression)
    except ValueError:
        return None


def _object(properties: JSON, required: list[str]) -> JSON:
    """An object schema; like PostgREST, an empty `required` is left out."""
    schema: JSON = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _property(table: Table, column: Column, foreign_keys: _Targets, schema: str) -> JSON:
    """One column of a definition, with PostgREST's primary and foreign key notes."""
    pg_type, max_length = _pg_type(column.data_type)
    prop = _typed(pg_type)
    if max_length is not None:
        prop["maxLength"] = max_length
    # A generated column's "default" in pg_attrdef is its generation expression.
    if column.default is not None and not column.generated:
        default = _default(prop.get("type"), column.default)
        if default is not None:
            prop["default"] = default
    notes = ["Note:"]
    if column.name in table.primary_key:
        notes.append("This is a Primary Key.<pk/>")
    if target := foreign_keys.get((table.name, column.name)):
        other, key = target
        notes.append(
            f"This is a Foreign Key to `{other}.{key}`.<fk table='{other}' column='{key}'/>"
        )
    if len(notes) > 1:
        prop["description"] = "\n".join(notes)
    return prop


def _definition(table: Table, foreign_keys: _Targets, schema: str) -> JSON:
    """A table's row: its columns and those an insert must give (not null, no default)."""
    columns = table.columns.values()
    return _object(
        {c.name: _property(table, c, foreign_keys, schema) for c in columns},
        [c.name for c in columns if not c.nullable and c.default is None and not c.generated],
    )


def _param(name: str, where: str = "query", required: bool = False, **extra: Any) -> JSON:
    """A parameter in the query or a header, a string unless `extra` says otherwise."""
    return {"name": name, "required": required, "in": where, "type": "string", **extra}


def _prefer(*values: str) -> JSON:
    """A `Prefer` header offering `values`."""
    enum = {"enum": list(values)} if values else {}
    return _param("Prefer", "header", description="Preference", **enum)


def _parameters(tables: list[Table]) -> JSON:
    """The shared parameters paths refer to: PostgREST's fixed ones, then per table its body
    and one row filter per column."""
    parameters: JSON = {
        "preferParams": _prefer(),
        "preferReturn": _prefer(*_RETURN),
        "preferCount": _prefer(*_COUNT),
        "preferPost": _prefer(*_RETURN, *_RESOLUTION),
        "select": _param("select", description="Filtering Columns"),
        "on_conflict": _param("on_conflict", description="On Conflict"),
        "order": _param("order", description="Ordering"),
        "range": _param("Range", "header", description=_PAGING),
        "rangeUnit": _param("Range-Unit", "header", description=_PAGING, default="items"),
        "offset": _param("offset", description=_PAGING),
        "limit": _param("limit", description=_PAGING),
    }
    for table in tables:
        name, row = table.name, {"$ref": f"#/definitions/{table.name}"}
        body = {"name": name, "description": name, "required": False, "in": "body", "schema": row}
        parameters[f"body.{name}"] = body
        for column in table.columns:
            parameters[f"rowFilter.{name}.{column}"] = _param(column)
    return parameters


def _operation(tags: list[str], parameters: list[str], responses: JSON) -> JSON:
    """An operation whose parameters are all references to the shared ones."""
    refs = [{"$ref": f"#/parameters/{name}"} for name in parameters]
    return {"tags": tags, "parameters": refs, "responses": responses}


def _root_path() -> JSON:
    """`/`: this document."""
    return {
        "get": {
            "tags": ["Introspection"],
            "summary": "OpenAPI description (this document)",
            "produces": ["application/openapi+json", "application/json"],
            "responses": {"200": {"description": "OK"}},
        }
    }


def _table_path(table: Table) -> JSON:
    """`/<table>`: read it, and for a table (a view may not be updatable) write it."""
    name, tags = table.name, [table.name]
    filters = [f"rowFilter.{name}.{column}" for column in table.columns]
    rows = {"type": "array", "items": {"$ref": f"#/definitions/{name}"}}
    read = [*filters, "select", "order", "range", "rangeUnit", "offset", "limit", "preferCount"]
    ok = {"200": {"description": "OK", "schema": rows}, "206": {"description": "Partial Content"}}
    item = {"get": _operation(tags, read, ok)}
    if not table.is_view:
        no_content = {"204": {"description": "No Content"}}
        item["post"] = _operation(
            tags, [f"body.{name}", "select", "preferPost"], {"201": {"description": "Created"}}
        )
        item["patch"] = _operation(tags, [*filters, f"body.{name}", "preferReturn"], no_content)
        item["delete"] = _operation(tags, [*filters, "preferReturn"], no_content)
    return item


def _rpc_functions(cache: SchemaCache) -> list[Function]:
    """The callable functions by name, the first overload of each (one path per name)."""
    found = []
    for name in sorted(cache.functions):
        overloads = [fn for fn in cache.functions[name] if fn.return_type not in _NOT_CALLABLE]
        found.extend(overloads[:1])
    return found


def _rpc_path(fn: Function, schema: str) -> JSON:
    """`/rpc/<fn>`: POST with the arguments as a JSON object and, unless the function is
    volatile (GET runs read-only), GET with them in the query string."""
    needed = len(fn.arg_types) - fn.defaults
    # arg_names may also list OUT arguments after the inputs: zip stops at the inputs.
    args = [
        (name, _pg_type(data_type)[0], position < needed)
        for position, (name, data_type) in enumerate(zip(fn.arg_names, fn.arg_types, strict=False))
        if name
    ]
    operation: JSON = {
        "tags": [f"(rpc) {fn.name}"],
        "produces": ["application/json", "application/vnd.pgrst.object+json"],
        "responses": {"200": {"description": "OK"}},
    }
    body = _object(
        {name: _typed(pg_type) for name, pg_type, _ in args},
        [name for name, _, required in args if required],
    )
    args_param = {"name": "args", "required": True, "in": "body", "schema": body}
    item = {
        "post": {**operation, "parameters": [args_param, {"$ref": "#/parameters/preferParams"}]}
    }
    if fn.volatility != "v":
        query = [
            _param(name, required=required, format=pg_type, type=_query_type(pg_type))
            for name, pg_type, required in args
        ]
        item["get"] = {**operation, "parameters": query}
    return item
