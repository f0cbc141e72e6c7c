"""SQL of the mail flows: one-time tokens (auth.one_time_tokens), the PKCE flow states their
links may need (auth.flow_state), and the account changes they confirm — a confirmed
address, a recovery, a changed address, an invitation.

Every function takes a connection opened by `Scope.as_auth_service`.
"""

import hashlib
import secrets
import uuid
from typing import Literal

import asyncpg

from gptdesk.auth.pkce import FLOW_METHODS, PKCE_PREFIX, Challenge

TokenType = Literal["confirmation", "recovery", "email_change", "invite", "magiclink"]
# Flow states this long past their expiry are swept (GoTrue's cleanup keeps a day).
FLOW_STATE_SWEEP = "1 day"


def new_mail_token() -> str:
    """A token to mail: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def mail_token_hash(token: str) -> str:
    """How a mailed token is stored and looked up: SHA-256, hex (it is random: no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    token_type: TokenType,
    relates_to: str,
    ttl_seconds: int,
    *,
    challenge: Challenge | None = None,
) -> str:
    """A fresh token of this type for the user (replacing any older one); returns it plain.

    With a PKCE `challenge` the token is marked as GoTrue marks it (`pkce_`) and the flow
    state its link will redeem is stored beside it.
    """
    token = new_mail_token()
    if challenge is not None:
        token = PKCE_PREFIX + token
        await create_flow_state(conn, user_id, challenge, FLOW_METHODS[token_type], ttl_seconds)
    await conn.execute(
        """
        insert into auth.one_time_tokens (user_id, token_type, token_hash, relates_to, expires_at)
        values ($1, $2, $3, $4, now() + make_interval(secs => $5))
        on conflict (user_id, token_type) do update set
            token_hash = excluded.token_hash,
            relates_to = excluded.relates_to,
            created_at = now(),
            expires_at = excluded.expires_at
        """,
        user_id,
        token_type,
        mail_token_hash(token),
        relates_to,
        float(ttl_seconds),
    )
    return token


async def token_owner(conn: asyncpg.Connection, token_hash: str) -> uuid.UUID | None:
    """The user a token was issued to, whatever its state."""
    return await conn.fetchval(
        "select user_id from auth.one_time_tokens where token_hash = $1", token_hash
    )


async def token_for_update(conn: asyncpg.Connection, token_hash: str) -> asyncpg.Record | None:
    """The token, row-locked so that two verifications of it take turns."""
    return await conn.fetchrow(
        "select id, user_id, token_type, relates_to, expires_at > now() as live "
        "from auth.one_time_tokens where token_hash = $1 for update",
        token_hash,
    )


async def delete_token(conn: asyncpg.Connection, token_id: uuid.UUID) -> None:
    """Use a token up."""
    await conn.execute("delete from auth.one_time_tokens where id = $1", token_id)


async def mark_recovery_sent(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Note when the last recovery mail went out (GoTrue's recovery_sent_at)."""
    await conn.execute("update auth.users set recovery_sent_at = now() where id = $1", user_id)


async def mark_confirmation_sent(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Note when the last confirmation mail went out."""
    await conn.execute("update auth.users set confirmation_sent_at = now() where id = $1", user_id)


async def confirm_email(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """The account's address is proven: confirmed, and verified in its metadata."""
    await conn.execute(
        """
        update auth.users set
            email_confirmed_at = coalesce(email_confirmed_at, now()),
            raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb)
                                 || '{"email_verified": true}'::jsonb,
            updated_at = now()
        where id = $1
        """,
        user_id,
    )
    await conn.execute(
        "update auth.identities set identity_data = identity_data "
        "|| '{\"email_verified\": true}'::jsonb, updated_at = now() "
        "where user_id = $1 and provider = 'email'",
        user_id,
    )


async def set_pending_email(conn: asyncpg.Connection, user_id: uuid.UUID, email: str) -> None:
    """Record an address change waiting for its confirmation mail."""
    await conn.execute(
        "update auth.users set email_change = $2, email_change_sent_at = now(), "
        "updated_at = now() where id = $1",
        user_id,
        email,
    )


async def apply_email_change(conn: asyncpg.Connection, user_id: uuid.UUID, email: str) -> None:
    """Make the confirmed new address the account's (the profile follows by trigger)."""
    await conn.execute(
        """
        update auth.users set
            email = $2::text,
            email_change = null,
            email_change_sent_at = null,
            email_confirmed_at = coalesce(email_confirmed_at, now()),
            raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb)
                                 || jsonb_build_object('email', $2::text, 'email_verified', true),
            updated_at = now()
        where id = $1
        """,
        user_id,
        email,
    )
    await conn.execute(
        "update auth.identities set identity_data = identity_data "
        "|| jsonb_build_object('email', $2::text, 'email_verified', true), updated_at = now() "
        "where user_id = $1 and provider = 'email'",
        user_id,
        email,
    )


async def mark_invited(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Note when the account was invited and its invitation mailed (GoTrue's invited_at)."""
    await conn.execute(
        "update auth.users set invited_at = now(), confirmation_sent_at = now(), "
        "updated_at = now() where id = $1",
        user_id,
    )


async def create_flow_state(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    challenge: Challenge,
    authentication_method: str,
    ttl_seconds: int,
) -> None:
    """A PKCE flow for the mail about to go out; it supersedes the user's earlier ones of its
    kind whose links were not followed (only the newest mail works)."""
    await conn.execute(
        "delete from auth.flow_state where (user_id = $1 and authentication_method = $2 "
        f"and auth_code_hash is null) or expires_at < now() - interval '{FLOW_STATE_SWEEP}'",
        user_id,
        authentication_method,
    )
    await conn.execute(
        """
        insert into auth.flow_state (user_id, code_challenge, code_challenge_method,
                                     authentication_method, expires_at)
        values ($1, $2, $3, $4, now() + make_interval(secs => $5))
        """,
        user_id,
        challenge.code_challenge,
        challenge.method,
        authentication_method,
        float(ttl_seconds),
    )


async def issue_auth_code(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    authentication_method: str,
    code_hash: str,
    ttl_seconds: int,
) -> bool:
    """Give the user's pending flow of this kind its auth code, valid `ttl_seconds` from now;
    False when there is no such flow (never made, superseded or expired)."""
    status = await conn.execute(
        """
        update auth.flow_state set
            auth_code_hash = $3,
            auth_code_issued_at = now(),
            expires_at = now() + make_interval(secs => $4)
        where id = (select id from auth.flow_state
                    where user_id = $1 and authentication_method = $2
                      and auth_code_hash is null and expires_at > now()
                    order by created_at desc limit 1
                    for update)
        """,
        user_id,
        authentication_method,
        code_hash,
        float(ttl_seconds),
    )
    return status == "UPDATE 1"


async def flow_state_owner(conn: asyncpg.Connection, code_hash: str) -> uuid.UUID | None:
    """The user an auth code was issued to, whatever its state."""
    return await conn.fetchval(
        "select user_id from auth.flow_state where auth_code_hash = $1", code_hash
    )


async def flow_state_for_update(conn: asyncpg.Connection, code_hash: str) -> asyncpg.Record | None:
    """The flow of an auth code, row-locked so that a code is exchanged once."""
    return await conn.fetchrow(
        "select id, user_id, code_challenge, code_challenge_method, authentication_method, "
        "expires_at > now() as live from auth.flow_state where auth_code_hash = $1 for update",
        code_hash,
    )


async def delete_flow_state(conn: asyncpg.Connection, flow_id: uuid.UUID) -> None:
    """Use a flow up."""
    await conn.execute("delete from auth.flow_state where id = $1", flow_id)


async def drop_pending_credentials(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Forget every mailed token and PKCE flow of the user (their password just changed)."""
    await conn.execute("delete from auth.one_time_tokens where user_id = $1", user_id)
    await conn.execute("delete from auth.flow_state where user_id = $1", user_id)
