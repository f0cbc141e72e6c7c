"""Role and team changes are audited in the same transaction, with actor, before/after, IP."""

import secrets

import asyncpg
import pytest

from gptdesk.db.scope import RequestInfo, Scope


async def test_admin_promotes_a_member(scope: Scope, admin_conn: asyncpg.Connection) -> None:
    team = await admin_conn.fetchval("insert into teams (name) values ('audit') returning id")
    admin = await admin_conn.fetchval(
        "insert into auth.users (aud, role, email, raw_app_meta_data) values "
        "('authenticated', 'authenticated', $1, jsonb_build_object('team_id', $2::text, "
        "'role', 'admin')) returning id",
        f"a-{secrets.token_hex(5)}@example.com",
        str(team),
    )
    member = await admin_conn.fetchval(
        "insert into auth.users (aud, role, email, raw_app_meta_data) values "
        "('authenticated', 'authenticated', $1, jsonb_build_object('team_id', $2::text)) "
        "returning id",
        f"u-{secrets.token_hex(5)}@example.com",
        str(team),
    )
    request = RequestInfo("PATCH", "/rest/v1/users", {"user-agent": "probe/2"}, "198.51.100.7")
    claims = {"role": "authenticated", "sub": str(admin)}
    async with scope.as_claims(claims, request=request) as conn:
        changed = await conn.execute("update users set role = 'admin' where id = $1", member)
        assert changed == "UPDATE 1"
    row = await admin_conn.fetchrow(
        "select user_id, team_id, action, details::text, host(ip_address) as ip, user_agent "
        "from audit_logs where resource_id = $1",
        member,
    )
    assert row["user_id"] == admin and row["team_id"] == team
    assert row["action"] == "user.role_changed"
    assert '"before": {"role": "user"' in row["details"]
    assert '"after": {"role": "admin"' in row["details"]
    assert (row["ip"], row["user_agent"]) == ("198.51.100.7", "probe/2")


async def test_a_refused_change_leaves_no_audit_row(
    scope: Scope, admin_conn: asyncpg.Connection
) -> None:
    team = await admin_conn.fetchval("insert into teams (name) values ('audit2') returning id")
    user = await admin_conn.fetchval(
        "insert into auth.users (aud, role, email, raw_app_meta_data) values "
        "('authenticated', 'authenticated', $1, jsonb_build_object('team_id', $2::text)) "
        "returning id",
        f"u-{secrets.token_hex(5)}@example.com",
        str(team),
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with scope.as_claims({"role": "authenticated", "sub": str(user)}) as conn:
            await conn.execute("update users set role = 'admin' where id = $1", user)
    assert (
        await admin_conn.fetchval("select count(*) from audit_logs where resource_id = $1", user)
        == 0
    )


async def test_deleting_a_team_audits_its_members_leaving(
    admin_conn: asyncpg.Connection,
) -> None:
    team = await admin_conn.fetchval("insert into teams (name) values ('doomed') returning id")
    user = await admin_conn.fetchval(
        "insert into auth.users (aud, role, email, raw_app_meta_data) values "
        "('authenticated', 'authenticated', $1, jsonb_build_object('team_id', $2::text)) "
        "returning id",
        f"d-{secrets.token_hex(5)}@example.com",
        str(team),
    )
    await admin_conn.execute("delete from teams where id = $1", team)
    row = await admin_conn.fetchrow(
        "select action, team_id from audit_logs where resource_id = $1", user
    )
    assert (row["action"], row["team_id"]) == ("user.team_changed", None)
