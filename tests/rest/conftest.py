"""The REST tests' fixtures: the RLS world with a live session per user, clients, the catalog.

The world of tests/rls/world.sql is loaded by the owner for each module that asks for it
and removed afterwards. Each world user gets a real auth.sessions row, so their access
token passes the server's live-session check exactly as a signed-in user's would. The
client tests add their catalog of GPTs on top (tests/rest/client_world.py), once per module.
"""

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
import pytest_asyncio
from supabase import Client, ClientOptions, create_client

from gptdesk.auth.tokens import mint_access_token
from tests.conftest import LiveServer, MigratedDatabase
from tests.rest.client_world import CATALOG, SCRATCH_CLEANUP, UNCATALOG, owner_execute
from tests.rest.world import RLS, USERS, World


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


@pytest.fixture(scope="module")
def catalog(world: World, db: MigratedDatabase) -> Iterator[World]:
    """The world plus the catalog GPTs (team A, and one public GPT of team B), for one module."""
    owner_execute(db, UNCATALOG)
    owner_execute(db, CATALOG)
    try:
        yield world
    finally:
        owner_execute(db, UNCATALOG)


@pytest.fixture
def scratch(catalog: World, db: MigratedDatabase) -> Iterator[World]:
    """The catalog world; whatever the test wrote is removed afterwards."""
    try:
        yield catalog
    finally:
        owner_execute(db, SCRATCH_CLEANUP)
