"""Real access tokens through the request context: team isolation, and ended sessions refused."""

import asyncio
import secrets
import time
from collections.abc import Iterator

import asyncpg
import httpx
import jwt
import pytest

from gptdesk.auth.keys import project_keys
from gptdesk.auth.live_sessions import RequestAuthenticator, SessionEnded
from gptdesk.auth.signing import SigningKeys
from gptdesk.auth.tokens import InvalidToken
from gptdesk.db.scope import Scope
from tests.conftest import LiveServer, MigratedDatabase

PASSWORD = "s3cret-pass!"


@pytest.fixture
def admin_http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{server.url}/auth/v1",
        headers={
            "apikey": server.service_role_key,
            "Authorization": f"Bearer {server.service_role_key}",
        },
    ) as client:
        yield client


def signed_in_user(
    server: LiveServer, admin_http: httpx.Client, team_id: str | None = None
) -> tuple[str, dict[str, str]]:
    """A confirmed account (in `team_id`) and the request headers of its session."""
    email = f"live-{secrets.token_hex(5)}@example.com"
    app_metadata = {"team_id": team_id} if team_id else {}
    user = admin_http.post(
        "/admin/users",
        json={
            "email": email,
            "password": PASSWORD,
            "email_confirm": True,
            "app_metadata": app_metadata,
        },
    ).json()
    session = httpx.post(
        f"{server.url}/auth/v1/token?grant_type=password",
        headers={"apikey": server.anon_key},
        json={"email": email, "password": PASSWORD},
    ).json()
    headers = {"apikey": server.anon_key, "authorization": f"Bearer {session['access_token']}"}
    return user["id"], headers


async def test_team_b_token_reads_nothing_of_team_a(
    server: LiveServer,
    admin_http: httpx.Client,
    scope: Scope,
    db: MigratedDatabase,
    admin_conn: asyncpg.Connection,
) -> None:
    team_a, team_b = [
        str(
            await admin_conn.fetchval(
                "insert into public.teams (name) values ($1) returning id", f"live-{name}"
            )
        )
        for name in ("a", "b")
    ]
    user_a, _ = signed_in_user(server, admin_http, team_a)
    await admin_conn.execute(
        "insert into public.gpts (name, team_id, creator_id) values ('secret', $1, $2)",
        team_a,
        user_a,
    )
    _, headers_b = signed_in_user(server, admin_http, team_b)
    caller = await RequestAuthenticator(scope, SigningKeys(db.jwt_secret)).caller(headers_b)
    assert caller.role == "authenticated"
    async with scope.as_claims(caller.claims, read_only=True) as conn:
        assert await conn.fetchval("select count(*) from gpts where team_id = $1", team_a) == 0
        assert await conn.fetchval("select count(*) from users where team_id = $1", team_a) == 0
        assert await conn.fetchval("select team_id::text from users where id = auth.uid()") == (
            team_b
        )


async def test_ended_sessions_are_refused(
    server: LiveServer, admin_http: httpx.Client, scope: Scope, db: MigratedDatabase
) -> None:
    authenticator = RequestAuthenticator(scope, SigningKeys(db.jwt_secret), cache_seconds=0)

    banned_id, banned = signed_in_user(server, admin_http)
    await authenticator.caller(banned)
    await asyncio.to_thread(
        admin_http.put, f"/admin/users/{banned_id}", json={"ban_duration": "1h"}
    )
    with pytest.raises(SessionEnded):
        await authenticator.caller(banned)

    deleted_id, deleted = signed_in_user(server, admin_http)
    await asyncio.to_thread(admin_http.request, "DELETE", f"/admin/users/{deleted_id}", json={})
    with pytest.raises(SessionEnded):
        await authenticator.caller(deleted)

    _, signed_out = signed_in_user(server, admin_http)
    await asyncio.to_thread(httpx.post, f"{server.url}/auth/v1/logout", headers=signed_out)
    with pytest.raises(SessionEnded):
        await authenticator.caller(signed_out)


async def test_anon_key_alone_is_anon(
    server: LiveServer, scope: Scope, db: MigratedDatabase
) -> None:
    caller = await RequestAuthenticator(scope, SigningKeys(db.jwt_secret)).caller(
        {"apikey": server.anon_key}
    )
    assert caller.role == "anon" and caller.user_id is None


async def test_a_remembered_token_is_refused_once_it_expires(
    scope: Scope, db: MigratedDatabase
) -> None:
    authenticator = RequestAuthenticator(scope, SigningKeys(db.jwt_secret))
    token = jwt.encode({"role": "authenticated", "exp": int(time.time()) + 1}, db.jwt_secret)
    headers = {
        "apikey": project_keys(db.jwt_secret).anon_key,
        "authorization": f"Bearer {token}",
    }
    first = await authenticator.caller(headers)
    first.claims["role"] = "service_role"  # a copy: the remembered claims stay as they were
    assert (await authenticator.caller(headers)).role == "authenticated"
    await asyncio.sleep(max(0.0, first.claims["exp"] - time.time()) + 0.05)
    with pytest.raises(InvalidToken, match="expired"):
        await authenticator.caller(headers)
