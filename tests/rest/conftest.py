"""The REST tests' world: the RLS world's rows, a live session per user and their tokens.

The world of tests/rls/world.sql is loaded by the owner for each module that asks for it
and removed afterwards. Each world user gets a real auth.sessions row, so their access
token passes the server's live-session check exactly as a signed-in user's would.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
from supabase import Client, ClientOptions, create_client

from gptdesk.auth.tokens import mint_access_token
from tests.conftest import LiveServer, MigratedDatabase

RLS = Path(__file__).parent.parent / "rls"
TEAM_A = "10000000-0000-4000-8000-00000000000a"
TEAM_B = "10000000-0000-4000-8000-00000000000b"
USERS = {
    "user_a": "20000000-0000-4000-8000-0000000000a1",
    "admin_a": "20000000-0000-4000-8000-0000000000a2",
    "user_b": "20000000-0000-4000-8000-0000000000b1",
    "super_admin": "20000000-0000-4000-8000-000000000005",
}


@dataclass(frozen=True)
class World:
    """The world's access tokens by actor, and the server they are good for."""

    server: LiveServer
    tokens: dict[str, str]

    def headers(self, actor: str) -> dict[str, str]:
        """The headers a client of `actor` sends (anon and service_role: the project key)."""
        if actor == "anon":
            key = self.server.anon_key
            return {"apikey": key, "Authorization": f"Bearer {key}"}
        if actor == "service_role":
            key = self.server.service_role_key
            return {"apikey": key, "Authorization": f"Bearer {key}"}
        return {"apikey": self.server.anon_key, "Authorization": f"Bearer {self.tokens[actor]}"}


async def _load(db: MigratedDatabase) -> dict[str, str]:
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        await conn.execute((RLS / "world.sql").read_text())
        tokens = {}
        for actor, user_id in USERS.items():
            session = uuid.uuid4()
            aal = "aal2" if actor == "super_admin" else "aal1"
            await conn.execute(
                "insert into auth.sessions (id, user_id, aal) values ($1, $2, $3)",
                session, uuid.UUID(user_id), aal,
            )  # fmt: skip
            user = await conn.fetchrow(
                "select id, email, role, aud from auth.users where id = $1", uuid.UUID(user_id)
            )
            assert user is not None
            tokens[actor] = mint_access_token(
                secret=db.jwt_secret, issuer="http://test/auth/v1", lifetime=3600,
                user=dict(user), session_id=str(session), aal=aal, amr=[],
            ).token  # fmt: skip
        return tokens
    finally:
        await conn.close()


async def _unload(db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        await conn.execute((RLS / "world_teardown.sql").read_text())
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(db: MigratedDatabase, server: LiveServer) -> AsyncIterator[World]:
    """The RLS world with a token per user, for one module."""
    tokens = await _load(db)
    try:
        yield World(server, tokens)
    finally:
        await _unload(db)


@pytest.fixture
def rest(world: World) -> Iterator[httpx.Client]:
    """Raw HTTP to /rest/v1 (headers per request pick the actor)."""
    with httpx.Client(base_url=f"{world.server.url}/rest/v1") as client:
        yield client


@pytest.fixture
def client_for(world: World) -> Iterator[object]:
    """`client_for(actor)`: the official supabase-py client, signed in as `actor`."""
    with httpx.Client() as transport:

        def make(actor: str) -> Client:
            server = world.server
            key = server.service_role_key if actor == "service_role" else server.anon_key
            client = create_client(server.url, key, options=ClientOptions(httpx_client=transport))
            if actor in world.tokens:
                client.postgrest.auth(world.tokens[actor])
            return client

        yield make
