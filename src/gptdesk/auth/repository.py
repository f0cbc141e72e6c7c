"""The auth service's SQL: users, identities, sessions and refresh tokens in the auth schema.

Every function takes a connection opened by `Scope.as_auth_service`, so each flow is one
transaction together with its audit row.
"""

import uuid
from typing import Any

import asyncpg

from gptdesk.auth.errors import AuthError


def email_taken() -> AuthError:
    """Two requests raced for one address: the loser gets the answer the check gives."""
    return AuthError(
        422, "email_exists", "A user with this email address has already been registered"
    )


USER_COLUMNS = """
    id, aud, role, email, encrypted_password, email_confirmed_at, invited_at,
    confirmation_sent_at, recovery_sent_at, email_change, email_change_sent_at,
    last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
    phone, phone_confirmed_at, confirmed_at, banned_until, deleted_at, is_anonymous,
    is_sso_user, banned_until > now() as is_banned
"""


async def user_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    """The live account with this address (case-insensitive), locked for the flow."""
    return await conn.fetchrow(
        f"select {USER_COLUMNS} from auth.users "
        "where lower(email) = lower($1) and deleted_at is null and not is_anonymous "
        "for update",
        email,
    )


async def user_by_id(conn: asyncpg.Connection, user_id: str | uuid.UUID) -> asyncpg.Record | None:
    """The live account with this id."""
    return await conn.fetchrow(
        f"select {USER_COLUMNS} from auth.users where id = $1 and deleted_at is null",
        uuid.UUID(str(user_id)),
    )


async def create_user(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    email: str,
    password_hash: str | None,
    user_metadata: dict[str, Any],
    app_metadata: dict[str, Any],
    confirmed: bool,
) -> asyncpg.Record:
    """Insert an account and its email identity; the profile follows by trigger."""
    try:
        row = await conn.fetchrow(
            f"""
            insert into auth.users (id, aud, role, email, encrypted_password, raw_user_meta_data,
                                    raw_app_meta_data, email_confirmed_at, confirmation_sent_at)
            values ($6, 'authenticated', 'authenticated', $1, $2, $3::jsonb, $4::jsonb,
                    case when $5 then now() end, case when not $5 then now() end)
            returning {USER_COLUMNS}
            """,
            email,
            password_hash,
            user_metadata,
            app_metadata,
            confirmed,
            user_id,
        )
    except asyncpg.UniqueViolationError:
        raise email_taken() from None
    assert row is not None
    identity = {
        "sub": str(row["id"]),
        "email": email,
        "email_verified": confirmed,
        "phone_verified": False,
    }
    await conn.execute(
        "insert into auth.identities (provider_id, user_id, identity_data, provider) "
        "values ($1, $2, $3::jsonb, 'email')",
        str(row["id"]),
        row["id"],
        identity,
    )
    return row


async def identities(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """The user's identities, oldest first."""
    return await conn.fetch(
        "select id, provider_id, user_id, identity_data, provider, last_sign_in_at, "
        "created_at, updated_at, email from auth.identities where user_id = $1 "
        "order by created_at",
        user_id,
    )


async def identities_of_users(
    conn: asyncpg.Connection, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[asyncpg.Record]]:
    """The identities of many users in one query, by user, each list oldest first."""
    rows = await conn.fetch(
        "select id, provider_id, user_id, identity_data, provider, last_sign_in_at, "
        "created_at, updated_at, email from auth.identities where user_id = any($1::uuid[]) "
        "order by user_id, created_at",
        user_ids,
    )
    found: dict[uuid.UUID, list[asyncpg.Record]] = {user_id: [] for user_id in user_ids}
    for row in rows:
        found[row["user_id"]].append(row)
    return found


async def record_sign_in(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Stamp the account and its identities with the sign-in time."""
    await conn.execute("update auth.users set last_sign_in_at = now() where id = $1;", user_id)
    await conn.execute(
        "update auth.identities set last_sign_in_at = now() where user_id = $1", user_id
    )


async def create_session(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    *,
    aal: str,
    amr: list[dict[str, Any]],
    user_agent: str | None,
    ip: str | None,
) -> uuid.UUID:
    """A new session row; returns its id."""
    return await conn.fetchval(
        "insert into auth.sessions (user_id, aal, amr, user_agent, ip) "
        "values ($1, $2, $3::jsonb, $4, nullif($5, '')::inet) returning id",
        user_id,
        aal,
        amr,
        user_agent,
        ip or "",
    )


async def session(conn: asyncpg.Connection, session_id: uuid.UUID) -> asyncpg.Record | None:
    """A session by id."""
    return await conn.fetchrow(
        "select id, user_id, aal, amr, not_after from auth.sessions where id = $1", session_id
    )


async def add_refresh_token(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    token_hash: str,
    parent_hash: str | None,
) -> None:
    """Store the hash of a newly issued refresh token."""
    await conn.execute(
        "insert into auth.refresh_tokens (token_hash, user_id, session_id, parent_hash) "
        "values ($1, $2, $3, $4)",
        token_hash,
        user_id,
        session_id,
        parent_hash,
    )


async def refresh_token_for_update(
    conn: asyncpg.Connection, token_hash: str
) -> asyncpg.Record | None:
    """The presented refresh token, row-locked so concurrent refreshes take turns."""
    return await conn.fetchrow(
        "select id, token_hash, user_id, session_id, parent_hash, revoked, "
        "extract(epoch from now() - updated_at) as seconds_since_update "
        "from auth.refresh_tokens where token_hash = $1 for update",
        token_hash,
    )


async def active_refresh_token(
    conn: asyncpg.Connection, session_id: uuid.UUID
) -> asyncpg.Record | None:
    """The session's newest unrevoked refresh token."""
    return await conn.fetchrow(
        "select id, token_hash, parent_hash from auth.refresh_tokens "
        "where session_id = $1 and not revoked order by id desc limit 1 for update",
        session_id,
    )


async def revoke_refresh_token(conn: asyncpg.Connection, token_id: int) -> None:
    """Mark one refresh token used."""
    await conn.execute(
        "update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1",
        token_id,
    )


async def touch_session(conn: asyncpg.Connection, session_id: uuid.UUID) -> None:
    """Note a refresh on the session."""
    await conn.execute(
        "update auth.sessions set refreshed_at = now(), updated_at = now() where id = $1",
        session_id,
    )


async def delete_sessions(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    *,
    only: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> int:
    """Delete the user's sessions (one, all but one, or all) with their refresh tokens."""
    status = await conn.execute(
        "delete from auth.sessions where user_id = $1 "
        "and ($2::uuid is null or id = $2) and ($3::uuid is null or id <> $3)",
        user_id,
        only,
        keep,
    )
    return int(status.split()[-1])


async def update_user(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    *,
    password_hash: str | None = None,
    email: str | None = None,
    user_metadata: dict[str, Any] | None = None,
) -> asyncpg.Record:
    """Apply the given changes to an account and return it."""
    try:
        row = await conn.fetchrow(
            f"""
            update auth.users set
                encrypted_password = coalesce($2, encrypted_password),
                email = coalesce($3, email),
                raw_user_meta_data = coalesce($4::jsonb, raw_user_meta_data),
                updated_at = now()
            where id = $1
            returning {USER_COLUMNS}
            """,
            user_id,
            password_hash,
            email,
            user_metadata,
        )
    except asyncpg.UniqueViolationError:
        raise email_taken() from None
    assert row is not None
    if email is not None:
        await conn.execute(
            "update auth.identities set identity_data = identity_data || "
            "jsonb_build_object('email', $2::text), updated_at = now() "
            "where user_id = $1 and provider = 'email'",
            user_id,
            email,
        )
    return row


async def audit(
    conn: asyncpg.Connection,
    action: str,
    resource_id: uuid.UUID | None,
    details: dict[str, Any] | None = None,
) -> None:
    """An audit row in this transaction (actor and client from the scope's settings)."""
    await conn.execute(
        "select public.log_action($1, 'user', $2, $3::jsonb)",
        action,
        resource_id,
        details or {},
    )
