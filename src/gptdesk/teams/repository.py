"""SQL of teams and their invitations (public.team_invitations).

The /api/v1 functions run in `Scope.as_claims(caller)`, so RLS decides what the caller may
read and change; the sign-up functions at the end run as the auth service, whose grants
allow reading invitations and marking a pending one accepted (migrations/0009).
"""

import uuid
from typing import Any

import asyncpg

INVITATION_COLUMNS = """
    id, team_id, email, role::text as role, invited_by, created_at, expires_at,
    accepted_at, accepted_by, revoked_at, expires_at <= now() as expired
"""


async def can_manage_team(conn: asyncpg.Connection, team_id: uuid.UUID) -> bool:
    """Whether the caller administers the team (its admin, a super admin, the service)."""
    return bool(await conn.fetchval("select public.can_manage_team($1)", team_id))


async def team_name(conn: asyncpg.Connection, team_id: uuid.UUID) -> str | None:
    """The team's name, if the caller can see the team."""
    return await conn.fetchval("select name from public.teams where id = $1", team_id)


async def caller_name(conn: asyncpg.Connection) -> str | None:
    """How mails name the signed-in caller: their full name and address."""
    return await conn.fetchval(
        "select full_name || ' (' || email || ')' from public.users where id = auth.uid()"
    )


async def pending_for_update(
    conn: asyncpg.Connection, team_id: uuid.UUID, email: str
) -> asyncpg.Record | None:
    """The team's pending invitation of this address (expired or not), locked."""
    return await conn.fetchrow(
        f"select {INVITATION_COLUMNS} from public.team_invitations "
        "where team_id = $1 and lower(email) = lower($2) "
        "and accepted_at is null and revoked_at is null for update",
        team_id,
        email,
    )


async def create_invitation(
    conn: asyncpg.Connection,
    *,
    team_id: uuid.UUID,
    email: str,
    role: str,
    token_hash: str,
    ttl_seconds: int,
) -> asyncpg.Record:
    """A pending invitation from the caller (invited_by defaults to auth.uid())."""
    row = await conn.fetchrow(
        f"""
        insert into public.team_invitations (team_id, email, role, token_hash, expires_at)
        values ($1, $2, $3::public.user_role, $4, now() + make_interval(secs => $5))
        returning {INVITATION_COLUMNS}
        """,
        team_id,
        email,
        role,
        token_hash,
        float(ttl_seconds),
    )
    assert row is not None
    return row


async def list_invitations(conn: asyncpg.Connection, team_id: uuid.UUID) -> list[asyncpg.Record]:
    """The team's invitations the caller may see, newest first."""
    return await conn.fetch(
        f"select {INVITATION_COLUMNS} from public.team_invitations "
        "where team_id = $1 order by created_at desc, id",
        team_id,
    )


async def invitation(
    conn: asyncpg.Connection, team_id: uuid.UUID, invitation_id: uuid.UUID
) -> asyncpg.Record | None:
    """One of the team's invitations, if the caller may see it."""
    return await conn.fetchrow(
        f"select {INVITATION_COLUMNS} from public.team_invitations where id = $1 and team_id = $2",
        invitation_id,
        team_id,
    )


async def revoke_invitation(
    conn: asyncpg.Connection, team_id: uuid.UUID, invitation_id: uuid.UUID
) -> asyncpg.Record | None:
    """Revoke a pending invitation; None when there is none the caller may revoke."""
    return await conn.fetchrow(
        f"update public.team_invitations set revoked_at = now() "
        "where id = $1 and team_id = $2 and accepted_at is null and revoked_at is null "
        f"returning {INVITATION_COLUMNS}",
        invitation_id,
        team_id,
    )


async def audit(
    conn: asyncpg.Connection, action: str, team_id: uuid.UUID, details: dict[str, Any]
) -> None:
    """An audit row about the team, in this transaction."""
    await conn.execute(
        "select public.log_action($1, 'team', $2, $3::jsonb)", action, team_id, details
    )


# The auth service's side: sign-up with an invitation token.


async def invitation_by_token_hash(
    conn: asyncpg.Connection, token_hash: str
) -> asyncpg.Record | None:
    """The invitation a token belongs to, whatever its state."""
    return await conn.fetchrow(
        f"select {INVITATION_COLUMNS} from public.team_invitations where token_hash = $1",
        token_hash,
    )


async def accept_invitation(
    conn: asyncpg.Connection, invitation_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    """Mark a still pending, unexpired invitation accepted by the new user."""
    accepted = await conn.fetchval(
        "update public.team_invitations set accepted_at = now(), accepted_by = $2 "
        "where id = $1 and accepted_at is null and revoked_at is null and expires_at > now() "
        "returning id",
        invitation_id,
        user_id,
    )
    return accepted is not None
