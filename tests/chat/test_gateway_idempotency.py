"""Idempotency-Key on the session endpoint: a retry replays the first answer (the model asked
once, usage charged once), a key is the caller's own and bound to its request, a key still
being answered is 409, and a retry after a failure runs again on the question stored."""

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gptdesk.chat.gateway import ChatGateway, request_hash
from gptdesk.db.pool import create_pool
from gptdesk.db.scope import Scope
from gptdesk.llm.registry import ProviderRegistry
from tests.chat.gateway_world import (
    GPT_B_PRIVATE,
    USER_B,
    Gpts,
    ask,
    gpts,
    messages_of,
    provider,
    recorded,
    sse_events,
    turns_of,
    unique,
    usage_of,
    wait_for,
)
from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.llm.fake_openai import ANSWER, FakeUpstream
from tests.rest.world import World


@dataclass(frozen=True)
class Models:
    """This module's models: one the fake answers, one answered slowly offline."""

    good: str
    paced: str
    made: Gpts


@pytest.fixture(scope="module")
def models(world: World, db: MigratedDatabase, upstream: FakeUpstream) -> Iterator[Models]:
    good, paced = unique("fake-idem"), unique("paced-idem")
    with (
        provider(world, name=unique("chat-idem"), kind="openai", base_url=upstream.base_url,
                 models=[good, "fail-500"], max_retries=0),
        provider(world, name=unique("chat-idem-paced"), kind="offline", models=[paced],
                 pace_ms=300),
        gpts(db) as made,
    ):  # fmt: skip
        yield Models(good, paced, made)


def test_a_retry_replays_the_first_answer(
    world: World, db: MigratedDatabase, upstream: FakeUpstream, models: Models
) -> None:
    session = models.made.session(models.made.gpt(models.good))
    key, question = str(uuid.uuid4()), f"Only once, please {uuid.uuid4()}"
    first = ask(world, session, question, key=key)
    assert first.status_code == 201, first.text
    assert "idempotency-replayed" not in first.headers
    again = ask(world, session, question, key=key)
    assert again.status_code == 201, again.text
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json() == first.json()
    assert len(upstream.asked(question)) == 1
    assert [m["sender"] for m in messages_of(db, session)] == ["user", "gpt"]
    assert len(usage_of(db, session)) == 1 and len(turns_of(db, session)) == 1

    streamed = ask(world, session, question, key=key, stream=True)
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["idempotency-replayed"] == "true"
    events = sse_events(streamed.text)
    assert [name for name, _ in events] == ["turn", "delta", "done"]
    assert events[0][1] == {
        "turn_id": first.json()["turn_id"], "user_message": first.json()["user_message"],
    }  # fmt: skip
    assert events[1][1] == {"content": ANSWER}
    assert events[2][1] == first.json()
    assert len(upstream.asked(question)) == 1 and len(usage_of(db, session)) == 1


def test_a_key_reused_for_another_request_is_422(
    world: World, db: MigratedDatabase, models: Models
) -> None:
    gpt = models.made.gpt(models.good)
    session, other = models.made.session(gpt), models.made.session(gpt)
    key = str(uuid.uuid4())
    assert ask(world, session, "First question", key=key).status_code == 201
    before = recorded(db)
    for where, content in ((session, "A different question"), (other, "First question")):
        r = ask(world, where, content, key=key)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert recorded(db) == before


def test_a_key_is_the_callers_own(world: World, db: MigratedDatabase, models: Models) -> None:
    """Another user's identical key is another request: answered, not refused or replayed."""
    key = str(uuid.uuid4())
    mine = models.made.session(models.made.gpt(models.good))
    theirs = models.made.session(GPT_B_PRIVATE, user=USER_B)
    first = ask(world, mine, "Same words", key=key)
    assert first.status_code == 201, first.text
    other = ask(world, theirs, "Same words", key=key, actor="user_b")
    assert other.status_code == 201, other.text
    assert "idempotency-replayed" not in other.headers
    assert other.json()["turn_id"] != first.json()["turn_id"]


def test_a_retry_after_a_failure_runs_again_on_the_same_question(
    world: World, db: MigratedDatabase, models: Models
) -> None:
    gpt = models.made.gpt("fail-500")
    session = models.made.session(gpt)
    key = str(uuid.uuid4())
    failed = ask(world, session, "Try again later", key=key)
    assert failed.status_code == 502, failed.text
    asked = failed.json()["turn"]["user_message"]
    assert "failure" in asked["metadata"]

    again = ask(world, session, "Try again later", key=key)  # the model still fails
    assert again.status_code == 502, again.text
    assert again.json()["turn"]["user_message"]["id"] == asked["id"]

    owner_query(db, "update public.gpts set model = $2 where id = $1", uuid.UUID(gpt), models.good)
    answered = ask(world, session, "Try again later", key=key)
    assert answered.status_code == 201, answered.text
    assert "idempotency-replayed" not in answered.headers
    body = answered.json()
    assert body["user_message"]["id"] == asked["id"]
    assert "failure" not in body["user_message"]["metadata"]
    stored = messages_of(db, session)
    assert [(m["id"], m["sender"]) for m in stored] == [
        (asked["id"], "user"), (body["message"]["id"], "gpt"),
    ]  # fmt: skip
    assert stored[0]["metadata"] == {}
    assert [t["status"] for t in turns_of(db, session)] == ["failed", "failed", "completed"]
    assert {t["user_message_id"] for t in turns_of(db, session)} == {asked["id"]}
    assert len(usage_of(db, session)) == 1

    replay = ask(world, session, "Try again later", key=key)
    assert replay.headers["idempotency-replayed"] == "true"
    assert replay.json() == body


def test_a_key_still_being_answered_is_409_then_runs_again_once_cancelled(
    world: World, db: MigratedDatabase, models: Models
) -> None:
    session = models.made.session(models.made.gpt(models.paced))
    key = str(uuid.uuid4())
    url = f"{world.server.url}/api/v1/chat/sessions/{session}/messages"
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", url, headers={**world.headers("user_a"), "Idempotency-Key": key},
            json={"content": "Slowly now", "stream": True},
        ) as first,
    ):  # fmt: skip
        lines = first.iter_lines()  # kept: an abandoned iterator closes the connection
        for line in lines:
            if line == "event: delta":
                break
        before = recorded(db)
        busy = ask(world, session, "Slowly now", key=key)
        assert busy.status_code == 409, busy.text
        assert busy.json()["error"]["code"] == "request_in_progress"
        assert recorded(db) == before
    # The first request hung up: its turn is cancelled, so the key may be used again.
    wait_for(lambda: turns_of(db, session)[0]["status"] != "pending")
    assert turns_of(db, session)[0]["status"] == "cancelled"
    answered = ask(world, session, "Slowly now", key=key)
    assert answered.status_code == 201, answered.text
    [asked] = [m for m in messages_of(db, session) if m["sender"] == "user"]
    assert answered.json()["user_message"]["id"] == asked["id"]
    assert [t["status"] for t in turns_of(db, session)] == ["cancelled", "completed"]


def abandon_stale(db: MigratedDatabase, older_than_seconds: float) -> int:
    """What the server's sweeper does, through the gateway (as its role)."""

    async def run() -> int:
        pool = await create_pool(db.app_dsn, min_size=1, max_size=1)
        try:
            scope = Scope(pool)
            registry = ProviderRegistry(scope, db.jwt_secret, environment=None, fallback=None)
            return await ChatGateway(scope, registry).abandon_stale(older_than_seconds)
        finally:
            await pool.close()

    return asyncio.run(run())


def test_a_turn_its_server_abandoned_is_closed_and_may_be_retried(
    world: World, db: MigratedDatabase, models: Models
) -> None:
    """A turn left pending (its server stopped mid-answer) is closed as failed by the sweep,
    so a retry with its Idempotency-Key runs again on the question instead of waiting."""
    session = models.made.session(models.made.gpt(models.good))
    key, question = str(uuid.uuid4()), "Were you there?"
    [(asked,)] = owner_query(
        db,
        "insert into public.chat_messages (session_id, sender, content, created_at)"
        " values ($1, 'user', $2, now() - interval '2 hours') returning id::text",
        uuid.UUID(session), question,
    )  # fmt: skip
    owner_query(
        db,
        "insert into public.chat_turns (user_id, session_id, gpt_id, user_message_id,"
        " idempotency_key, request_hash, created_at)"
        " select s.user_id, s.id, s.gpt_id, $2, $3, $4, now() - interval '2 hours'"
        " from public.chat_sessions s where s.id = $1",
        uuid.UUID(session), uuid.UUID(asked), key, request_hash("session", session, question),
    )  # fmt: skip
    busy = ask(world, session, question, key=key)
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "request_in_progress")

    assert abandon_stale(db, 3600) >= 0  # the server's own sweep may have closed it first
    [turn] = turns_of(db, session)
    assert turn["status"] == "failed" and turn["error"]["code"] == "abandoned"
    [message] = messages_of(db, session)
    assert message["metadata"]["failure"]["code"] == "abandoned"
    abandon_stale(db, 3600)
    assert turns_of(db, session) == [turn]  # a closed turn stays as it was

    answered = ask(world, session, question, key=key)
    assert answered.status_code == 201, answered.text
    assert answered.json()["user_message"]["id"] == asked
    assert [t["status"] for t in turns_of(db, session)] == ["failed", "completed"]
