"""The MFA service's SQL: factors, challenges, and what verifying one does to a session.

Every function takes a connection opened by `Scope.as_auth_service` (the auth schema) except
`set_admin_requires_aal2`, which runs as service_role (public.security_settings).
"""

import uuid
from typing import Any

import asyncpg

FACTOR_COLUMNS = """
    id, user_id, friendly_name, factor_type, status, created_at, updated_at,
    last_challenged_at
"""


async def factors(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """The user's factors, oldest first."""
    return await conn.fetch(
        f"select {FACTOR_COLUMNS} from auth.mfa_factors where user_id = $1 order by created_at, id",
        user_id,
    )


async def factors_of_users(
    conn: asyncpg.Connection, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[asyncpg.Record]]:
    """The factors of many users in one query (a page of the admin API), by user."""
    rows = await conn.fetch(
        f"select {FACTOR_COLUMNS} from auth.mfa_factors where user_id = any($1::uuid[]) "
        "order by user_id, created_at, id",
        user_ids,
    )
    found: dict[uuid.UUID, list[asyncpg.Record]] = {user_id: [] for user_id in user_ids}
    for row in rows:
        found[row["user_id"]].append(row)
    return found


async def lock_user_factors(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Serialise enrolments of one user (the limits below are counted, not constrained)."""
    await conn.execute("select from auth.users where id = $1 for update", user_id)


async def delete_stale_factors(
    conn: asyncpg.Connection, user_id: uuid.UUID, max_age_s: int
) -> None:
    """Drop the user's unverified factors older than `max_age_s` that were never challenged."""
    await conn.execute(
        "delete from auth.mfa_factors f where f.user_id = $1 and f.status = 'unverified' "
        "and f.created_at < now() - make_interval(secs => $2) "
        "and not exists (select from auth.mfa_challenges c where c.factor_id = f.id)",
        user_id,
        max_age_s,
    )


async def create_factor(
    conn: asyncpg.Connection,
    *,
    factor_id: uuid.UUID,
    user_id: uuid.UUID,
    friendly_name: str | None,
    sealed_secret: str,
) -> asyncpg.Record:
    """A new unverified TOTP factor."""
    row = await conn.fetchrow(
        "insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, secret) "
        f"values ($1, $2, $3, 'totp', $4) returning {FACTOR_COLUMNS}",
        factor_id,
        user_id,
        friendly_name,
        sealed_secret,
    )
    assert row is not None
    return row


async def factor_for_update(
    conn: asyncpg.Connection, user_id: uuid.UUID, factor_id: uuid.UUID
) -> asyncpg.Record | None:
    """One of the user's factors with its sealed secret, locked (codes are used once)."""
    return await conn.fetchrow(
        f"select {FACTOR_COLUMNS}, secret, last_verified_step from auth.mfa_factors "
        "where id = $1 and user_id = $2 for update",
        factor_id,
        user_id,
    )


async def create_challenge(
    conn: asyncpg.Connection, factor_id: uuid.UUID, ip: str
) -> asyncpg.Record:
    """A challenge of the factor from this address; stamps the factor's last_challenged_at."""
    row = await conn.fetchrow(
        "insert into auth.mfa_challenges (factor_id, ip_address) "
        "values ($1, nullif($2, '')::inet) returning id, created_at",
        factor_id,
        ip,
    )
    assert row is not None
    await conn.execute(
        "update auth.mfa_factors set last_challenged_at = $2 where id = $1",
        factor_id,
        row["created_at"],
    )
    return row


async def challenge_for_update(
    conn: asyncpg.Connection, factor_id: uuid.UUID, challenge_id: uuid.UUID, ip: str
) -> asyncpg.Record | None:
    """A challenge of the factor, locked, with its age and whether `ip` asked for it."""
    return await conn.fetchrow(
        "select id, created_at, verified_at, "
        "extract(epoch from now() - created_at) as age_s, "
        "ip_address is not distinct from nullif($3, '')::inet as same_ip "
        "from auth.mfa_challenges where id = $2 and factor_id = $1 for update",
        factor_id,
        challenge_id,
        ip,
    )


async def delete_challenge(conn: asyncpg.Connection, challenge_id: uuid.UUID) -> None:
    """Forget an expired challenge."""
    await conn.execute("delete from auth.mfa_challenges where id = $1", challenge_id)


async def record_verification(
    conn: asyncpg.Connection, factor_id: uuid.UUID, challenge_id: uuid.UUID, step: int
) -> None:
    """The challenge is used, the factor verified, and codes up to `step` are spent."""
    await conn.execute(
        "update auth.mfa_challenges set verified_at = now() where id = $1", challenge_id
    )
    await conn.execute(
        "update auth.mfa_factors set status = 'verified', last_verified_step = $2, "
        "updated_at = now() where id = $1",
        factor_id,
        step,
    )


async def delete_unverified_factors(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Drop the user's unverified TOTP factors (abandoned enrolments), as GoTrue does."""
    await conn.execute(
        "delete from auth.mfa_factors where user_id = $1 and status = 'unverified' "
        "and factor_type = 'totp'",
        user_id,
    )


async def raise_session(
    conn: asyncpg.Connection,
    session_id: uuid.UUID,
    amr: list[dict[str, Any]],
    factor_id: uuid.UUID,
) -> None:
    """The session is now aal2, through `factor_id`."""
    await conn.execute(
        "update auth.sessions set aal = 'aal2', amr = $2::jsonb, factor_id = $3, "
        "updated_at = now() where id = $1",
        session_id,
        amr,
        factor_id,
    )


async def delete_sessions_below_aal2(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """End the user's sessions that have not passed MFA (GoTrue does after a verification)."""
    await conn.execute("delete from auth.sessions where user_id = $1 and aal <> 'aal2'", user_id)


async def revoke_session_tokens(conn: asyncpg.Connection, session_id: uuid.UUID) -> None:
    """Retire every refresh token of the session: none issued before the step-up stays live."""
    await conn.execute(
        "update auth.refresh_tokens set revoked = true, updated_at = now() "
        "where session_id = $1 and not revoked",
        session_id,
    )


async def delete_factor(conn: asyncpg.Connection, factor_id: uuid.UUID) -> None:
    """Remove a factor (its challenges go with it)."""
    await conn.execute("delete from auth.mfa_factors where id = $1", factor_id)


async def lower_sessions(conn: asyncpg.Connection, factor_id: uuid.UUID) -> None:
    """Sessions raised by this factor go back to aal1 and lose its `totp` method."""
    await conn.execute(
        """
        update auth.sessions set
            aal = 'aal1',
            factor_id = null,
            amr = coalesce((select jsonb_agg(e) from jsonb_array_elements(amr) e
                            where e ->> 'method' <> 'totp'), '[]'::jsonb),
            updated_at = now()
        where factor_id = $1
        """,
        factor_id,
    )


async def audit(
    conn: asyncpg.Connection, action: str, factor_id: uuid.UUID, details: dict[str, Any]
) -> None:
    """An audit row about a factor, in this transaction (actor from the scope)."""
    await conn.execute(
        "select public.log_action($1, 'mfa_factor', $2, $3::jsonb)", action, factor_id, details
    )


async def set_admin_requires_aal2(conn: asyncpg.Connection, required: bool) -> bool:
    """Store the admin aal2 policy, audited when it changes; whether it changed."""
    status = await conn.execute(
        "update public.security_settings set admin_requires_aal2 = $1 "
        "where admin_requires_aal2 is distinct from $1",
        required,
    )
    if status != "UPDATE 1":
        return False
    await conn.execute(
        "select public.log_action('security.admin_aal2_policy_changed', 'security_settings', "
        "null, $1::jsonb)",
        {"admin_requires_aal2": required},
    )
    return True
