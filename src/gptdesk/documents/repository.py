"""The documents table's SQL, on the caller's scope connection (RLS decides)."""

from typing import Any

import asyncpg

COLUMNS = (
    "id, team_id, user_id, gpt_id, bucket, object_path, name, size_bytes, mime_type, "
    "created_at, updated_at"
)


async def caller_team(conn: asyncpg.Connection) -> Any:
    """The caller's team id, or None."""
    return await conn.fetchval("select public.get_user_team_id(auth.uid())")


async def insert(conn: asyncpg.Connection, fields: dict[str, Any]) -> asyncpg.Record:
    """Insert a document row."""
    names = list(fields)
    values = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"insert into public.documents ({', '.join(names)}) values ({values}) returning {COLUMNS}",
        *fields.values(),
    )
    assert row is not None
    return row


async def listing(
    conn: asyncpg.Connection, gpt_id: str | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    """The documents the caller may see, newest first."""
    return await conn.fetch(
        f"select {COLUMNS} from public.documents where ($1::uuid is null or gpt_id = $1) "
        "order by created_at desc, id limit $2 offset $3",
        gpt_id, limit, offset,
    )  # fmt: skip


async def one(conn: asyncpg.Connection, document_id: str) -> asyncpg.Record | None:
    """One document, if the caller may see it."""
    return await conn.fetchrow(f"select {COLUMNS} from public.documents where id = $1", document_id)


async def delete(conn: asyncpg.Connection, document_id: str) -> asyncpg.Record | None:
    """Remove a document row the caller may remove; the row."""
    return await conn.fetchrow(
        f"delete from public.documents where id = $1 returning {COLUMNS}", document_id
    )
