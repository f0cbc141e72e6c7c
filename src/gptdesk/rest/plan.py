"""The read plan: a parsed query checked against the schema cache, every name resolved.

Pure. Every column, table, relationship, cast and text search configuration a request
names is looked up here; what is not in the schema cache is refused with PostgREST's error,
so the SQL builder only ever sees names that exist.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from gptdesk.rest.ast import (
    Field,
    Filter,
    JsonStep,
    Logic,
    Operation,
    OrderTerm,
    SelectEmbed,
    SelectField,
    SelectItem,
    SelectStar,
)
from gptdesk.rest.errors import RestError
from gptdesk.rest.preferences import Page
from gptdesk.rest.query import Path, Query
from gptdesk.rest.relationships import Relationship, find_relationship
from gptdesk.rest.schema_cache import TYPE_ALIASES, Column, SchemaCache, Table


@dataclass(frozen=True)
class Expr:
    """A column of the node's table, possibly followed by a JSON path."""

    column: Column
    json_path: tuple[JsonStep, ...] = ()

    @property
    def value_type(self) -> str:
        """The SQL type a value compared with this expression is cast to."""
        if not self.json_path:
            return self.column.data_type
        return "text" if self.json_path[-1].as_text else "jsonb"


@dataclass(frozen=True)
class Condition:
    """`expr <operation>` (fts_config already checked against the cache)."""

    expr: Expr
    operation: Operation


@dataclass(frozen=True)
class EmbedIsNull:
    """`rel=is.null` / `rel=not.is.null`: whether a parent row has the embedded rows."""

    embed: str
    negated: bool


@dataclass(frozen=True)
class Tree:
    """`and(…)` / `or(…)` of conditions."""

    operator: str
    children: tuple["Predicate", ...]
    negated: bool = False


Predicate = Condition | EmbedIsNull | Tree


@dataclass(frozen=True)
class Output:
    """A selected column: its JSON key and, when `::cast`, the qualified type."""

    expr: Expr
    key: str
    cast: str | None = None


@dataclass(frozen=True)
class OrderBy:
    """One ORDER BY term; `related` orders by a to-one embed's column."""

    expr: Expr
    descending: bool
    nulls_first: bool | None
    related: "Embed | None" = None


@dataclass(frozen=True)
class ReadNode:
    """One table of the read: the requested one, or an embed of its parent."""

    table: Table
    outputs: tuple["Output | Embed", ...]
    where: tuple[Predicate, ...] = ()
    order: tuple[OrderBy, ...] = ()
    page: Page = field(default_factory=Page)


@dataclass(frozen=True)
class Embed:
    """An embedded resource: the child node and how it joins its parent."""

    key: str  # its JSON key (alias or relation name)
    names: frozenset[str]  # what filters/order parameters may call it (alias, relation)
    node: ReadNode
    relationship: Relationship
    inner: bool = False
    spread: bool = False


def resolve_column(table: Table, name: str) -> Column:
    """The column `name` of `table`, or PostgreSQL's 42703 as PostgREST reports it."""
    column = table.columns.get(name)
    if column is None:
        raise RestError(400, "42703", f"column {table.name}.{name} does not exist")
    return column


def resolve_cast(cache: SchemaCache, cast: str) -> str:
    """The qualified type of a `::cast`, or 42704."""
    name = cast.strip().lower()
    qualified = cache.types.get(TYPE_ALIASES.get(name, name))
    if qualified is None:
        raise RestError(400, "42704", f'type "{cast}" does not exist')
    return qualified


def _expr(table: Table, field_: Field) -> Expr:
    return Expr(resolve_column(table, field_.name), field_.json_path)


class _Planner:
    """Plans one read; holds the per-request parameters that apply to embeds."""

    def __init__(self, cache: SchemaCache, query: Query, max_rows: int | None) -> None:
        self.cache = cache
        self.query = query
        self.max_rows = max_rows
        self.used_paths: set[Path] = set()

    def node(
        self, table: Table, select: tuple[SelectItem, ...], path: Path, filters: list
    ) -> ReadNode:
        outputs: list[Output | Embed] = []
        embeds: dict[str, Embed] = {}
        for item in select:
            if isinstance(item, SelectStar):
                outputs.extend(Output(Expr(c), c.name) for c in table.columns.values())
            elif isinstance(item, SelectField):
                outputs.append(self._output(table, item))
            else:
                embed = self._embed(table, item, path, filters)
                outputs.append(embed)
                for name in embed.names:
                    embeds.setdefault(name, embed)
        mine = [f for f in filters if f.embed_path == path]
        where = tuple(self._predicate(table, f, embeds) for f in mine)
        where += tuple(EmbedIsNull(e.key, True) for e in embeds.values() if e.inner)
        order = tuple(self._order(table, t, embeds) for t in self.query.orders.get(path, ()))
        page = self.query.pages.get(path, Page())
        if path == () and self.max_rows is not None:
            limit = self.max_rows if page.limit is None else min(page.limit, self.max_rows)
            page = Page(page.offset, limit)
        self.used_paths.add(path)
        return ReadNode(table, tuple(outputs), where, order, page)

    def _output(self, table: Table, item: SelectField) -> Output:
        expr = _expr(table, item.field)
        key = item.alias or (item.field.json_path[-1].key if item.field.json_path else None)
        cast = resolve_cast(self.cache, item.cast) if item.cast else None
        return Output(expr, key or item.field.name, cast)

    def _embed(self, table: Table, item: SelectEmbed, path: Path, filters: list) -> Embed:
        relationship = find_relationship(self.cache, table.name, item.relation, item.hint)
        if item.spread and not relationship.to_one:
            raise RestError(
                400,
                "PGRST119",
                f"A spread operation on '{item.relation}' is not possible",
                f"'{table.name}' and '{item.relation}' do not form a many-to-one or one-to-one "
                "relationship",
            )
        key = item.alias or item.relation
        child_path = (*path, key)
        # Parameters may name an embed by its alias or its relation (deprecated, still sent).
        names = frozenset({key, item.relation})
        for name in names - {key}:
            alias_path = (*path, name)
            filters[:] = [
                _renamed(f, alias_path, child_path) if f.embed_path[: len(alias_path)] == alias_path
                else f
                for f in filters
            ]  # fmt: skip
            for mapping in (self.query.orders, self.query.pages):
                if alias_path in mapping and child_path not in mapping:
                    mapping[child_path] = mapping[alias_path]  # type: ignore[index]
                    self.used_paths.add(alias_path)
        target = self.cache.tables[relationship.target]
        node = self.node(target, item.children, child_path, filters)
        return Embed(key, names, node, relationship, item.join == "inner", item.spread)

    def _predicate(self, table: Table, item: Filter | Logic, embeds: Mapping[str, Embed]):
        if isinstance(item, Logic):
            children = tuple(self._predicate(table, child, embeds) for child in item.children)
            return Tree(item.operator, children, item.negated)
        operation = item.operation
        name = item.field.name
        if name in embeds and not item.field.json_path and name not in table.columns:
            if operation.operator != "is" or operation.value not in ("null", "not_null"):
                raise RestError(
                    400,
                    "PGRST120",
                    "Bad operator on the '" + name + "' embedded resource",
                    "Only is null or not is null filters are allowed on embedded resources",
                )
            is_null = (operation.value == "null") != operation.negated
            return EmbedIsNull(embeds[name].key, not is_null)
        if operation.fts_config and operation.fts_config not in self.cache.text_search_configs:
            raise RestError(
                400, "42704", f'text search configuration "{operation.fts_config}" does not exist'
            )
        return Condition(_expr(table, item.field), operation)

    def _order(self, table: Table, term: OrderTerm, embeds: Mapping[str, Embed]) -> OrderBy:
        if term.relation is None:
            return OrderBy(_expr(table, term.field), term.descending, term.nulls_first)
        embed = embeds.get(term.relation)
        if embed is None:
            raise _not_embedded(term.relation)
        if not embed.relationship.to_one:
            raise RestError(
                400,
                "PGRST118",
                f"A related order on '{term.relation}' is not possible",
                f"'{table.name}' and '{term.relation}' do not form a many-to-one or one-to-one "
                "relationship",
            )
        expr = _expr(embed.node.table, term.field)
        return OrderBy(expr, term.descending, term.nulls_first, embed)


def _renamed(item: Filter | Logic, old: Path, new: Path) -> Filter | Logic:
    path = new + item.embed_path[len(old) :]
    if isinstance(item, Filter):
        return Filter(item.field, item.operation, path)
    return Logic(item.operator, item.children, item.negated, path)


def _not_embedded(name: str) -> RestError:
    return RestError(
        400,
        "PGRST108",
        f"'{name}' is not an embedded resource in this request",
        None,
        f"Verify that '{name}' is included in the 'select' query parameter.",
    )


def resolve_table(cache: SchemaCache, name: str) -> Table:
    """The exposed table or view `name`, or PGRST205."""
    table = cache.tables.get(name)
    if table is None:
        raise RestError(
            404,
            "PGRST205",
            f"Could not find the table '{cache.schema}.{name}' in the schema cache",
        )
    return table


def plan_read(
    cache: SchemaCache, table: Table, query: Query, *, max_rows: int | None = None
) -> ReadNode:
    """The read of `table` the query asks for; RestError when it names what does not exist."""
    planner = _Planner(
        cache,
        Query(
            query.select, query.filters, dict(query.orders), dict(query.pages),
            query.columns, query.on_conflict, query.arguments, query.select_given,
        ),
        max_rows,
    )  # fmt: skip
    filters = list(query.filters)
    root = planner.node(table, query.select, (), filters)
    used = planner.used_paths
    for item in filters:
        if item.embed_path not in used:
            raise _not_embedded(item.embed_path[-1])
    for path in (*query.orders, *query.pages):
        if path not in used:
            raise _not_embedded(path[-1])
    return root


def plan_filters(cache: SchemaCache, table: Table, query: Query) -> tuple[Predicate, ...]:
    """The filters of an update or delete (on the table itself: nothing is embedded)."""
    planner = _Planner(cache, query, None)
    for item in query.filters:
        if item.embed_path:
            raise _not_embedded(item.embed_path[-1])
    return tuple(planner._predicate(table, item, {}) for item in query.filters)
