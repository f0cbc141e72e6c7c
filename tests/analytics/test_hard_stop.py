"""Hard-stop budgets: once a team's (or a GPT's) month has spent its limit, chatting is
refused with 402 budget_exhausted before any provider is called — the fake upstream gets
no request — and nothing is stored; on the session endpoint (whole and streamed) and on the
OpenAI endpoint. A budget without hard_stop only alerts; raising the limit lets chats
through again. Spend comes from real answers priced by model_prices, or is charged as the
owner."""

import secrets
import uuid
from collections.abc import Iterator
from decimal import Decimal

import asyncpg
import httpx
import pytest

from tests.analytics.budget_world import charge, new_budget, rest, thresholds_fired
from tests.analytics.crew import Crew, Gpt, add_gpt
from tests.chat.gateway_world import prices
from tests.conftest import MigratedDatabase
from tests.llm.fake_openai import FakeUpstream, fake_upstream

MODEL = f"budget-stop-{secrets.token_hex(4)}"
ANSWER_COST = Decimal("0.01")  # 1000 + 1000 tokens at 5 USD per million each


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as fake:
        fake.usage[MODEL] = (1000, 1000)
        yield fake


@pytest.fixture(scope="module")
def routed(crew: Crew, db: MigratedDatabase, upstream: FakeUpstream) -> Iterator[str]:
    """A provider serving MODEL through the fake upstream, and MODEL's price."""
    headers = crew.headers("super")
    made = httpx.post(
        f"{crew.server.url}/api/v1/providers",
        headers=headers,
        json={"name": f"budget-stop-{crew.tag}", "kind": "openai", "base_url": upstream.base_url,
              "models": [MODEL], "max_retries": 0},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    try:
        with prices(db, **{MODEL: ("5", "5")}):
            yield MODEL
    finally:
        ident = made.json()["id"]
        gone = httpx.delete(f"{crew.server.url}/api/v1/providers/{ident}", headers=headers)
        assert gone.status_code in (204, 404), gone.text


async def post(crew: Crew, path: str, actor: str, body: object) -> httpx.Response:
    """POST JSON to the server as `actor`."""
    async with httpx.AsyncClient(base_url=crew.server.url, timeout=30) as client:
        return await client.post(path, headers=crew.headers(actor), json=body)


async def say(
    crew: Crew, session: str, text: str, actor: str = "user_x", **extra: object
) -> httpx.Response:
    """A message to a chat session as `actor`."""
    path = f"/api/v1/chat/sessions/{session}/messages"
    return await post(crew, path, actor, {"content": text, **extra})


async def new_session(conn: asyncpg.Connection, crew: Crew, gpt: Gpt, actor: str = "user_x") -> str:
    """A chat session of `actor` with `gpt`, made by the owner; its id."""
    ident = uuid.uuid4()
    await conn.execute(
        "insert into public.chat_sessions (id, user_id, gpt_id, title) values ($1, $2, $3, 't')",
        ident, uuid.UUID(crew.users[actor]), uuid.UUID(gpt.id),
    )  # fmt: skip
    return str(ident)


async def stored(conn: asyncpg.Connection, session: str) -> tuple[int, int, int]:
    """The session's messages, turns and usage rows, counted."""
    row = await conn.fetchrow(
        "select (select count(*) from public.chat_messages where session_id = $1),"
        " (select count(*) from public.chat_turns where session_id = $1),"
        " (select count(*) from public.usage_analytics where session_id = $1)",
        uuid.UUID(session),
    )
    assert row is not None
    return row[0], row[1], row[2]


def refused(r: httpx.Response) -> None:
    assert r.status_code == 402, r.text
    error = r.json()["error"]
    assert error["code"] == "budget_exhausted", error
    assert "monthly budget" in error["message"], error


def asked(upstream: FakeUpstream, text: str) -> int:
    return len(upstream.asked(text))


async def test_chats_stop_when_the_team_budget_is_spent(
    owner: asyncpg.Connection, fresh_crew: Crew, upstream: FakeUpstream, routed: str
) -> None:
    crew = fresh_crew
    gpt = await add_gpt(owner, crew, "x", routed)
    budget = new_budget(crew, monthly_limit=0.02, hard_stop=True)["id"]
    session = await new_session(owner, crew, gpt)
    question = f"budget question {crew.tag}"

    for _ in range(2):
        r = await say(crew, session, question)
        assert r.status_code == 201, r.text
        assert Decimal(str(r.json()["cost"])) == ANSWER_COST
    assert asked(upstream, question) == 2
    assert await thresholds_fired(owner, budget) == [80, 100]
    before = await stored(owner, session)

    refused(await say(crew, session, question))
    refused(await say(crew, session, question, stream=True))
    other = await new_session(owner, crew, gpt, "user_x2")
    refused(await say(crew, other, question, actor="user_x2"))  # the whole team is stopped
    assert asked(upstream, question) == 2, "the provider was not called"
    assert await stored(owner, session) == before
    assert await stored(owner, other) == (0, 0, 0)

    raised = rest(crew, "PATCH", f"budgets?id=eq.{budget}", "admin_x", json={"monthly_limit": 1})
    assert raised.status_code == 200, raised.text
    r = await say(crew, session, question)
    assert r.status_code == 201, r.text
    assert asked(upstream, question) == 3


async def test_the_openai_endpoint_is_stopped_too(
    owner: asyncpg.Connection, fresh_crew: Crew, upstream: FakeUpstream, routed: str
) -> None:
    crew = fresh_crew
    gpt = await add_gpt(owner, crew, "x", routed)
    new_budget(crew, monthly_limit=1, hard_stop=True)
    await charge(owner, crew, "1", actor="admin_x")
    question = f"openai budget question {crew.tag}"
    r = await post(
        crew, "/api/v1/openai/chat/completions", "user_x",
        {"model": f"gpt_{gpt.id}", "messages": [{"role": "user", "content": question}]},
    )  # fmt: skip
    assert r.status_code == 402, r.text
    assert r.json()["error"]["code"] == "budget_exhausted"
    assert asked(upstream, question) == 0
    sessions = "select count(*) from public.chat_sessions where gpt_id = $1"
    assert await owner.fetchval(sessions, uuid.UUID(gpt.id)) == 0, "no API session is kept"


async def test_a_gpt_budget_stops_only_that_gpt(
    owner: asyncpg.Connection, fresh_crew: Crew, upstream: FakeUpstream, routed: str
) -> None:
    crew = fresh_crew
    stopped: Gpt = await add_gpt(owner, crew, "x", routed)
    free = await add_gpt(owner, crew, "x", routed)
    new_budget(crew, gpt_id=stopped.id, monthly_limit=0.5, hard_stop=True)
    await charge(owner, crew, "0.5", actor="user_x2", gpt=stopped.id)
    question = f"gpt budget question {crew.tag}"
    refused(await say(crew, await new_session(owner, crew, stopped), question))
    assert asked(upstream, question) == 0
    r = await say(crew, await new_session(owner, crew, free), question)
    assert r.status_code == 201, r.text
    assert asked(upstream, question) == 1


async def test_a_budget_without_hard_stop_only_alerts(
    owner: asyncpg.Connection, fresh_crew: Crew, upstream: FakeUpstream, routed: str
) -> None:
    crew = fresh_crew
    gpt = await add_gpt(owner, crew, "x", routed)
    budget = new_budget(crew, monthly_limit=1, hard_stop=False)["id"]
    await charge(owner, crew, "3")
    question = f"soft budget question {crew.tag}"
    r = await say(crew, await new_session(owner, crew, gpt), question)
    assert r.status_code == 201, r.text
    assert asked(upstream, question) == 1
    assert await thresholds_fired(owner, budget) == [80, 100]
