"""SQL of the admin API: listing, changing and deleting any account."""

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from gptdesk.auth.repository import USER_COLUMNS


async def list_users(
    conn: asyncpg.Connection, *, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """A page of live accounts, oldest first, and how many there are."""
    rows = await conn.fetch(
        f"select {USER_COLUMNS} from auth.users where deleted_at is null "
        "order by created_at, id limit $1 offset $2",
        limit,
        offset,
    )
    total = await conn.fetchval("select count(*) from auth.users where deleted_at is null")
    return rows, int(total)


async def set_admin_fields(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    *,
    app_metadata: dict[str, Any] | None,
    confirm_email: bool | None,
    banned_until: datetime | None,
    unban: bool,
) -> None:
    """Change what only an admin may change: app metadata, confirmation, bans."""
    await conn.execute(
        """
        update auth.users set
            raw_app_meta_data = coalesce($2::jsonb, raw_app_meta_data),
            email_confirmed_at = case
                when $3 is true then coalesce(email_confirmed_at, now())
                when $3 is false then null
                else email_confirmed_at end,
            banned_until = case when $5 then null else coalesce($4, banned_until) end,
            updated_at = now()
        where id = $1
        """,
        user_id,
        app_metadata,
        confirm_email,
        banned_until,
        unban,
    )


async def delete_user(conn: asyncpg.Connection, user_id: uuid.UUID, *, soft: bool) -> None:
    """Remove an account (its profile cascades), or mark it deleted and free its address."""
    if soft:
        # The address is freed for a new account: the row keeps a tombstone instead, and the
        # profile follows it (sync trigger), so the old address can sign up again.
        await conn.execute(
            "update auth.users set deleted_at = now(), encrypted_password = null, "
            "email = 'deleted+' || id || '@deleted.invalid', updated_at = now() where id = $1",
            user_id,
        )
        await conn.execute("delete from auth.sessions where user_id = $1", user_id)
    else:
        await conn.execute("delete from auth.users where id = $1", user_id)
