"""Insert, upsert, update and delete: the body checked against the schema cache, then SQL.

Pure. The JSON body travels to PostgreSQL as one parameter and is spread into columns
there (`jsonb_populate_record`), so arrays, JSON and enums arrive as PostgreSQL parses
them. A representation is a read over the statement's RETURNING rows, so `select=` with
embeds works on what was written, as in PostgREST.
"""

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from gptdesk.rest.errors import RestError
from gptdesk.rest.plan import Predicate, ReadNode
from gptdesk.rest.preferences import Preferences
from gptdesk.rest.schema_cache import Column, Table
from gptdesk.rest.sql import Statement, predicate_sql, quote_ident, read_sql

Kind = Literal["insert", "update", "delete"]
SOURCE = "pgrst_source"


@dataclass(frozen=True)
class Mutation:
    """One write: its kind, the table, the columns the body sets and the rows it touches."""

    kind: Kind
    table: Table
    columns: tuple[Column, ...] = ()
    body: str = "[]"  # JSON text: an array of objects (insert) or one object (update)
    where: tuple[Predicate, ...] = ()
    on_conflict: tuple[str, ...] = ()
    resolution: str | None = None
    missing_default: bool = False


def _invalid_body(details: str | None = None) -> RestError:
    return RestError(400, "PGRST102", "Empty or invalid json", details)


def _rows(body: bytes, kind: Kind) -> list[dict[str, Any]]:
    try:
        parsed = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError as exc:
        raise _invalid_body(str(exc)) from None
    if kind == "update":
        if not isinstance(parsed, dict):
            raise _invalid_body("an update takes one JSON object")
        return [parsed]
    rows = parsed if isinstance(parsed, list) else [parsed]
    if not all(isinstance(row, dict) for row in rows):
        raise _invalid_body("expected a JSON object or an array of objects")
    return rows


def _columns(table: Table, names: tuple[str, ...]) -> tuple[Column, ...]:
    for name in names:
        if name not in table.columns:
            raise RestError(
                400,
                "PGRST204",
                f"Could not find the '{name}' column of '{table.name}' in the schema cache",
            )
    return tuple(table.columns[name] for name in names)


def plan_write(
    table: Table,
    kind: Kind,
    body: bytes,
    *,
    columns: tuple[str, ...] | None,
    on_conflict: tuple[str, ...] | None,
    where: tuple[Predicate, ...],
    preferences: Preferences,
) -> Mutation:
    """The write a request asks for; PGRST102 / PGRST204 / 21000 when it cannot be done."""
    if kind == "delete":
        if not where:
            raise _unfiltered("DELETE")
        return Mutation("delete", table, where=where)
    rows = _rows(body, kind)
    if columns is None:
        keys = tuple(rows[0]) if rows else ()
        if any(set(row) != set(keys) for row in rows[1:]):
            raise RestError(400, "PGRST102", "All object keys must match")
        columns = keys
    text = body.decode() if kind == "update" or body.lstrip()[:1] == b"[" else f"[{body.decode()}]"
    if kind == "update":
        if not where:
            raise _unfiltered("UPDATE")
        return Mutation("update", table, _columns(table, columns), text, where)
    if preferences.resolution and on_conflict is None:
        on_conflict = table.primary_key
        if not on_conflict:
            raise RestError(
                400, "PGRST102", f"Table '{table.name}' has no primary key to upsert on"
            )
    if on_conflict:
        _columns(table, on_conflict)
    return Mutation(
        "insert",
        table,
        _columns(table, columns),
        text,
        on_conflict=on_conflict or (),
        resolution=preferences.resolution,
        missing_default=preferences.missing_default,
    )


def _unfiltered(command: str) -> RestError:
    return RestError(
        400,
        "21000",
        f"{command} requires a WHERE clause",
        None,
        "Add a filter; to touch every row on purpose, filter on a column that is never "
        "null, such as id=not.is.null",
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _insert_sql(mutation: Mutation, statement: Statement, table_sql: str) -> str:
    record = f"jsonb_populate_record(null::{table_sql}, pgrst_e.j)"
    values = []
    for column in mutation.columns:
        value = f"pgrst_p.{quote_ident(column.name)}"
        if mutation.missing_default:
            default = column.default or "null"
            value = f"case when pgrst_e.j ? {_literal(column.name)} then {value} else {default} end"
        values.append(value)
    names = ", ".join(quote_ident(c.name) for c in mutation.columns)
    body = statement.param(mutation.body, "text") + "::jsonb"
    sql = (
        f"insert into {table_sql} as pgrst_t ({names}) "
        f"select {', '.join(values)} from jsonb_array_elements({body}) with ordinality "
        f"pgrst_e(j, n) cross join lateral {record} pgrst_p order by pgrst_e.n"
    )
    if not mutation.columns:
        sql = (
            f"insert into {table_sql} as pgrst_t select from "
            f"jsonb_array_elements({body}) pgrst_e(j)"
        )
    if mutation.on_conflict:
        target = ", ".join(quote_ident(name) for name in mutation.on_conflict)
        updates = [
            f"{quote_ident(c.name)} = excluded.{quote_ident(c.name)}"
            for c in mutation.columns
            if c.name not in mutation.on_conflict
        ]
        if mutation.resolution == "ignore-duplicates" or not updates:
            sql += f" on conflict ({target}) do nothing"
        else:
            sql += f" on conflict ({target}) do update set {', '.join(updates)}"
    return sql


def _command_sql(mutation: Mutation, statement: Statement, table_sql: str) -> str:
    if mutation.kind == "insert":
        return _insert_sql(mutation, statement, table_sql)
    if mutation.kind == "update" and not mutation.columns:  # `{}`: nothing changes
        return f"select pgrst_t.* from {table_sql} as pgrst_t where false"
    where = " and ".join(predicate_sql("pgrst_t", p, {}, statement) for p in mutation.where)
    if mutation.kind == "delete":
        return f"delete from {table_sql} as pgrst_t where {where}"
    body = statement.param(mutation.body, "text") + "::jsonb"
    sets = ", ".join(
        f"{quote_ident(c.name)} = pgrst_p.{quote_ident(c.name)}" for c in mutation.columns
    )
    return (
        f"update {table_sql} as pgrst_t set {sets} "
        f"from jsonb_populate_record(null::{table_sql}, {body}) pgrst_p where {where}"
    )


def write_sql(
    mutation: Mutation,
    *,
    schema: str,
    representation: ReadNode | None,
    count: bool = False,
    csv: bool = False,
) -> Statement:
    """The write; with a representation, one row (total, rows, body) read from RETURNING."""
    statement = Statement()
    table_sql = f"{quote_ident(schema)}.{quote_ident(mutation.table.name)}"
    sql = _command_sql(mutation, statement, table_sql)
    if representation is None:
        statement.sql = sql
        return statement
    merging = mutation.resolution == "merge-duplicates" and bool(mutation.on_conflict)
    inserted = None
    if merging:  # a row PostgreSQL inserted has no deleting transaction yet: xmax = 0
        sql += " returning pgrst_t.*, pgrst_t.xmax = 0 as pgrst_inserted"
        inserted = f"(select coalesce(bool_or(pgrst_inserted), false) from {SOURCE})"
    elif not sql.startswith("select"):
        sql += " returning pgrst_t.*"
    total = f"(select count(*) from {SOURCE})" if count else None
    read_sql(
        representation, schema=schema, csv=csv, source=SOURCE, statement=statement,
        total=total, inserted=inserted,
    )  # fmt: skip
    statement.sql = f"with {SOURCE} as ({sql}) {statement.sql}"
    return statement
