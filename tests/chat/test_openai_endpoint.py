"""/api/v1/openai through the official `openai` SDK: governed GPTs as models `gpt_<id>`, chat
completions whole and streamed, recorded in the caller's API session, and OpenAI's errors
for what it refuses (with nothing recorded)."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from tests.chat.gateway_world import (
    GPT_A_PRIVATE,
    GPT_A_PUBLIC,
    GPT_B_PRIVATE,
    USER_A,
    Gpts,
    gpts,
    messages_of,
    provider,
    recorded,
    unique,
)
from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.llm.fake_openai import ANSWER, CUT_AFTER_WORDS, FakeUpstream
from tests.rest.world import TEAM_A, World

PROMPT = "You are the OpenAI endpoint's test GPT."


@dataclass(frozen=True)
class Api:
    """This module's GPTs: one the fake answers, one failing, and some that may not answer."""

    answering: str
    failing: str
    dropping: str
    pending: str
    inactive: str
    made: Gpts


@pytest.fixture(scope="module")
def api(world: World, db: MigratedDatabase, upstream: FakeUpstream) -> Iterator[Api]:
    model = unique("fake-openai")
    upstream.usage[model] = (40, 5)
    with (
        provider(world, name=unique("chat-openai"), kind="openai", base_url=upstream.base_url,
                 models=[model, "fail-500", "drop"], max_retries=0),
        gpts(db) as made,
    ):  # fmt: skip
        yield Api(
            answering=made.gpt(model, prompt=PROMPT),
            failing=made.gpt("fail-500"),
            dropping=made.gpt("drop"),
            pending=made.gpt(model, approval="pending"),
            inactive=made.gpt(model, status="inactive"),
            made=made,
        )


def client(world: World, actor: str = "user_a", key: str | None = None) -> openai.OpenAI:
    """The SDK pointed at the server, with `actor`'s access token as its API key."""
    return openai.OpenAI(
        base_url=f"{world.server.url}/api/v1/openai",
        api_key=key or world.tokens[actor],
        max_retries=0,
    )


def api_sessions(db: MigratedDatabase, gpt: str) -> list[tuple[Any, ...]]:
    return owner_query(
        db,
        "select id::text, title, context ->> 'source' from public.chat_sessions"
        " where user_id = $1 and gpt_id = $2 order by created_at",
        uuid.UUID(USER_A), uuid.UUID(gpt),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------


def test_models_are_the_gpts_the_caller_may_chat_with(world: World, api: Api) -> None:
    with client(world) as sdk:
        ids = {model.id for model in sdk.models.list()}
    assert {f"gpt_{g}" for g in (GPT_A_PRIVATE, GPT_A_PUBLIC, api.answering)} <= ids
    assert not {f"gpt_{g}" for g in (GPT_B_PRIVATE, api.pending, api.inactive)} & ids
    with client(world, "user_b") as sdk:
        ids = {model.id for model in sdk.models.list()}
    assert {f"gpt_{GPT_B_PRIVATE}", f"gpt_{GPT_A_PUBLIC}"} <= ids
    assert not {f"gpt_{g}" for g in (GPT_A_PRIVATE, api.answering)} & ids


@pytest.mark.parametrize("name", ["gpt_{}", "{}"])
def test_a_model_is_found_by_its_name_or_its_uuid(world: World, api: Api, name: str) -> None:
    with client(world) as sdk:
        model = sdk.models.retrieve(name.format(api.answering))
    assert (model.id, model.object, model.owned_by) == (f"gpt_{api.answering}", "model", TEAM_A)
    assert model.created > 0
    assert model.model_extra and model.model_extra["name"].startswith("gateway test")


@pytest.mark.parametrize("which", ["b_private", "pending", "unknown", "gpt-4", "gpt_nonsense"])
def test_a_model_the_caller_may_not_use_is_not_found(world: World, api: Api, which: str) -> None:
    name = {
        "b_private": f"gpt_{GPT_B_PRIVATE}", "pending": f"gpt_{api.pending}",
        "unknown": f"gpt_{uuid.uuid4()}", "gpt-4": "gpt-4", "gpt_nonsense": "gpt_nonsense",
    }[which]  # fmt: skip
    with client(world) as sdk, pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve(name)
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model" and caught.value.type == "invalid_request_error"


# ---------------------------------------------------------------------------------------
# Completions
# ---------------------------------------------------------------------------------------


def test_a_completion_is_answered_and_recorded_in_the_api_session(
    world: World, db: MigratedDatabase, upstream: FakeUpstream, api: Api
) -> None:
    question = f"How far is the moon? {uuid.uuid4()}"
    conversation = [
        {"role": "system", "content": "Answer in English."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": question},
    ]
    with client(world) as sdk:
        completion = sdk.chat.completions.create(
            model=f"gpt_{api.answering}",
            messages=conversation,  # type: ignore[arg-type]
        )
    assert completion.object == "chat.completion" and completion.model == f"gpt_{api.answering}"
    [choice] = completion.choices
    assert (choice.message.role, choice.message.content) == ("assistant", ANSWER)
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (40, 5)
    assert completion.usage.total_tokens == 45
    extension = (completion.model_extra or {})["gptdesk"]
    assert completion.id == f"chatcmpl-{extension['turn_id']}"

    [sent] = upstream.asked(question)
    assert sent["messages"] == [{"role": "system", "content": PROMPT}, *conversation]

    [(session, title, source)] = api_sessions(db, api.answering)
    assert source == "openai-api" and title.startswith("API: gateway test")
    assert extension["session_id"] == session
    stored = messages_of(db, session)
    # The client keeps the conversation; the session records what was asked and answered.
    assert [(m["sender"], m["content"]) for m in stored][-2:] == [
        ("user", question), ("gpt", ANSWER),
    ]  # fmt: skip
    assert stored[-1]["id"] == extension["message_id"]
    assert stored[-1]["metadata"]["turn_id"] == extension["turn_id"]


def test_later_completions_use_the_same_api_session(
    world: World, db: MigratedDatabase, api: Api
) -> None:
    gpt = api.made.gpt(owner_model(db, api.answering))
    with client(world) as sdk:
        for question in ("First", "Second"):
            sdk.chat.completions.create(
                model=f"gpt_{gpt}", messages=[{"role": "user", "content": question}]
            )
    [(session, _, _)] = api_sessions(db, gpt)
    assert [m["content"] for m in messages_of(db, session) if m["sender"] == "user"] == [
        "First", "Second",
    ]  # fmt: skip


def owner_model(db: MigratedDatabase, gpt: str) -> str:
    [(model,)] = owner_query(db, "select model from public.gpts where id = $1", uuid.UUID(gpt))
    return str(model)


def test_a_streamed_completion_with_usage(
    world: World, db: MigratedDatabase, upstream: FakeUpstream, api: Api
) -> None:
    question = f"Stream it {uuid.uuid4()}"
    with client(world) as sdk:
        chunks = list(
            sdk.chat.completions.create(
                model=f"gpt_{api.answering}",
                messages=[{"role": "developer", "content": "Be kind."},
                          {"role": "user", "content": question}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )  # fmt: skip
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    finish, usage = chunks[-2], chunks[-1]
    assert finish.choices[0].finish_reason == "stop"
    assert usage.choices == [] and usage.usage is not None
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (40, 5)
    [sent] = upstream.asked(question)
    assert [m["role"] for m in sent["messages"]] == ["system", "system", "user"]
    stored = [m for m in messages_of(db, api_sessions(db, api.answering)[0][0])]
    assert (stored[-1]["sender"], stored[-1]["content"]) == ("gpt", ANSWER)


def test_a_stream_without_usage_asked_has_no_usage_chunk(world: World, api: Api) -> None:
    with client(world) as sdk:
        chunks = list(
            sdk.chat.completions.create(
                model=f"gpt_{api.answering}", messages=[{"role": "user", "content": "Hi"}],
                stream=True,
            )
        )  # fmt: skip
    assert all(c.choices and c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_an_idempotent_retry_is_replayed(
    world: World, db: MigratedDatabase, upstream: FakeUpstream, api: Api
) -> None:
    key, question = str(uuid.uuid4()), f"Once {uuid.uuid4()}"
    with client(world) as sdk:
        raw = [
            sdk.chat.completions.with_raw_response.create(
                model=f"gpt_{api.answering}", messages=[{"role": "user", "content": question}],
                extra_headers={"Idempotency-Key": key},
            )
            for _ in range(2)
        ]  # fmt: skip
    first, again = (r.parse() for r in raw)
    assert "idempotency-replayed" not in raw[0].headers
    assert raw[1].headers["idempotency-replayed"] == "true"
    assert (again.id, again.choices[0].message.content) == (first.id, ANSWER)
    assert len(upstream.asked(question)) == 1


def test_sampling_settings_go_upstream_within_the_gpts_limit(
    world: World, upstream: FakeUpstream, api: Api
) -> None:
    """temperature is the client's (else the GPT's); max_tokens at most the GPT's 2000."""
    asked = {}
    with client(world) as sdk:
        for name, extra in (
            ("theirs", {"temperature": 0.2, "max_tokens": 64}),
            ("capped", {"max_completion_tokens": 5000}),
            ("gpt's", {}),
        ):
            question = f"{name} {uuid.uuid4()}"
            sdk.chat.completions.create(
                model=f"gpt_{api.answering}", messages=[{"role": "user", "content": question}],
                **extra,  # type: ignore[arg-type]
            )  # fmt: skip
            [sent] = upstream.asked(question)
            asked[name] = (sent["temperature"], sent["max_tokens"])
    assert asked == {"theirs": (0.2, 64), "capped": (0.7, 2000), "gpt's": (0.7, 2000)}


def test_a_key_reused_for_other_messages_is_422(
    world: World, db: MigratedDatabase, api: Api
) -> None:
    key = str(uuid.uuid4())
    with client(world) as sdk:
        sdk.chat.completions.create(
            model=f"gpt_{api.answering}", messages=[{"role": "user", "content": "One"}],
            extra_headers={"Idempotency-Key": key},
        )  # fmt: skip
        before = recorded(db)
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            sdk.chat.completions.create(
                model=f"gpt_{api.answering}", messages=[{"role": "user", "content": "Two"}],
                extra_headers={"Idempotency-Key": key},
            )  # fmt: skip
    assert caught.value.code == "idempotency_key_reused"
    assert recorded(db) == before


# ---------------------------------------------------------------------------------------
# Refusals, in OpenAI's format
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["gpt-4", "gpt_", "gpt_not-a-uuid", "", f"gpt_{GPT_B_PRIVATE}", f"gpt_{uuid.uuid4()}"]
)
def test_a_model_that_names_no_usable_gpt_is_404(
    world: World, db: MigratedDatabase, model: str
) -> None:
    before = recorded(db)
    with client(world) as sdk, pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.code == "model_not_found"
    assert recorded(db) == before


@pytest.mark.parametrize("which", ["pending", "inactive"])
def test_a_gpt_that_may_not_answer_is_403(
    world: World, db: MigratedDatabase, api: Api, which: str
) -> None:
    before = recorded(db)
    with client(world) as sdk, pytest.raises(openai.PermissionDeniedError) as caught:
        sdk.chat.completions.create(
            model=f"gpt_{getattr(api, which)}", messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.code == "gpt_unavailable"
    assert caught.value.type == "permission_error"
    assert recorded(db) == before


@pytest.mark.parametrize("key", ["not-a-token", "anon", "service_role"])
def test_anything_but_a_users_access_token_is_401(
    world: World, db: MigratedDatabase, api: Api, key: str
) -> None:
    token = {"anon": world.server.anon_key, "service_role": world.server.service_role_key}.get(
        key, key
    )
    before = recorded(db)
    with client(world, key=token) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.chat.completions.create(
                model=f"gpt_{api.answering}", messages=[{"role": "user", "content": "Hi"}]
            )
        assert caught.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            sdk.models.list()
    assert recorded(db) == before


_USER = {"role": "user", "content": "Hi"}
BAD_REQUESTS: dict[str, dict[str, Any]] = {
    "n=2": {"messages": [_USER], "n": 2},
    "tools": {"messages": [_USER], "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
    "response_format": {"messages": [_USER], "response_format": {"type": "json_object"}},
    "image": {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]},
    "last is assistant": {"messages": [_USER, {"role": "assistant", "content": "Hello"}]},
    "last is system": {"messages": [_USER, {"role": "system", "content": "Be brief."}]},
    "blank question": {"messages": [{"role": "user", "content": "  "}]},
    "no messages": {"messages": []},
    "tool role": {"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}, _USER]},
    "temperature": {"messages": [_USER], "temperature": 2.5},
    "max_tokens": {"messages": [_USER], "max_tokens": 0},
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_what_is_not_supported_is_400(
    world: World, db: MigratedDatabase, api: Api, case: str
) -> None:
    before = recorded(db)
    with client(world) as sdk, pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model=f"gpt_{api.answering}", **BAD_REQUESTS[case])
    assert caught.value.type == "invalid_request_error"
    assert caught.value.param
    assert recorded(db) == before


def test_a_question_over_the_limit_is_413(world: World, db: MigratedDatabase, api: Api) -> None:
    before = recorded(db)
    with client(world) as sdk, pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(
            model=f"gpt_{api.answering}", messages=[{"role": "user", "content": "x" * 32_001}]
        )
    assert (caught.value.status_code, caught.value.code) == (413, "content_too_long")
    assert recorded(db) == before


def test_a_failing_upstream_is_a_502_server_error(
    world: World, db: MigratedDatabase, api: Api
) -> None:
    with client(world) as sdk, pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(
            model=f"gpt_{api.failing}", messages=[{"role": "user", "content": "Hi"}]
        )
    assert (caught.value.status_code, caught.value.code) == (502, "provider_error")
    assert caught.value.type == "api_error"
    [(session, _, _)] = api_sessions(db, api.failing)
    [asked] = messages_of(db, session)
    assert asked["metadata"]["failure"]["code"] == "provider_error"


def test_a_stream_cut_short_raises_in_the_client(
    world: World, db: MigratedDatabase, api: Api
) -> None:
    received = []
    with client(world) as sdk, pytest.raises(openai.APIError) as caught:
        for chunk in sdk.chat.completions.create(
            model=f"gpt_{api.dropping}", messages=[{"role": "user", "content": "Hi"}],
            stream=True,
        ):  # fmt: skip
            received.append(chunk)
    assert caught.value.code == "provider_error"
    text = "".join(c.choices[0].delta.content or "" for c in received)
    assert len(text.split()) == CUT_AFTER_WORDS and ANSWER.startswith(text)
    [(session, _, _)] = api_sessions(db, api.dropping)
    assert [m["sender"] for m in messages_of(db, session)] == ["user"]


def test_a_role_that_is_not_a_string_is_400(world: World, db: MigratedDatabase, api: Api) -> None:
    before = recorded(db)
    r = httpx.post(
        f"{world.server.url}/api/v1/openai/chat/completions",
        headers={"Authorization": f"Bearer {world.tokens['user_a']}"},
        json={"model": f"gpt_{api.answering}", "messages": [{"role": ["user"], "content": "Hi"}]},
    )
    assert recorded(db) == before
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_role"
