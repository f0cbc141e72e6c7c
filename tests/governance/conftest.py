"""The governance tests' fixtures: the REST tests' RLS world plus two admins (a second one
of team A, one of team B) with live sessions, supabase-py clients for every actor, GPTs
made per test and removed after, and a fake OpenAI upstream for the chat tests."""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from supabase import Client, ClientOptions, create_client

from gptdesk.auth.tokens import mint_access_token
from tests.chat.gateway_world import prices, provider, unique
from tests.conftest import MigratedDatabase
from tests.governance.world import EXTRA_ADMINS, Made, Owner, making, owner_of
from tests.helpers import owner_query
from tests.llm.fake_openai import FakeUpstream, fake_upstream
from tests.rest.conftest import world
from tests.rest.world import World

__all__ = ["world"]
ClientFor = Callable[[str], Client]


def _add_admin(db: MigratedDatabase, user_id: str, team: str, name: str) -> str:
    """An admin of `team` with a live aal1 session; their access token."""
    owner_query(
        db,
        "insert into auth.users (id, aud, role, email, email_confirmed_at, raw_app_meta_data)"
        " values ($1, 'authenticated', 'authenticated', $2, now(),"
        " jsonb_build_object('provider', 'email', 'providers', '[\"email\"]'::jsonb,"
        " 'role', 'admin', 'team_id', $3::text)) on conflict (id) do nothing",
        uuid.UUID(user_id), f"{name}@governance.test", team,
    )  # fmt: skip
    session = uuid.uuid4()
    owner_query(
        db,
        "insert into auth.sessions (id, user_id, aal) values ($1, $2, 'aal1')",
        session, uuid.UUID(user_id),
    )  # fmt: skip
    [(email, role, aud)] = owner_query(
        db, "select email, role, aud from auth.users where id = $1", uuid.UUID(user_id)
    )
    user = {"id": uuid.UUID(user_id), "email": email, "role": role, "aud": aud}
    return mint_access_token(
        secret=db.jwt_secret, issuer="http://test/auth/v1", lifetime=3600, user=user,
        session_id=str(session), aal="aal1", amr=[],
    ).token  # fmt: skip


@pytest.fixture(scope="module")
def org(world: World, db: MigratedDatabase) -> Iterator[World]:
    """The world with admin_a2 (team A) and admin_b (team B) among its actors."""
    tokens = {
        name: _add_admin(db, ident, team, name) for name, (ident, team) in EXTRA_ADMINS.items()
    }
    try:
        yield World(world.server, {**world.tokens, **tokens})
    finally:
        owner_query(
            db,
            "delete from auth.users where id = any($1::uuid[])",
            [uuid.UUID(ident) for ident, _ in EXTRA_ADMINS.values()],
        )


@pytest.fixture(scope="module")
def owner(db: MigratedDatabase) -> Iterator[Owner]:
    """One owner connection for the module's arranging and reading."""
    with owner_of(db) as conn:
        yield conn


@pytest.fixture
def made(org: World, owner: Owner) -> Iterator[Made]:
    """GPTs the test makes, removed after it."""
    with making(owner, org) as gpts:
        yield gpts


@pytest.fixture
def clients(org: World) -> Iterator[ClientFor]:
    """`clients(actor)`: the official supabase-py client as `actor`."""
    with httpx.Client() as transport:

        def make(actor: str) -> Client:
            server = org.server
            key = server.service_role_key if actor == "service_role" else server.anon_key
            client = create_client(server.url, key, options=ClientOptions(httpx_client=transport))
            if actor in org.tokens:
                client.postgrest.auth(org.tokens[actor])
            return client

        yield make


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    """The fake OpenAI upstream, serving for one module."""
    with fake_upstream() as fake:
        yield fake


@dataclass(frozen=True)
class Models:
    """Two priced models the fake upstream answers for, through a provider of the module's."""

    first: str
    second: str


@pytest.fixture(scope="module")
def models(org: World, db: MigratedDatabase, upstream: FakeUpstream) -> Iterator[Models]:
    first, second = unique("gov-first"), unique("gov-second")
    with (
        provider(org, name=unique("governance"), kind="openai", base_url=upstream.base_url,
                 models=[first, second], max_retries=0),
        prices(db, **{first: ("1.00", "2.00"), second: ("1.00", "2.00")}),
    ):  # fmt: skip
        yield Models(first, second)
