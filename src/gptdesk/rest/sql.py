"""SQL for a read plan: one statement whose single row carries the JSON body PostgreSQL built.

Pure. Identifiers come from the plan (so from the schema cache) and are quoted; every value
a client sent is a bind parameter, cast to the type of what it is compared with, so a bad
value is PostgreSQL's 22P02 and never part of the SQL text.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from gptdesk.rest.plan import (
    Condition,
    Embed,
    EmbedIsNull,
    Expr,
    Output,
    Predicate,
    ReadNode,
    Tree,
)

_COMPARE = {
    "eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
    "isdistinct": "is distinct from", "cs": "@>", "cd": "<@", "ov": "&&", "sl": "<<",
    "sr": ">>", "nxr": "&<", "nxl": "&>", "adj": "-|-",
}  # fmt: skip
_TEXT_MATCH = {"like": "like", "ilike": "ilike", "match": "~", "imatch": "~*"}
_TS_QUERY = {
    "fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}  # fmt: skip
_IS = {"null": "null", "not_null": "not null", "true": "true", "false": "false"}
_TYPMOD = re.compile(r"\(\d+(?:,\d+)?\)")


def quote_ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def base_type(data_type: str) -> str:
    """A type without its modifier, so a cast of a value never truncates it."""
    return _TYPMOD.sub("", data_type)


@dataclass
class Statement:
    """SQL text and its bind parameters, built up as the plan is rendered."""

    sql: str = ""
    params: list[Any] = field(default_factory=list)
    aliases: int = 0

    def param(self, value: Any, sql_type: str) -> str:
        """A placeholder for `value`, cast to `sql_type`."""
        self.params.append(value)
        return f"${len(self.params)}::{sql_type}"

    def alias(self) -> str:
        """A fresh table alias."""
        self.aliases += 1
        return f"pgrst_{self.aliases}"


def expr_sql(alias: str, expr: Expr, statement: Statement) -> str:
    """`alias."column"->'key'->>'key'` with the keys as parameters."""
    sql = f"{alias}.{quote_ident(expr.column.name)}"
    for step in expr.json_path:
        key = step.key
        is_index = key.lstrip("-").isdigit() and len(key) < 10
        placeholder = statement.param(int(key), "int") if is_index else statement.param(key, "text")
        sql = f"({sql}{'->>' if step.as_text else '->'}{placeholder})"
    return sql


def _comparable(alias: str, expr: Expr, statement: Statement) -> str:
    sql = expr_sql(alias, expr, statement)
    return f"{sql}::jsonb" if expr.json_path and not expr.json_path[-1].as_text else sql


def condition_sql(alias: str, condition: Condition, statement: Statement) -> str:
    """One horizontal filter as a boolean SQL expression."""
    operation = condition.operation
    operator = operation.operator
    lhs = _comparable(alias, condition.expr, statement)
    value_type = base_type(condition.expr.value_type)
    if operator == "is":
        sql = f"{lhs} is {_IS.get(str(operation.value), 'unknown')}"
    elif operator == "in":
        sql = f"{lhs} = any({statement.param(list(operation.value), 'text[]')}::{value_type}[])"
    elif operator in _TEXT_MATCH and operation.quantifier:
        values = statement.param(list(operation.value), "text[]")
        sql = f"{lhs}::text {_TEXT_MATCH[operator]} {operation.quantifier}({values})"
    elif operation.quantifier:
        values = statement.param(list(operation.value), "text[]")
        sql = f"{lhs} {_COMPARE[operator]} {operation.quantifier}({values}::{value_type}[])"
    elif operator in _TEXT_MATCH:
        sql = f"{lhs}::text {_TEXT_MATCH[operator]} {statement.param(operation.value, 'text')}"
    elif operator in _TS_QUERY:
        # The configuration was checked against the schema cache; a literal lets the query
        # use an expression index such as to_tsvector('english', content).
        config = f"'{operation.fts_config}'::regconfig, " if operation.fts_config else ""
        is_vector = condition.expr.column.type_name == "tsvector" and not condition.expr.json_path
        vector = lhs if is_vector else f"to_tsvector({config}{lhs})"
        query = f"{_TS_QUERY[operator]}({config}{statement.param(operation.value, 'text')})"
        sql = f"{vector} @@ {query}"
    else:
        value = statement.param(operation.value, "text")
        sql = f"{lhs} {_COMPARE[operator]} {value}::{value_type}"
    return f"not ({sql})" if operation.negated else sql


def predicate_sql(
    alias: str, predicate: Predicate, laterals: dict[str, str], statement: Statement
) -> str:
    """A condition, an embed null check or an and/or tree."""
    if isinstance(predicate, Condition):
        return condition_sql(alias, predicate, statement)
    if isinstance(predicate, EmbedIsNull):
        return f"{laterals[predicate.embed]} is {'not ' if predicate.negated else ''}null"
    joiner = f" {predicate.operator} "
    parts = [predicate_sql(alias, child, laterals, statement) for child in predicate.children]
    sql = "(" + joiner.join(parts) + ")"
    return f"not {sql}" if predicate.negated else sql


def _null_checked(predicates: tuple[Predicate, ...]) -> set[str]:
    """The embeds a node's filters test for rows."""
    keys: set[str] = set()
    for predicate in predicates:
        if isinstance(predicate, EmbedIsNull):
            keys.add(predicate.embed)
        elif isinstance(predicate, Tree):
            keys |= _null_checked(predicate.children)
    return keys


def _output_keys(node: ReadNode) -> list[str]:
    keys: list[str] = []
    for output in node.outputs:
        if isinstance(output, Embed) and output.spread:
            keys.extend(_output_keys(output.node))
        else:
            keys.append(output.key)
    return keys


def _join(alias: str, parent: tuple[str, Embed] | None, schema: str) -> list[str]:
    """How a child's rows join its parent: key columns, or through a junction table."""
    if parent is None:
        return []
    parent_alias, embed = parent
    junction = embed.relationship.junction
    if junction is None:
        return [
            f"{alias}.{quote_ident(child)} = {parent_alias}.{quote_ident(mine)}"
            for mine, child in embed.relationship.pairs
        ]
    link = f"{alias}_j"
    conditions = [
        f"{link}.{quote_ident(j)} = {parent_alias}.{quote_ident(mine)}"
        for mine, j in junction.parent_pairs
    ] + [
        f"{link}.{quote_ident(j)} = {alias}.{quote_ident(theirs)}"
        for theirs, j in junction.target_pairs
    ]
    table = f"{quote_ident(schema)}.{quote_ident(junction.table)}"
    return [f"exists (select from {table} {link} where {' and '.join(conditions)})"]


def node_sql(
    node: ReadNode,
    statement: Statement,
    *,
    schema: str,
    parent: tuple[str, Embed] | None = None,
    source: str | None = None,
    paged: bool = True,
    positional: bool = False,
) -> str:
    """`select … from table … where … order by … limit …` for one node and its embeds.

    `paged=False` renders the rows for counting: no columns, no order or page, and only the
    embeds a filter needs (`!inner`, `rel=not.is.null`). `positional` names the columns
    `pgrst_c1…` (a spread's parent picks them by position, so keys may repeat).
    """
    alias = statement.alias()
    columns: list[tuple[str, str]] = []  # (SQL, JSON key)
    joins: list[str] = []
    found: dict[str, str] = {}  # embed key -> the SQL that is null when it has no rows
    needed = None if paged else _null_checked(node.where)
    for output in node.outputs:
        if isinstance(output, Output):
            if paged:
                sql = expr_sql(alias, output.expr, statement)
                cast = f"::{output.cast}" if output.cast else ""
                columns.append((f"{sql}{cast}", output.key))
            continue
        if needed is not None and output.key not in needed:
            continue
        lateral, rows = statement.alias(), statement.alias()
        child = node_sql(
            output.node, statement, schema=schema, parent=(alias, output), positional=output.spread
        )
        if output.spread:
            body = f"select true as pgrst_found, {rows}.* from ({child}) {rows}"
            keys = _output_keys(output.node)
            columns.extend((f"{lateral}.pgrst_c{i}", k) for i, k in enumerate(keys, 1))
            found[output.key] = f"{lateral}.pgrst_found"
        elif output.relationship.to_one:
            body = f"select row_to_json({rows}) as body from ({child}) {rows}"
            columns.append((f"{lateral}.body", output.key))
            found[output.key] = f"{lateral}.body"
        else:
            body = f"select json_agg({rows}) as body from ({child}) {rows}"
            columns.append((f"coalesce({lateral}.body, '[]')", output.key))
            found[output.key] = f"{lateral}.body"
        joins.append(f"left join lateral ({body}) {lateral} on true")
    if not paged:
        columns = []
    table = source or f"{quote_ident(schema)}.{quote_ident(node.table.name)}"
    where = _join(alias, parent, schema) + [
        predicate_sql(alias, p, found, statement) for p in node.where
    ]
    names = [
        f"pgrst_c{i}" if positional else quote_ident(key) for i, (_, key) in enumerate(columns, 1)
    ]
    listed = ", ".join(f"{sql} as {name}" for (sql, _), name in zip(columns, names, strict=True))
    sql = f"select {listed or 'null'} from {table} {alias}"
    if joins:
        sql += " " + " ".join(joins)
    if where:
        sql += " where " + " and ".join(where)
    if node.order and paged:
        sql += " order by " + ", ".join(
            _order_sql(alias, term, schema, statement) for term in node.order
        )
    if paged and node.page.limit is not None:
        sql += f" limit {statement.param(node.page.limit, 'bigint')}"
    if paged and node.page.offset:
        sql += f" offset {statement.param(node.page.offset, 'bigint')}"
    return sql


def _order_sql(alias: str, term: Any, schema: str, statement: Statement) -> str:
    if term.related is None:
        sql = expr_sql(alias, term.expr, statement)
    else:
        related = statement.alias()
        table = f"{quote_ident(schema)}.{quote_ident(term.related.node.table.name)}"
        condition = " and ".join(_join(related, (alias, term.related), schema))
        value = expr_sql(related, term.expr, statement)
        sql = f"(select {value} from {table} {related} where {condition})"
    sql += " desc" if term.descending else " asc"
    if term.nulls_first is not None:
        sql += " nulls first" if term.nulls_first else " nulls last"
    return sql


def read_sql(
    node: ReadNode,
    *,
    schema: str,
    count: bool = False,
    strip_nulls: bool = False,
    csv: bool = False,
    source: str | None = None,
    statement: Statement | None = None,
    total: str | None = None,
    inserted: str | None = None,
) -> Statement:
    """The read as one row: (total or null, rows on the page, body as text).

    `source` reads from a CTE instead of the table (a write's RETURNING rows), continuing
    `statement`'s parameters; `total` is the SQL that counts them and `inserted` the SQL
    telling whether an upsert inserted any (rather than only updated).
    """
    statement = statement or Statement()
    page = node_sql(node, statement, schema=schema, source=source)
    if total is None and count:
        everything = node_sql(node, statement, schema=schema, source=source, paged=False)
        total = f"(select count(*) from ({everything}) pgrst_all)"
    body = _csv_body() if csv else "coalesce(json_agg(pgrst_row), '[]')"
    if strip_nulls and not csv:
        body = f"json_strip_nulls({body})"
    statement.sql = (
        f"select {total or 'null::bigint'} as total, count(*) as page_total, "
        f"{body}::text as body, {inserted or 'null::boolean'} as inserted "
        f"from ({page}) pgrst_row"
    )
    return statement


def _csv_body() -> str:
    """CSV as PostgREST writes it: a header of the keys, then each row in PostgreSQL's text
    form (the composite literal without its parentheses: quoted where it must be)."""
    header = "(select string_agg(k, ',') from json_object_keys(row_to_json(pgrst_row)) k)"
    line = "substr(pgrst_row::text, 2, length(pgrst_row::text) - 2)"
    return f"coalesce(min({header}), '') || E'\\n' || coalesce(string_agg({line}, E'\\n'), '')"
