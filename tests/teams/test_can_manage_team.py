"""public.can_manage_team: who the invitation policies and endpoints treat as a team's manager.

Asked through the request scope, as a request would; it goes through the seed's helpers, so
the admin aal2 policy (GPTDESK_ADMIN_REQUIRES_AAL2, migrations/0010) narrows it too.
"""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from gptdesk.db.scope import Scope
from tests.conftest import MigratedDatabase


def person(sub: uuid.UUID | None, aal: str = "aal1") -> dict[str, Any]:
    if sub is None:
        return {"role": "anon"}
    return {"role": "authenticated", "sub": str(sub), "aal": aal, "aud": "authenticated"}


class People:
    def __init__(self) -> None:
        self.team, self.other = uuid.uuid4(), uuid.uuid4()
        self.admin, self.member, self.super_admin, self.stranger = (uuid.uuid4() for _ in range(4))


@pytest_asyncio.fixture(loop_scope="session")
async def people(db: MigratedDatabase) -> AsyncIterator[People]:
    made = People()
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        await conn.execute(
            "insert into public.teams (id, name) values ($1, 'Managed'), ($2, 'Other')",
            made.team,
            made.other,
        )
        for user_id, meta in (
            (made.admin, {"team_id": str(made.team), "role": "admin"}),
            (made.member, {"team_id": str(made.team), "role": "user"}),
            (made.super_admin, {"role": "super_admin"}),
            (made.stranger, {"team_id": str(made.other), "role": "admin"}),
        ):
            await conn.execute(
                "insert into auth.users (id, aud, role, email, raw_app_meta_data) "
                "values ($1, 'authenticated', 'authenticated', $2, $3::jsonb)",
                user_id,
                f"{user_id}@example.test",
                json.dumps(meta),
            )
        yield made
    finally:
        await conn.execute(
            "delete from auth.users where id = any($1::uuid[])",
            [made.admin, made.member, made.super_admin, made.stranger],
        )
        await conn.execute(
            "delete from public.teams where id = any($1::uuid[])", [made.team, made.other]
        )
        await conn.close()


async def manages(scope: Scope, claims: dict[str, Any], team: uuid.UUID) -> bool:
    async with scope.as_claims(claims, read_only=True) as conn:
        return bool(await conn.fetchval("select public.can_manage_team($1)", team))


async def test_admins_of_the_team_super_admins_and_the_server(scope: Scope, people: People) -> None:
    assert await manages(scope, person(people.admin), people.team)
    assert await manages(scope, person(people.super_admin), people.team)
    assert await manages(scope, {"role": "service_role"}, people.team)
    assert not await manages(scope, person(people.member), people.team)
    assert not await manages(scope, person(people.stranger), people.team)
    assert not await manages(scope, person(people.admin), people.other)
    assert not await manages(scope, person(uuid.uuid4()), people.team)  # no profile


async def test_anon_may_not_even_ask(scope: Scope, people: People) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await manages(scope, person(None), people.team)


async def test_the_admin_aal2_policy_applies(
    scope: Scope, people: People, db: MigratedDatabase
) -> None:
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        await conn.execute("update public.security_settings set admin_requires_aal2 = true")
        assert not await manages(scope, person(people.admin, "aal1"), people.team)
        assert not await manages(scope, person(people.super_admin, "aal1"), people.team)
        assert await manages(scope, person(people.admin, "aal2"), people.team)
        assert await manages(scope, person(people.super_admin, "aal2"), people.team)
    finally:
        await conn.execute("update public.security_settings set admin_requires_aal2 = false")
        await conn.close()
