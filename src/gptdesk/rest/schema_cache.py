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
       coalesce(p.proargnames, '{}') as arg_names,
       coalesce(array(select format_type(t, null) from unnest(p.proargtypes) t), '{}')
         as arg_types,
       p.pronargdefaults as defaults
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
where n.nspname = $1 and p.prokind = 'f'
  and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
order by p.proname
"""


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
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]
    defaults: int
    return_type: str
    returns_set: bool
    volatility: str  # i(mmutable), s(table), v(olatile)


@dataclass(frozen=True)
class SchemaCache:
    """Everything exposed in one schema, immutable once loaded."""

    schema: str
    tables: Mapping[str, Table]
    foreign_keys: tuple[ForeignKey, ...]
    functions: Mapping[str, tuple[Function, ...]] = field(default_factory=dict)

    def relationships(self, table: str, other: str) -> list[ForeignKey]:
        """Foreign keys joining `table` and `other`, in either direction."""
        return [
            fk
            for fk in self.foreign_keys
            if (fk.table, fk.foreign_table) in ((table, other), (other, table))
        ]


async def load_schema_cache(conn: asyncpg.Connection, schema: str = EXPOSED_SCHEMA) -> SchemaCache:
    """Read the catalogs of `schema` into a SchemaCache."""
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
        functions.setdefault(r["name"], []).append(
            Function(
                r["name"], tuple(r["arg_names"]), tuple(r["arg_types"]), r["defaults"],
                r["return_type"], r["returns_set"], r["volatility"],
            )
        )  # fmt: skip
    return SchemaCache(
        schema,
        MappingProxyType(tables),
        foreign_keys,
        MappingProxyType({name: tuple(found) for name, found in functions.items()}),
    )
