"""The providers that need no row: OPENAI_BASE_URL / OPENAI_API_KEY (or their GPTDESK_
names) answer every model no provider lists, and with GPTDESK_OFFLINE_FALLBACK=false a model
nothing serves is 503 no_provider. Each case runs its own server; the user and GPTs are this
module's own (not the RLS world), so no row of another test's world can route their models.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from gptdesk.auth.tokens import mint_access_token
from tests.chat.gateway_world import Gpts, gpts, messages_of, recorded, unique, usage_of
from tests.conftest import LiveServer, MigratedDatabase, running_server
from tests.helpers import owner_query
from tests.llm.fake_openai import ANSWER, FakeUpstream


@dataclass(frozen=True)
class Member:
    """A user of a team of this module's own, signed in."""

    user_id: str
    team_id: str
    token: str


@pytest.fixture(scope="module")
def member(db: MigratedDatabase) -> Iterator[Member]:
    team, user, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    email = f"{unique('env-provider')}@example.com"
    owner_query(db, "insert into public.teams (id, name) values ($1, 'Environment tests')", team)
    owner_query(
        db,
        "insert into auth.users (id, aud, role, email, email_confirmed_at, raw_app_meta_data,"
        " raw_user_meta_data) values ($1, 'authenticated', 'authenticated', $2, now(),"
        " jsonb_build_object('provider', 'email', 'team_id', $3::text), '{}')",
        user, email, str(team),
    )  # fmt: skip
    owner_query(
        db, "insert into auth.sessions (id, user_id, aal) values ($1, $2, 'aal1')", session, user
    )
    token = mint_access_token(
        secret=db.jwt_secret, issuer="http://test/auth/v1", lifetime=3600,
        user={"id": user, "email": email, "role": "authenticated", "aud": "authenticated"},
        session_id=str(session), aal="aal1", amr=[],
    ).token  # fmt: skip
    try:
        yield Member(str(user), str(team), token)
    finally:
        # The user first: removing the team first would audit the user's leaving it.
        owner_query(db, "delete from auth.users where id = $1", user)
        owner_query(db, "delete from public.teams where id = $1", team)


@pytest.fixture
def made(member: Member, db: MigratedDatabase) -> Iterator[Gpts]:
    with gpts(db) as made:
        yield made


def ask(server: LiveServer, member: Member, session: str, content: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/chat/sessions/{session}/messages",
        headers={"apikey": server.anon_key, "Authorization": f"Bearer {member.token}"},
        json={"content": content},
        timeout=30,
    )


def session_with(made: Gpts, member: Member, model: str) -> str:
    return made.session(made.gpt(model, team=member.team_id, creator=member.user_id),
                        user=member.user_id)  # fmt: skip


def test_the_environments_upstream_answers_models_no_provider_lists(
    db: MigratedDatabase, upstream: FakeUpstream, member: Member, made: Gpts
) -> None:
    model = unique("env-model")
    session = session_with(made, member, model)
    question = f"Who answers? {uuid.uuid4()}"
    with running_server(
        db, openai_base_url=upstream.base_url, openai_api_key="sk-env-test-key-0000",
        llm_max_retries="0",
    ) as server:  # fmt: skip
        r = ask(server, member, session, question)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["message"]["content"] == ANSWER
    metadata = body["message"]["metadata"]
    assert (metadata["provider"], metadata["model"]) == ("environment", model)
    assert body["priced"] is False  # the test model has no price
    [index] = [
        i for i, b in enumerate(upstream.requests) if b["messages"][-1]["content"] == question
    ]
    assert upstream.requests[index]["model"] == model
    assert upstream.headers[index]["authorization"] == "Bearer sk-env-test-key-0000"
    [usage] = usage_of(db, session)
    assert usage["metrics"]["provider"] == "environment"


def test_openai_s_own_variable_names_work_too(
    db: MigratedDatabase,
    upstream: FakeUpstream,
    member: Member,
    made: Gpts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = session_with(made, member, unique("env-alias"))
    question = f"Through OPENAI_BASE_URL {uuid.uuid4()}"
    monkeypatch.setenv("OPENAI_BASE_URL", upstream.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-alias-test-key-1111")
    with running_server(db) as server:
        r = ask(server, member, session, question)
    assert r.status_code == 201, r.text
    assert r.json()["message"]["content"] == ANSWER
    [index] = [
        i for i, b in enumerate(upstream.requests) if b["messages"][-1]["content"] == question
    ]
    assert upstream.headers[index]["authorization"] == "Bearer sk-alias-test-key-1111"


def test_the_environments_timeout_applies(
    db: MigratedDatabase, upstream: FakeUpstream, member: Member, made: Gpts
) -> None:
    session = session_with(made, member, "slow")
    with running_server(
        db, openai_base_url=upstream.base_url, llm_timeout="0.5", llm_max_retries="0"
    ) as server:
        r = ask(server, member, session, "Hurry")
    assert r.status_code == 504, r.text
    [asked] = messages_of(db, session)
    assert asked["metadata"]["failure"]["provider_status"] == 504


def test_without_the_fallback_a_model_nothing_serves_is_503(
    db: MigratedDatabase, member: Member, made: Gpts
) -> None:
    model = unique("unserved")
    session = session_with(made, member, model)
    [gpt] = made.made
    before = recorded(db)
    with running_server(db, offline_fallback="false") as server:
        r = ask(server, member, session, "Anyone?")
        with (
            openai.OpenAI(base_url=f"{server.url}/api/v1/openai", api_key=member.token,
                          max_retries=0) as sdk,
            pytest.raises(openai.APIStatusError) as caught,
        ):  # fmt: skip
            sdk.chat.completions.create(
                model=f"gpt_{gpt}", messages=[{"role": "user", "content": "Anyone?"}]
            )
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "no_provider"
    assert model in r.json()["error"]["message"]
    assert (caught.value.status_code, caught.value.code) == (503, "no_provider")
    assert caught.value.type == "api_error"
    assert recorded(db) == before
