"""When the model fails or the client goes away: the question stays with the failure recorded
on it, the turn is failed or cancelled, no answer is stored, and usage is charged only for
text that came. The fake upstream fails on cue through provider rows made here."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.chat.gateway_world import (
    Gpts,
    ask,
    gpts,
    messages_of,
    provider,
    sse_events,
    turns_of,
    unique,
    usage_of,
    wait_for,
)
from tests.conftest import MigratedDatabase
from tests.llm.fake_openai import ANSWER, CUT_AFTER_WORDS, FakeUpstream
from tests.rest.world import World

PACE_MS = 300  # the paced offline model's pause between words: its answer takes seconds


@dataclass(frozen=True)
class Failing:
    """A GPT per way of failing: model name → GPT id."""

    gpt: dict[str, str]
    made: Gpts
    names: dict[str, str]  # what the provider rows are called, by purpose


@pytest.fixture(scope="module")
def failing(world: World, db: MigratedDatabase, upstream: FakeUpstream) -> Iterator[Failing]:
    paced = unique("paced-offline")
    names = {"failing": unique("chat-failing"), "impatient": unique("chat-impatient"),
             "paced": unique("chat-paced")}  # fmt: skip
    with (
        provider(world, name=names["failing"], kind="openai", base_url=upstream.base_url,
                 models=["fail-500", "fail-401", "drop", "truncate", "garbage"], max_retries=0),
        provider(world, name=names["impatient"], kind="openai", base_url=upstream.base_url,
                 models=["slow", "stall"], max_retries=0, timeout_seconds=0.5),
        provider(world, name=names["paced"], kind="offline", models=[paced], pace_ms=PACE_MS),
        gpts(db) as made,
    ):  # fmt: skip
        models = ["fail-500", "fail-401", "drop", "truncate", "garbage", "slow", "stall"]
        gpt = {model: made.gpt(model) for model in models}
        gpt["paced"] = made.gpt(paced)
        yield Failing(gpt, made, names)


def assert_failed(
    db: MigratedDatabase, session: str, *, status: str, code: str, charged: bool
) -> dict[str, Any]:
    """The session holds the question alone, its failure recorded; the turn closed as
    `status`; a usage row only when `charged`. The failure."""
    [asked] = messages_of(db, session)
    assert asked["sender"] == "user"
    failure: dict[str, Any] = asked["metadata"]["failure"]
    [turn] = turns_of(db, session)
    assert (turn["status"], turn["gpt_message_id"]) == (status, None)
    assert turn["finished_at"] is not None
    assert turn["error"] == failure
    assert (failure["code"], failure["status"], failure["turn_id"]) == (code, status, turn["id"])
    usage = usage_of(db, session)
    if charged:
        [row] = usage
        assert row["metrics"]["status"] == status
        assert row["metrics"]["usage_reported"] is False
        assert row["metrics"]["completion_tokens"] > 0 and row["tokens_used"] > 0
    else:
        assert usage == []
    return failure


def test_an_upstream_500_is_502_and_keeps_the_question(
    world: World, db: MigratedDatabase, failing: Failing, upstream: FakeUpstream
) -> None:
    session = failing.made.session(failing.gpt["fail-500"])
    question = f"Will this work? {uuid.uuid4()}"
    r = ask(world, session, question)
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["error"]["code"] == "provider_error"
    assert "fake failure 500" in body["error"]["message"]
    assert body["turn"]["status"] == "failed" and body["turn"]["message"] is None
    assert body["turn"]["user_message"]["content"] == question
    failure = assert_failed(db, session, status="failed", code="provider_error", charged=False)
    assert failure["provider_status"] == 500
    assert body["turn"]["user_message"]["metadata"]["failure"] == failure
    assert len(upstream.asked(question)) == 1  # max_retries 0: asked once


def test_an_upstream_refusal_is_502_with_its_status_recorded(
    world: World, db: MigratedDatabase, failing: Failing
) -> None:
    session = failing.made.session(failing.gpt["fail-401"])
    r = ask(world, session, "Am I allowed?")
    assert r.status_code == 502, r.text
    failure = assert_failed(db, session, status="failed", code="provider_error", charged=False)
    assert failure["provider_status"] == 401


def test_a_failure_before_any_text_streams_an_error_event(
    world: World, db: MigratedDatabase, failing: Failing
) -> None:
    session = failing.made.session(failing.gpt["fail-500"])
    r = ask(world, session, "Stream a failure", stream=True)
    assert r.status_code == 200, r.text
    events = sse_events(r.text)
    assert [name for name, _ in events] == ["turn", "error"]
    error = events[1][1]
    assert error["error"]["code"] == "provider_error"
    assert (
        error["turn"]["status"] == "failed" and error["turn"]["turn_id"] == events[0][1]["turn_id"]
    )
    assert_failed(db, session, status="failed", code="provider_error", charged=False)


def test_a_slow_upstream_is_504(world: World, db: MigratedDatabase, failing: Failing) -> None:
    session = failing.made.session(failing.gpt["slow"])
    r = ask(world, session, "Take your time")
    assert r.status_code == 504, r.text
    assert r.json()["error"]["code"] == "provider_error"
    assert "in time" in r.json()["error"]["message"]
    failure = assert_failed(db, session, status="failed", code="provider_error", charged=False)
    assert failure["provider_status"] == 504


def test_an_upstream_stalling_mid_stream_ends_with_an_error_event(
    world: World, db: MigratedDatabase, failing: Failing
) -> None:
    session = failing.made.session(failing.gpt["stall"])
    events = sse_events(ask(world, session, "Keep going", stream=True).text)
    names = [name for name, _ in events]
    assert names == ["turn"] + ["delta"] * CUT_AFTER_WORDS + ["error"]
    partial = "".join(data["content"] for name, data in events if name == "delta")
    assert ANSWER.startswith(partial) and partial != ANSWER
    assert events[-1][1]["turn"]["status"] == "failed"
    failure = assert_failed(db, session, status="failed", code="provider_error", charged=True)
    assert failure["provider_status"] == 504


def test_an_upstream_dropping_mid_stream_ends_with_an_error_event(
    world: World, db: MigratedDatabase, failing: Failing
) -> None:
    """The words that came are charged (estimated), but no partial answer is stored."""
    session = failing.made.session(failing.gpt["drop"])
    events = sse_events(ask(world, session, "Tell me everything", stream=True).text)
    assert [name for name, _ in events] == ["turn"] + ["delta"] * CUT_AFTER_WORDS + ["error"]
    error = events[-1][1]
    assert error["error"]["code"] == "provider_error"
    assert error["turn"]["message"] is None
    assert error["turn"]["usage"]["completion_tokens"] > 0
    failure = assert_failed(db, session, status="failed", code="provider_error", charged=True)
    assert failure["provider_status"] == 502


def test_a_client_that_goes_away_cancels_the_answer(
    world: World, db: MigratedDatabase, failing: Failing
) -> None:
    session = failing.made.session(failing.gpt["paced"])
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", f"{world.server.url}/api/v1/chat/sessions/{session}/messages",
            headers=world.headers("user_a"), json={"content": "Talk slowly", "stream": True},
        ) as r,
    ):  # fmt: skip
        assert r.status_code == 200
        for line in r.iter_lines():
            if line == "event: delta":
                break  # and hang up
    closed = wait_for(lambda: [t for t in turns_of(db, session) if t["status"] != "pending"])
    assert closed[0]["status"] == "cancelled"
    failure = assert_failed(
        db, session, status="cancelled", code="client_disconnected", charged=True
    )
    assert "went away" in failure["message"]


def test_a_stream_that_ends_without_a_finish_is_not_a_complete_answer(
    world: World, db: MigratedDatabase, failing: Failing
) -> None:
    session = failing.made.session(failing.gpt["truncate"])
    events = sse_events(ask(world, session, "All of it, please", stream=True).text)
    assert [name for name, _ in events] == ["turn"] + ["delta"] * CUT_AFTER_WORDS + ["error"]
    assert_failed(db, session, status="failed", code="provider_error", charged=True)


def test_an_upstream_answering_html_is_502(
    world: World, db: MigratedDatabase, failing: Failing
) -> None:
    session = failing.made.session(failing.gpt["garbage"])
    r = ask(world, session, "Is this an API?")
    [turn] = turns_of(db, session)
    assert turn["status"] == "failed"  # not left pending
    assert r.status_code == 502, r.text
    assert_failed(db, session, status="failed", code="provider_error", charged=False)


def test_a_streamed_html_answer_is_an_error(
    world: World, db: MigratedDatabase, failing: Failing
) -> None:
    session = failing.made.session(failing.gpt["garbage"])
    events = sse_events(ask(world, session, "Is this an API?", stream=True).text)
    assert [name for name, _ in events] == ["turn", "error"]
    assert_failed(db, session, status="failed", code="provider_error", charged=False)
