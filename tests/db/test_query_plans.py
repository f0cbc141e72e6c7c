"""Hot queries keep index plans under RLS: EXPLAIN as `authenticated`, not as the owner.

The seed's `team_id = get_user_team_id(auth.uid()) OR is_public` policy made "the newest GPTs
of my team" read and sort all of a team's rows; the policies in 0005_rls.sql are shaped so
the planner walks (team_id, created_at desc) and stops after the limit. This guards that.
"""

import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gptdesk.db.scope import Scope
from tests.conftest import MigratedDatabase

TEAMS = 100
GPTS_PER_TEAM = 200


def plan_nodes(plan: dict[str, object]) -> list[dict[str, object]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan tree, depth first."""
    nodes = [plan]
    for child in plan.get("Plans", []):  # type: ignore[union-attr]
        nodes.extend(plan_nodes(child))
    return nodes


@pytest.fixture(scope="module")
async def many_gpts(db: MigratedDatabase) -> AsyncIterator[tuple[uuid.UUID, uuid.UUID]]:
    """TEAMS teams of one user each with GPTS_PER_TEAM GPTs; yields one (team, user)."""
    tag = secrets.token_hex(4)
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        await conn.execute(
            f"""
            insert into public.teams (name)
            select 'plan-{tag}-' || g from generate_series(1, {TEAMS}) g;
            insert into auth.users (id, aud, role, email)
            select gen_random_uuid(), 'authenticated', 'authenticated',
                   'plan-{tag}-' || g || '@example.com'
            from generate_series(1, {TEAMS}) g;
            update public.users u set team_id = t.id
            from public.teams t
            where t.name = 'plan-{tag}-' || split_part(split_part(u.email, '@', 1), '-', 3);
            insert into public.gpts (name, team_id, creator_id, status, approval_status,
                                     is_public, created_at)
            select 'gpt ' || g, u.team_id, u.id, 'active', 'approved', g % 50 = 0,
                   now() - (g || ' seconds')::interval
            from public.users u, generate_series(1, {GPTS_PER_TEAM}) g
            where u.email like 'plan-{tag}-%';
            analyze public.gpts;
            """
        )
        row = await conn.fetchrow(
            "select team_id, id from public.users where email = $1", f"plan-{tag}-1@example.com"
        )
        yield row["team_id"], row["id"]
    finally:
        await conn.execute(
            f"""
            delete from auth.users where email like 'plan-{tag}-%';
            delete from public.teams where name like 'plan-{tag}-%';
            """
        )
        await conn.close()


async def test_newest_gpts_of_my_team_is_an_index_scan_under_rls(
    scope: Scope, many_gpts: tuple[uuid.UUID, uuid.UUID]
) -> None:
    team, user = many_gpts
    claims = {"role": "authenticated", "sub": str(user)}
    async with scope.as_claims(claims, read_only=True) as conn:
        assert await conn.fetchval("select current_user") == "authenticated"
        rows = await conn.fetch(
            "select id from public.gpts where team_id = $1 order by created_at desc limit 20", team
        )
        assert len(rows) == 20
        explained = await conn.fetchval(
            "explain (analyze, format json) select id, name from public.gpts "
            "where team_id = $1 order by created_at desc limit 20",
            team,
        )
    plan = explained[0]["Plan"]  # json arrives decoded (the pool's codec)
    nodes = plan_nodes(plan)
    kinds = [node["Node Type"] for node in nodes]
    assert "Sort" not in kinds, kinds
    scans = [node for node in nodes if node.get("Relation Name") == "gpts"]
    assert [node["Node Type"] for node in scans] == ["Index Scan"], kinds
    assert scans[0]["Index Name"] == "idx_gpts_team_created"
    assert scans[0]["Actual Rows"] == 20  # stops at the limit instead of reading the team
