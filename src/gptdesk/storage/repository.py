"""Storage's SQL: buckets and object rows, always on the caller's scope connection.

RLS on storage.buckets and storage.objects decides every statement here; nothing in this
module filters rows for security.
"""

from collections.abc import Sequence
from typing import Any

import asyncpg

BUCKET_COLUMNS = (
    "id, name, coalesce(owner::text, '') as owner, public, type, file_size_limit, "
    "allowed_mime_types, created_at, updated_at"
)
OBJECT_COLUMNS = (
    "id, bucket_id, name, owner, owner_id, metadata, user_metadata, version, created_at, "
    "updated_at, last_accessed_at"
)
SORT_COLUMNS = frozenset({"name", "created_at", "updated_at", "last_accessed_at"})


async def bucket(conn: asyncpg.Connection, bucket_id: str) -> asyncpg.Record | None:
    """The bucket, if the caller may see it."""
    return await conn.fetchrow(
        f"select {BUCKET_COLUMNS} from storage.buckets where id = $1", bucket_id
    )


async def buckets(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every bucket the caller may see, by name."""
    return await conn.fetch(f"select {BUCKET_COLUMNS} from storage.buckets order by name")


async def create_bucket(conn: asyncpg.Connection, fields: dict[str, Any]) -> None:
    """Insert a bucket (fields are bucket columns)."""
    names = list(fields)
    values = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    await conn.execute(
        f"insert into storage.buckets ({', '.join(names)}) values ({values})", *fields.values()
    )


async def update_bucket(conn: asyncpg.Connection, bucket_id: str, fields: dict[str, Any]) -> bool:
    """Change a bucket; False when the caller may not (or it does not exist)."""
    if not fields:
        return await bucket(conn, bucket_id) is not None
    sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(fields, start=2))
    found = await conn.fetchval(
        f"update storage.buckets set {sets} where id = $1 returning id", bucket_id, *fields.values()
    )
    return found is not None


async def delete_bucket(conn: asyncpg.Connection, bucket_id: str) -> bool:
    """Remove a bucket; False when the caller may not (or it does not exist)."""
    found = await conn.fetchval("delete from storage.buckets where id = $1 returning id", bucket_id)
    return found is not None


async def bucket_has_objects(conn: asyncpg.Connection, bucket_id: str) -> bool:
    """Whether any object is in the bucket (as the owner sees it: emptiness is a fact)."""
    return bool(
        await conn.fetchval(
            "select exists (select from storage.objects where bucket_id = $1)", bucket_id
        )
    )


async def object_row(conn: asyncpg.Connection, bucket_id: str, name: str) -> asyncpg.Record | None:
    """The object, if the caller may see it."""
    return await conn.fetchrow(
        f"select {OBJECT_COLUMNS} from storage.objects where bucket_id = $1 and name = $2",
        bucket_id, name,
    )  # fmt: skip


async def put_object(
    conn: asyncpg.Connection,
    *,
    bucket_id: str,
    name: str,
    owner: str | None,
    metadata: dict[str, Any],
    user_metadata: dict[str, Any] | None,
    version: str,
    upsert: bool,
) -> tuple[str, str | None]:
    """Insert (or with `upsert` replace) the object's row: (its id, the replaced version)."""
    conflict = (
        "on conflict (bucket_id, name) do update set owner = excluded.owner, "
        "owner_id = excluded.owner_id, metadata = excluded.metadata, "
        "user_metadata = excluded.user_metadata, version = excluded.version, "
        "updated_at = now(), last_accessed_at = now()"
        if upsert
        else ""
    )
    row = await conn.fetchrow(
        "insert into storage.objects as o "
        "(bucket_id, name, owner, owner_id, metadata, user_metadata, version) "
        f"values ($1, $2, $3::uuid, $3::uuid::text, $4, $5, $6) {conflict} "
        "returning o.id::text as id, (select p.version from storage.objects p "
        "where p.bucket_id = $1 and p.name = $2) as replaced",
        bucket_id, name, owner, metadata, user_metadata, version,
    )  # fmt: skip
    return row["id"], row["replaced"]


async def list_objects(
    conn: asyncpg.Connection,
    *,
    bucket_id: str,
    prefix: str,
    search: str,
    limit: int,
    offset: int,
    sort_column: str,
    descending: bool,
) -> list[asyncpg.Record]:
    """The files and folders directly under `prefix` whose names start with `search`."""
    assert sort_column in SORT_COLUMNS
    direction = "desc" if descending else "asc"
    pattern = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return await conn.fetch(
        f"""
        select item as name, id, updated_at, created_at, last_accessed_at, metadata
          from (select distinct on (s.item) s.item,
                       case when s.folder then null else s.id end as id,
                       case when s.folder then null else s.updated_at end as updated_at,
                       case when s.folder then null else s.created_at end as created_at,
                       case when s.folder then null else s.last_accessed_at end
                         as last_accessed_at,
                       case when s.folder then null else s.metadata end as metadata
                  from (select split_part(substr(o.name, length($2) + 1), '/', 1) as item,
                               strpos(substr(o.name, length($2) + 1), '/') > 0 as folder,
                               o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata
                          from storage.objects o
                         where o.bucket_id = $1 and starts_with(o.name, $2)) s
                 where s.item ilike $3
                 order by s.item, s.folder) d
         order by {sort_column} {direction} nulls first, name
         limit $4 offset $5
        """,
        bucket_id, prefix, pattern, limit, offset,
    )  # fmt: skip


async def delete_objects(
    conn: asyncpg.Connection, bucket_id: str, names: Sequence[str]
) -> list[asyncpg.Record]:
    """Remove the named objects the caller may remove; the removed rows."""
    return await conn.fetch(
        f"delete from storage.objects where bucket_id = $1 and name = any($2::text[]) "
        f"returning {OBJECT_COLUMNS}",
        bucket_id, list(names),
    )  # fmt: skip


async def delete_all_objects(conn: asyncpg.Connection, bucket_id: str) -> list[str]:
    """Remove every object of the bucket the caller may remove; their versions."""
    rows = await conn.fetch(
        "delete from storage.objects where bucket_id = $1 returning version", bucket_id
    )
    return [r["version"] for r in rows if r["version"]]


async def move_object(
    conn: asyncpg.Connection, bucket_id: str, source: str, target_bucket: str, target: str
) -> str | None:
    """Rename an object (its body stays where it is); its id, or None when not found."""
    return await conn.fetchval(
        "update storage.objects set bucket_id = $3, name = $4, updated_at = now() "
        "where bucket_id = $1 and name = $2 returning id::text",
        bucket_id, source, target_bucket, target,
    )  # fmt: skip
