"""GPTDESK_ADMIN_REQUIRES_AAL2: admin powers wait for a session that has passed MFA.

The policy lives in SQL (migrations/0010): the helpers every admin policy and guard uses
answer with the powers in force, so an admin whose JWT says aal1 is a plain user of their
team. Statements run through the request scope against the world of world.sql, each rolled
back; the policy is switched on (committed, by the owner) only for the tests that need it.
"""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
import pytest_asyncio

from gptdesk.auth.tokens import verify
from gptdesk.db.scope import Scope
from tests.conftest import MigratedDatabase, running_server

HERE = Path(__file__).parent
TEAM_A = uuid.UUID("10000000-0000-4000-8000-00000000000a")
TEAM_B = uuid.UUID("10000000-0000-4000-8000-00000000000b")
USER_A = uuid.UUID("20000000-0000-4000-8000-0000000000a1")
ADMIN_A = uuid.UUID("20000000-0000-4000-8000-0000000000a2")
SUPER = uuid.UUID("20000000-0000-4000-8000-000000000005")
GPT_A_PUBLIC = uuid.UUID("30000000-0000-4000-8000-0000000000a2")  # by admin_a
AUDIT_A = uuid.UUID("70000000-0000-4000-8000-0000000000a1")


def claims(sub: uuid.UUID, aal: str) -> dict[str, Any]:
    return {"role": "authenticated", "sub": str(sub), "aal": aal, "aud": "authenticated"}


class _RollBack(Exception):
    """Ends a case so the scope rolls its transaction back."""


async def run(scope: Scope, who: dict[str, Any], sql: str, *args: object) -> str:
    """What one statement did as `who`: its status or row count, or the SQLSTATE refusing it."""
    outcome = ""
    try:
        async with scope.as_claims(who) as conn:
            try:
                if sql.lstrip().startswith("select"):
                    outcome = f"{len(await conn.fetch(sql, *args))} row(s)"
                else:
                    outcome = await conn.execute(sql, *args)
            except asyncpg.PostgresError as exc:
                outcome = exc.sqlstate or "error"
            raise _RollBack
    except _RollBack:
        pass
    return outcome


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(db: MigratedDatabase) -> AsyncIterator[None]:
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        await conn.execute((HERE / "world.sql").read_text())
        yield
        await conn.execute((HERE / "world_teardown.sql").read_text())
    finally:
        await conn.close()


async def set_policy(db: MigratedDatabase, required: bool) -> None:
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        await conn.execute("update public.security_settings set admin_requires_aal2 = $1", required)
    finally:
        await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def aal2_required(db: MigratedDatabase) -> AsyncIterator[None]:
    await set_policy(db, True)
    try:
        yield
    finally:
        await set_policy(db, False)


# (actor, statement, arguments, what it does at aal1, what it does at aal2) with the policy on.
ADMIN_POWERS = [
    pytest.param(
        ADMIN_A,
        "update public.users set role = 'admin' where id = $1",
        [USER_A],
        "UPDATE 0",
        "UPDATE 1",
        id="team admin promotes a member",
    ),
    pytest.param(
        ADMIN_A,
        "select id from public.audit_logs where id = $1",
        [AUDIT_A],
        "0 row(s)",
        "1 row(s)",
        id="team admin reads the team's audit log",
    ),
    pytest.param(
        ADMIN_A,
        "select public.remove_team_member($1)",
        [USER_A],
        "42501",
        "1 row(s)",
        id="team admin removes a member",
    ),
    pytest.param(
        ADMIN_A,
        "select public.suspend_gpt($1, 'aal2 check')",
        [GPT_A_PUBLIC],
        "PT403",
        "1 row(s)",
        id="team admin suspends a GPT of the team (governance function)",
    ),
    pytest.param(
        ADMIN_A,
        "update public.users set status = 'inactive' where id = $1",
        [ADMIN_A],
        "42501",
        "UPDATE 1",
        id="team admin changes their own status (profile guard)",
    ),
    pytest.param(
        SUPER,
        "select id from public.teams where id = $1",
        [TEAM_B],
        "0 row(s)",
        "1 row(s)",
        id="super admin reads another team",
    ),
    pytest.param(
        SUPER,
        "insert into public.teams (name) values ($1)",
        ["Team C"],
        "42501",
        "INSERT 0 1",
        id="super admin creates a team",
    ),
]


@pytest.mark.usefixtures("world", "aal2_required")
@pytest.mark.parametrize(("actor", "sql", "args", "at_aal1", "at_aal2"), ADMIN_POWERS)
async def test_admin_powers_wait_for_aal2(
    scope: Scope, actor: uuid.UUID, sql: str, args: list[object], at_aal1: str, at_aal2: str
) -> None:
    assert await run(scope, claims(actor, "aal1"), sql, *args) == at_aal1
    assert await run(scope, claims(actor, "aal2"), sql, *args) == at_aal2


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize(("actor", "sql", "args", "at_aal1", "at_aal2"), ADMIN_POWERS)
async def test_with_the_policy_off_aal1_admins_keep_their_powers(
    scope: Scope, actor: uuid.UUID, sql: str, args: list[object], at_aal1: str, at_aal2: str
) -> None:
    assert await run(scope, claims(actor, "aal1"), sql, *args) == at_aal2


@pytest.mark.usefixtures("world", "aal2_required")
async def test_an_aal1_admin_keeps_what_a_member_has(scope: Scope) -> None:
    admin = claims(ADMIN_A, "aal1")
    assert await run(scope, admin, "select id from public.teams where id = $1", TEAM_A) == (
        "1 row(s)"
    )
    assert await run(scope, admin, "select id from public.users where team_id = $1", TEAM_A) == (
        "2 row(s)"
    )
    assert await run(
        scope, admin, "update public.users set full_name = 'A. Admin' where id = $1", ADMIN_A
    ) == ("UPDATE 1")


@pytest.mark.usefixtures("world", "aal2_required")
async def test_the_helpers_answer_about_the_caller_only(scope: Scope) -> None:
    """The caller's own powers wait for aal2; what they learn of others is unchanged."""
    sql = (
        "select public.get_user_role($1)::text, public.is_admin_or_super($1), "
        "public.is_super_admin($1)"
    )

    async def ask(who: dict[str, Any], about: uuid.UUID) -> tuple[object, ...]:
        async with scope.as_claims(who) as conn:
            row = await conn.fetchrow(sql, about)
        assert row is not None
        return tuple(row)

    assert await ask(claims(ADMIN_A, "aal1"), ADMIN_A) == ("user", False, False)
    assert await ask(claims(ADMIN_A, "aal2"), ADMIN_A) == ("admin", True, False)
    assert await ask(claims(SUPER, "aal1"), SUPER) == ("user", False, False)
    assert await ask(claims(SUPER, "aal2"), SUPER) == ("super_admin", True, True)
    assert await ask(claims(USER_A, "aal1"), ADMIN_A) == ("admin", True, False)
    assert await ask({"role": "service_role"}, SUPER) == ("super_admin", True, True)


async def test_the_server_enforces_its_setting_end_to_end(
    db: MigratedDatabase, scope: Scope, admin_conn: asyncpg.Connection
) -> None:
    """A real server with the policy on: its aal1 token cannot promote, its aal2 token can."""
    try:
        with running_server(
            db, admin_requires_aal2="true", open_signup="true", autoconfirm="true"
        ) as live:
            assert await admin_conn.fetchval(
                "select admin_requires_aal2 from public.security_settings"
            )
            async with httpx.AsyncClient(
                base_url=f"{live.url}/auth/v1",
                headers={"apikey": live.anon_key, "X-Supabase-Api-Version": "2024-01-01"},
            ) as http:
                await _promote_with_and_without_mfa(http, db, scope, admin_conn)
    finally:
        await set_policy(db, False)


async def _promote_with_and_without_mfa(
    http: httpx.AsyncClient, db: MigratedDatabase, scope: Scope, admin_conn: asyncpg.Connection
) -> None:
    suffix = uuid.uuid4().hex[:8]
    ids = {}
    for who in ("admin", "member"):
        email = f"{who}-{suffix}@aal2.test"
        session = await http.post("/signup", json={"email": email, "password": "s3cret-pass!"})
        ids[who] = uuid.UUID(session.json()["user"]["id"])
    team = await admin_conn.fetchval(
        "insert into public.teams (name) values ($1) returning id", f"AAL2 {suffix}"
    )
    await admin_conn.execute(
        "update public.users set team_id = $1, role = (case when id = $2 then 'admin' "
        "else 'user' end)::public.user_role where id = any($3::uuid[])",
        team,
        ids["admin"],
        list(ids.values()),
    )
    promote = "update public.users set role = 'admin' where id = $1"
    signed_in = (
        await http.post(
            "/token?grant_type=password",
            json={"email": f"admin-{suffix}@aal2.test", "password": "s3cret-pass!"},
        )
    ).json()
    aal1 = verify(signed_in["access_token"], db.jwt_secret)
    assert aal1["aal"] == "aal1"
    assert await run(scope, aal1, promote, ids["member"]) == "UPDATE 0"

    bearer = {"Authorization": f"Bearer {signed_in['access_token']}"}
    factor = (await http.post("/factors", json={"factor_type": "totp"}, headers=bearer)).json()
    challenge = (await http.post(f"/factors/{factor['id']}/challenge", headers=bearer)).json()
    code = pyotp.TOTP(factor["totp"]["secret"]).now()
    stepped_up = (
        await http.post(
            f"/factors/{factor['id']}/verify",
            json={"challenge_id": challenge["id"], "code": code},
            headers=bearer,
        )
    ).json()
    aal2 = verify(stepped_up["access_token"], db.jwt_secret)
    assert aal2["aal"] == "aal2"
    assert await run(scope, aal2, promote, ids["member"]) == "UPDATE 1"
    changed = await admin_conn.fetchval(
        "select count(*) from public.audit_logs where action = 'security.admin_aal2_policy_changed'"
    )
    assert changed >= 1
