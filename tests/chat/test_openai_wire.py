"""The OpenAI wire format, pure: requests parsed (or refused naming the parameter at fault),
model names, and the completion, chunk, usage chunk, model and error bodies built."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from gptdesk.chat import openai_wire as wire
from gptdesk.llm.providers.base import Message

GPT = "30000000-0000-4000-8000-0000000000a1"
USER = {"role": "user", "content": "Hello"}


def call(**body: Any) -> wire.CompletionCall:
    return wire.parse_call({"model": f"gpt_{GPT}", "messages": [USER], **body}, 100)


def refused(body: dict[str, Any], max_chars: int = 100) -> wire.OpenAIError:
    with pytest.raises(wire.OpenAIError) as caught:
        wire.parse_call({"model": f"gpt_{GPT}", "messages": [USER], **body}, max_chars)
    return caught.value


# ---------------------------------------------------------------------------------------
# Model names
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [f"gpt_{GPT}", GPT, f"gpt_{GPT.upper()}", GPT.replace("-", "")])
def test_a_model_name_addresses_a_gpt(name: str) -> None:
    assert wire.gpt_id_of(name) == GPT


@pytest.mark.parametrize("name", ["gpt-4", "gpt_", "", "gpt_gpt_" + GPT, f"{GPT}x", None, 42])
def test_anything_else_is_model_not_found(name: object) -> None:
    with pytest.raises(wire.OpenAIError) as caught:
        wire.gpt_id_of(name)
    error = caught.value
    assert (error.status, error.code, error.param) == (404, "model_not_found", "model")
    assert "gpt_<id>" in error.message


def test_a_gpts_model_name() -> None:
    assert wire.model_name(GPT) == f"gpt_{GPT}"


# ---------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------


def test_a_request_is_parsed() -> None:
    parsed = wire.parse_call(
        {
            "model": GPT,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Use metric units."},
                {"role": "assistant", "content": "Earlier answer"},
                {"role": "user", "content": [{"type": "text", "text": "Two "},
                                             {"type": "text", "text": "parts"}]},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0,
            "max_completion_tokens": 64,
            "user": "ignored", "seed": 7, "tools": [], "n": 1,
        },
        100,
    )  # fmt: skip
    assert parsed == wire.CompletionCall(
        model=GPT, gpt_id=GPT,
        messages=(Message("system", "Be brief."), Message("system", "Use metric units."),
                  Message("assistant", "Earlier answer"), Message("user", "Two parts")),
        stream=True, include_usage=True, temperature=0.0, max_tokens=64,
    )  # fmt: skip


def test_defaults() -> None:
    parsed = call()
    assert (parsed.stream, parsed.include_usage) == (False, False)
    assert (parsed.temperature, parsed.max_tokens) == (None, None)
    assert call(stream=None, n=None, temperature=None).stream is False


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert call(max_tokens=10, max_completion_tokens=20).max_tokens == 20
    assert call(max_tokens=10).max_tokens == 10


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"n": 2}, "unsupported_parameter", "n"),
        ({"n": 0}, "unsupported_parameter", "n"),
        ({"tools": [{"type": "function"}]}, "unsupported_parameter", "tools"),
        ({"functions": [{"name": "f"}]}, "unsupported_parameter", "functions"),
        ({"tool_choice": "auto"}, "unsupported_parameter", "tool_choice"),
        ({"function_call": "auto"}, "unsupported_parameter", "function_call"),
        ({"response_format": {"type": "json_object"}}, "unsupported_parameter", "response_format"),
        ({"audio": {"voice": "alloy"}}, "unsupported_parameter", "audio"),
        ({"stream": "true"}, "invalid_type", "stream"),
        ({"stream": 1}, "invalid_type", "stream"),
        ({"stream_options": "usage"}, "invalid_type", "stream_options"),
        ({"temperature": 2.01}, "invalid_value", "temperature"),
        ({"temperature": -0.1}, "invalid_value", "temperature"),
        ({"temperature": "0.5"}, "invalid_value", "temperature"),
        ({"temperature": True}, "invalid_value", "temperature"),
        ({"max_tokens": 0}, "invalid_value", "max_tokens"),
        ({"max_tokens": 1.5}, "invalid_value", "max_tokens"),
        ({"max_tokens": True}, "invalid_value", "max_tokens"),
        ({"max_completion_tokens": -1}, "invalid_value", "max_completion_tokens"),
        ({"messages": []}, "invalid_messages", "messages"),
        ({"messages": "Hello"}, "invalid_messages", "messages"),
        ({"messages": None}, "invalid_messages", "messages"),
        ({"messages": ["Hello"]}, "invalid_messages", "messages[0]"),
        ({"messages": [{"role": "tool", "content": "x"}, USER]}, "invalid_role",
         "messages[0].role"),
        ({"messages": [{"content": "x"}]}, "invalid_role", "messages[0].role"),
        ({"messages": [USER, {"role": "user", "content": None}]}, "invalid_content",
         "messages[1].content"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
         "unsupported_content", "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
         "invalid_content", "messages[0].content"),
        ({"messages": [{"role": "user", "content": ["Hello"]}]}, "unsupported_content",
         "messages[0].content"),
        ({"messages": [{"role": "user", "content": "a\x00b"}]}, "invalid_content",
         "messages[0].content"),
        ({"messages": [USER, {"role": "assistant", "content": "Hi"}]}, "invalid_messages",
         "messages"),
        ({"messages": [{"role": "user", "content": " \n "}]}, "invalid_messages", "messages"),
        ({"messages": [{"role": "user", "content": []}]}, "invalid_messages", "messages"),
    ],
)  # fmt: skip
def test_a_bad_request_names_the_parameter(body: dict[str, Any], code: str, param: str) -> None:
    error = refused(body)
    assert (error.status, error.code, error.param) == (400, code, param)
    assert error.body()["error"]["type"] == "invalid_request_error"


def test_only_the_question_counts_against_the_limit() -> None:
    long = "x" * 101
    assert call(messages=[{"role": "system", "content": long}, USER]).messages[0].content == long
    error = refused({"messages": [{"role": "user", "content": long}]})
    assert (error.status, error.code, error.param) == (413, "content_too_long", "messages")
    assert call(messages=[{"role": "user", "content": "x" * 100}]).messages[0].content


def test_an_unknown_model_is_refused_before_the_messages() -> None:
    error = refused({"model": "gpt-4", "messages": []})
    assert error.code == "model_not_found"


# ---------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------

TURN = str(uuid.uuid4())
RESULT = {
    "turn_id": TURN,
    "status": "completed",
    "message": {"id": "m1", "session_id": "s1", "content": "Hi there",
                "metadata": {"finish_reason": "length"}},
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    "cost": 0.000045, "currency": "USD", "priced": True,
}  # fmt: skip
EXTENSION = {"turn_id": TURN, "message_id": "m1", "session_id": "s1", "cost": 0.000045,
             "currency": "USD", "priced": True}  # fmt: skip


def test_a_completion_body() -> None:
    body = wire.completion_body(call(), RESULT, 1700000000)
    assert body == {
        "id": f"chatcmpl-{TURN}", "object": "chat.completion", "created": 1700000000,
        "model": f"gpt_{GPT}",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"},
                     "finish_reason": "length", "logprobs": None}],
        "usage": RESULT["usage"], "gptdesk": EXTENSION,
    }  # fmt: skip


def test_a_completion_body_without_a_finish_reason_says_stop() -> None:
    result = {**RESULT, "message": {"id": "m", "content": "x", "metadata": {}}}
    assert wire.completion_body(call(), result, 0)["choices"][0]["finish_reason"] == "stop"


def test_chunks() -> None:
    parsed = call(model=GPT)
    assert wire.chunk(parsed, TURN, 5, {"content": "Hi"}, None) == {
        "id": f"chatcmpl-{TURN}", "object": "chat.completion.chunk", "created": 5, "model": GPT,
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None,
                     "logprobs": None}],
    }  # fmt: skip
    usage = wire.usage_chunk(parsed, RESULT, 5)
    assert usage["choices"] == [] and usage["usage"] == RESULT["usage"]
    assert usage["id"] == f"chatcmpl-{TURN}" and usage["gptdesk"] == EXTENSION


def test_a_model_object() -> None:
    created = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    team = uuid.uuid4()
    gpt = {"id": uuid.UUID(GPT), "name": "Helper", "description": None, "team_id": team,
           "created_at": created}  # fmt: skip
    assert wire.model_object(gpt) == {
        "id": f"gpt_{GPT}", "object": "model", "created": int(created.timestamp()),
        "owned_by": str(team), "name": "Helper", "description": None,
    }  # fmt: skip
    assert wire.model_object({**gpt, "team_id": None})["owned_by"] == "gptdesk"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (404, "invalid_request_error"), (413,
     "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
     (429, "rate_limit_error"), (500, "api_error"), (502, "api_error"), (504, "api_error")],
)  # fmt: skip
def test_error_bodies_are_openais(status: int, kind: str) -> None:
    error = wire.OpenAIError(status, "some_code", "What went wrong", "messages")
    assert error.body() == {
        "error": {"message": "What went wrong", "type": kind, "param": "messages",
                  "code": "some_code"},
    }  # fmt: skip


@pytest.mark.parametrize("role", [["user"], {"name": "user"}])
def test_a_role_that_is_not_a_string_is_invalid_role(role: object) -> None:
    error = refused({"messages": [{"role": role, "content": "Hello"}]})
    assert (error.status, error.code, error.param) == (400, "invalid_role", "messages[0].role")
