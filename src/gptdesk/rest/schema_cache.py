"""The schema cache: tables, views, columns, keys, relationships and functions of `public`.

Loaded from the catalogs (which every role may read) at start and again after migrations or
a `NOTIFY pgrst, 'reload schema'`; the planner takes identifiers only from here, so no name a
client sends reaches SQL unless it names something that exists.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import asyncpg

EXPOSED_SCHEMA = "public"

_COLUMNS = """
select c.relname as table_name, c.relkind::text as kind, a.attname as column_name,
       format_type(a.atttypid, a.atttypmod) as data_type, t.typname as type_name,
       not a.attnotnull as nullable, pg_get_expr(d.adbin, d.adrelid) as default_expr,
       a.attnum as position, a.attgenerated <> '' as generated
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
join pg_type t on t.oid = a.atttypid
left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where n.nspname = $1 and c.relkind in ('r', 'v', 'm', 'p', 'f')
  and c.relname <> 'schema_migrations'  -- the migration runner's ledger, not an API
order by c.relname, a.attnum
"""

_PRIMARY_KEYS = """
select c.relname as table_name, array_agg(a.attname order by k.ord) as columns
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
cross join lateral unnest(con.conkey) with ordinality as k(attnum, ord)
join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
where n.nspname = $1 and con.contype = 'p'
group by c.relname
"""

_FOREIGN_KEYS = """
select con.conname as name, c.relname as table_name, fc.relname as foreign_table,
       array_agg(a.attname order by k.ord) as columns,
       array_agg(fa.attname order by k.ord) as foreign_columns
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_class fc on fc.oid = con.confrelid
join pg_namespace fn on fn.oid = fc.relnamespace
cross join lateral unnest(con.conkey, con.confkey) with ordinality as k(attnum, fattnum, ord)
join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
join pg_attribute fa on fa.attrelid = fc.oid and fa.attnum = k.fattnum
where n.nspname = $1 and fn.nspname = $1 and con.contype = 'f'
group by con.conname, c.relname, fc.relname
"""

_FUNCTIONS = """
select p.proname as name, p.provolatile::text as volatility, p.proretset as returns_set,
       format_type(p.prorettype, null) as return_type,
       (select c.relname from pg_class c
         where c.oid = t.typrelid and c.relnamespace = p.pronamespace) as return_table,
       coalesce(p.proargnames, '{}') as arg_names,
       coalesce(p.proargmodes::text[], '{}') as arg_modes,
       array(select format_type(x, null)
               from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]))
                    with ordinality u(x, i) order by i) as arg_types,
       p.pronargdefaults as defaults
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type t on t.oid = p.prorettype
where n.nspname = $1 and p.prokind = 'f' and t.typname not in ('trigger', 'event_trigger')
  and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
order by p.proname
"""

# Types a `::cast` in select= may name, and the text search configurations fts may use:
# names a client sends reach SQL only when they are found here.
_TYPES = """
select n.nspname as schema, t.typname as name
from pg_type t join pg_namespace n on n.oid = t.typnamespace
where n.nspname in ('pg_catalog', $1) and t.typtype in ('b', 'e', 'd', 'r', 'm')
  and t.typelem = 0 and t.typisdefined
  and t.typname !~ '^reg'  -- regclass & co. would look names up past the schema cache
"""

_TEXT_SEARCH_CONFIGS = """
select c.cfgname from pg_ts_config c join pg_namespace n on n.oid = c.cfgnamespace
where n.nspname in ('pg_catalog', $1)
"""

# The SQL-standard spellings of common types, as a cast in select= may write them.
TYPE_ALIASES = {
    "int": "int4", "integer": "int4", "smallint": "int2", "bigint": "int8", "real": "float4",
    "float": "float8", "double precision": "float8", "boolean": "bool", "decimal": "numeric",
    "character varying": "varchar", "char": "bpchar", "character": "bpchar",
}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """A column: its SQL type (for casting filter values), nullability, default."""

    name: str
    data_type: str
    type_name: str
    nullable: bool
    default: str | None
    generated: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key from `table` (columns) to `foreign_table` (foreign_columns)."""

    name: str
    table: str
    columns: tuple[str, ...]
    foreign_table: str
    foreign_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table or view and what the planner needs of it."""

    name: str
    is_view: bool
    columns: Mapping[str, Column]
    primary_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class Function:
    """A function callable through /rpc: its arguments and what it returns."""

    name: str
    arg_names: tuple[str, ...]  # the input arguments, in order
    arg_types: tuple[str, ...]
    defaults: int  # how many of the last input arguments have defaults
    return_type: str
    returns_set: bool
    volatility: str  # i(mmutable), s(table), v(olatile)
    return_table: str | None = None  # the exposed table whose rows it returns, if any
    out_names: tuple[str, ...] = ()  # the columns of `returns table (…)`
    out_types: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        """The input arguments without a default."""
        return self.arg_names[: len(self.arg_names) - self.defaults]


@dataclass(frozen=True)
class SchemaCache:
    """Everything exposed in one schema, immutable once loaded."""

    schema: str
    tables: Mapping[str, Table]
    foreign_keys: tuple[ForeignKey, ...]
    functions: Mapping[str, tuple[Function, ...]] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)  # type name -> qualified name
    text_search_configs: frozenset[str] = frozenset()

    def relationships(self, table: str, other: str) -> list[ForeignKey]:
        """Foreign keys joining `table` and `other`, in either direction."""
        return [
            fk
            for fk in self.foreign_keys
            if (fk.table, fk.foreign_table) in ((table, other), (other, table))
        ]


async def load_schema_cache(conn: asyncpg.Connection, schema: str = EXPOSED_SCHEMA) -> SchemaCache:
    """Read the catalogs of `schema` into a SchemaCache.

    Read with an empty search_path, so every type and default names its schema and means
    the same thing whatever the search_path of the request that uses it.
    """
    async with conn.transaction(readonly=True):
        await conn.execute("set local search_path = ''")
        return await _load(conn, schema)


async def _load(conn: asyncpg.Connection, schema: str) -> SchemaCache:
    columns: dict[str, dict[str, Column]] = {}
    kinds: dict[str, str] = {}
    for row in await conn.fetch(_COLUMNS, schema):
        kinds[row["table_name"]] = row["kind"]
        columns.setdefault(row["table_name"], {})[row["column_name"]] = Column(
            row["column_name"],
            row["data_type"],
            row["type_name"],
            row["nullable"],
            row["default_expr"],
            row["generated"],
        )
    keys = {r["table_name"]: tuple(r["columns"]) for r in await conn.fetch(_PRIMARY_KEYS, schema)}
    tables = {
        name: Table(name, kinds[name] in ("v", "m"), MappingProxyType(cols), keys.get(name, ()))
        for name, cols in columns.items()
    }
    foreign_keys = tuple(
        ForeignKey(
            r["name"], r["table_name"], tuple(r["columns"]), r["foreign_table"],
            tuple(r["foreign_columns"]),
        )
        for r in await conn.fetch(_FOREIGN_KEYS, schema)
    )  # fmt: skip
    functions: dict[str, list[Function]] = {}
    for r in await conn.fetch(_FUNCTIONS, schema):
        functions.setdefault(r["name"], []).append(_function(r))
    types = {r["name"]: f'"{r["schema"]}"."{r["name"]}"' for r in await conn.fetch(_TYPES, schema)}
    configs = frozenset(r["cfgname"] for r in await conn.fetch(_TEXT_SEARCH_CONFIGS, schema))
    return SchemaCache(
        schema,
        MappingProxyType(tables),
        foreign_keys,
        MappingProxyType({name: tuple(found) for name, found in functions.items()}),
        MappingProxyType(types),
        configs,
    )


def _function(row: asyncpg.Record) -> Function:
    """A catalog row as a Function: input arguments apart from `returns table` columns."""
    types = tuple(row["arg_types"])
    modes = tuple(row["arg_modes"]) or ("i",) * len(types)
    names = tuple(row["arg_names"]) or ("",) * len(types)
    inputs = [i for i, mode in enumerate(modes) if mode in ("i", "b", "v")]
    outputs = [i for i, mode in enumerate(modes) if mode in ("o", "b", "t")]
    return Function(
        row["name"],
        tuple(names[i] for i in inputs),
        tuple(types[i] for i in inputs),
        row["defaults"],
        row["return_type"],
        row["returns_set"],
        row["volatility"],
        row["return_table"],
        tuple(names[i] for i in outputs),
        tuple(types[i] for i in outputs),
    )
