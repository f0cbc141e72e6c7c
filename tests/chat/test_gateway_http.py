"""POST /api/v1/chat/sessions/{id}/messages answered: as JSON (201) or streamed as SSE, the
question and the answer stored with their tokens, time and cost, usage counted, and the
GPT's prompt and the session's history sent to the model."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from tests.chat.gateway_world import (
    GPT_A_PRIVATE,
    USER_A,
    Gpts,
    ask,
    decimals,
    gpts,
    messages_of,
    prices,
    provider,
    sse_events,
    turns_of,
    unique,
    usage_of,
)
from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.llm.fake_openai import ANSWER, FakeUpstream
from tests.rest.world import World

PROMPT = "You are the gateway test GPT. Answer briefly."
USAGE = (123, 5)  # what the fake reports for the module's model: (prompt, completion) tokens
BIG_USAGE = (1_234_567, 89_012)  # …and for its second model: dollars, not fractions of a cent
PRICE = ("2.50", "10.00")  # per million tokens, input and output


@dataclass(frozen=True)
class Chat:
    """This module's GPT, answered by the fake upstream through a provider row."""

    model: str
    monthly: str  # a second model, for GPTs of one test each
    provider: str
    gpt: str
    made: Gpts


@pytest.fixture(scope="module")
def chat(world: World, db: MigratedDatabase, upstream: FakeUpstream) -> Iterator[Chat]:
    model, monthly = unique("fake-chat"), unique("fake-monthly")
    upstream.usage[model] = USAGE
    upstream.usage[monthly] = BIG_USAGE
    name = unique("chat-http")
    with (
        provider(world, name=name, kind="openai", base_url=upstream.base_url,
                 models=[model, monthly], max_retries=0),
        prices(db, **{model: PRICE, monthly: PRICE}),
        gpts(db) as made,
    ):  # fmt: skip
        yield Chat(model, monthly, name, made.gpt(model, prompt=PROMPT), made)


def expected_cost(prompt: int, completion: int) -> Decimal:
    return (prompt * Decimal(PRICE[0]) + completion * Decimal(PRICE[1])) / 1_000_000


def gpt_counters(db: MigratedDatabase, gpt: str) -> tuple[int, Decimal]:
    [(count, cost)] = owner_query(
        db, "select usage_count, monthly_cost from public.gpts where id = $1", uuid.UUID(gpt)
    )
    return count, cost


def test_a_json_answer_is_stored_with_its_usage_and_cost(
    world: World, db: MigratedDatabase, chat: Chat
) -> None:
    session = chat.made.session(chat.gpt)
    count_before, _ = gpt_counters(db, chat.gpt)
    r = ask(world, session, "What should I pack for Lisbon?")
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json"
    assert "idempotency-replayed" not in r.headers
    body = decimals(r)
    cost = expected_cost(*USAGE)
    assert body["status"] == "completed" and body["error"] is None
    assert body["usage"] == {"prompt_tokens": 123, "completion_tokens": 5, "total_tokens": 128}
    assert (body["cost"], body["currency"], body["priced"]) == (cost, "USD", True)
    asked, answer = body["user_message"], body["message"]
    assert (asked["sender"], asked["content"]) == ("user", "What should I pack for Lisbon?")
    assert (answer["sender"], answer["content"], answer["tokens_used"]) == ("gpt", ANSWER, 128)
    assert answer["response_time_ms"] >= 0
    assert answer["metadata"] == {
        "model": chat.model, "provider": chat.provider, "finish_reason": "stop",
        "prompt_tokens": 123, "completion_tokens": 5, "cost": cost, "currency": "USD",
        "priced": True, "turn_id": body["turn_id"],
    }  # fmt: skip

    stored = messages_of(db, session)
    assert [(m["id"], m["sender"]) for m in stored] == [
        (asked["id"], "user"),
        (answer["id"], "gpt"),
    ]
    assert stored[1]["tokens_used"] == 128
    assert stored[1]["response_time_ms"] == answer["response_time_ms"]
    [turn] = turns_of(db, session)
    assert (turn["id"], turn["status"]) == (body["turn_id"], "completed")
    assert (turn["user_message_id"], turn["gpt_message_id"]) == (asked["id"], answer["id"])
    assert turn["user_id"] == USER_A and turn["finished_at"] is not None

    [usage] = usage_of(db, session)
    assert (usage["user_id"], usage["gpt_id"], usage["tokens_used"]) == (USER_A, chat.gpt, 128)
    assert Decimal(usage["cost"]) == cost
    assert usage["response_time_ms"] == answer["response_time_ms"]
    assert usage["metrics"] == {
        "model": chat.model, "provider": chat.provider, "prompt_tokens": 123,
        "completion_tokens": 5, "priced": True, "currency": "USD", "status": "completed",
        "finish_reason": "stop", "usage_reported": True, "turn_id": body["turn_id"],
    }  # fmt: skip
    assert gpt_counters(db, chat.gpt)[0] == count_before + 1


def test_usage_adds_up_in_the_month_and_the_gpts_monthly_cost(
    world: World, db: MigratedDatabase, chat: Chat
) -> None:
    """gpt_monthly_usage keeps the exact totals; gpts.monthly_cost shows them in cents."""
    gpt = chat.made.gpt(chat.monthly)
    session = chat.made.session(gpt)
    for question in ("One?", "Two?"):
        assert ask(world, session, question).status_code == 201
    [(requests, prompt, completion, cost, unpriced)] = owner_query(
        db,
        "select requests, prompt_tokens, completion_tokens, cost, unpriced_requests"
        " from public.gpt_monthly_usage where gpt_id = $1",
        uuid.UUID(gpt),
    )
    total = 2 * expected_cost(*BIG_USAGE)
    assert total == Decimal("7.953075")
    assert (requests, prompt, completion, cost, unpriced) == (
        2, 2 * BIG_USAGE[0], 2 * BIG_USAGE[1], total, 0,
    )  # fmt: skip
    assert gpt_counters(db, gpt) == (2, Decimal("7.95"))


def test_a_streamed_answer_arrives_event_by_event(
    world: World, db: MigratedDatabase, chat: Chat, upstream: FakeUpstream
) -> None:
    session = chat.made.session(chat.gpt)
    r = ask(world, session, "Stream me the answer, please", stream=True)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    events = sse_events(r.text)
    names = [name for name, _ in events]
    assert names[0] == "turn" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) - 2 == len(ANSWER.split())
    turn, done = events[0][1], events[-1][1]
    deltas = "".join(data["content"] for name, data in events if name == "delta")
    assert deltas == ANSWER
    assert turn["user_message"]["content"] == "Stream me the answer, please"
    assert done["turn_id"] == turn["turn_id"] and done["status"] == "completed"
    assert done["user_message"]["id"] == turn["user_message"]["id"]
    stored = messages_of(db, session)
    assert [(m["sender"], m["content"]) for m in stored] == [
        ("user", "Stream me the answer, please"),
        ("gpt", deltas),
    ]
    assert done["message"]["id"] == stored[1]["id"]
    assert done["message"]["metadata"]["prompt_tokens"] == USAGE[0]
    [sent] = upstream.asked("Stream me the answer, please")
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert len(usage_of(db, session)) == 1


def test_the_prompt_and_the_history_go_to_the_model(
    world: World, db: MigratedDatabase, chat: Chat, upstream: FakeUpstream
) -> None:
    session = chat.made.session(chat.gpt)
    for sender, content, minutes in (
        ("user", "Earlier question", 3), ("gpt", "Earlier answer", 2),
    ):  # fmt: skip
        owner_query(
            db,
            "insert into public.chat_messages (session_id, sender, content, created_at)"
            " values ($1, $2::public.message_sender, $3, now() - make_interval(mins => $4))",
            uuid.UUID(session), sender, content, minutes,
        )  # fmt: skip
    question = f"And now? {uuid.uuid4()}"
    assert ask(world, session, question).status_code == 201
    [sent] = upstream.asked(question)
    assert sent["model"] == chat.model
    assert sent["messages"] == [
        {"role": "system", "content": PROMPT},
        {"role": "user", "content": "Earlier question"},
        {"role": "assistant", "content": "Earlier answer"},
        {"role": "user", "content": question},
    ]
    assert sent["temperature"] == 0.7 and sent["max_tokens"] == 2000
    assert not sent.get("stream")

    follow_up = f"Once more? {uuid.uuid4()}"
    assert ask(world, session, follow_up, stream=True).status_code == 200
    [sent] = upstream.asked(follow_up)
    assert [m["content"] for m in sent["messages"]] == [
        PROMPT, "Earlier question", "Earlier answer", question, ANSWER, follow_up,
    ]  # fmt: skip


def test_a_gpt_without_a_provider_is_answered_offline(world: World, chat: Chat) -> None:
    """The world's GPT (gpt-4, which no provider of these tests lists) gets the built-in
    offline model, priced as the offline model: free, and it says so."""
    session = chat.made.session(GPT_A_PRIVATE)
    r = ask(world, session, "Is anyone there?")
    assert r.status_code == 201, r.text
    body = decimals(r)
    answer = body["message"]
    assert "offline model" in answer["content"] and "Is anyone there?" in answer["content"]
    assert answer["metadata"]["model"] == "offline"
    assert (body["cost"], body["priced"]) == (Decimal(0), True)
    assert body["usage"]["completion_tokens"] == len(answer["content"].split())
