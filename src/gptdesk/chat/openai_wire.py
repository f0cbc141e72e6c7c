"""The OpenAI chat-completions wire format: requests parsed, responses and chunks built.

Pure. A governed GPT is addressed as the model `gpt_<uuid>` (or the bare uuid). Failures
are OpenAIError, rendered as OpenAI renders errors: `{"error": {message, type, param,
code}}`.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from gptdesk.llm.providers.base import Message

MODEL_PREFIX = "gpt_"
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "response_format", "audio")
_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


class OpenAIError(Exception):
    """A failure as the OpenAI API reports it."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        """The error body OpenAI clients parse."""
        kind = _TYPES.get(self.status) or (
            "api_error" if self.status >= 500 else "invalid_request_error"
        )
        return {
            "error": {
                "message": self.message,
                "type": kind,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass(frozen=True)
class CompletionCall:
    """A parsed chat-completions request."""

    model: str
    gpt_id: str
    messages: tuple[Message, ...]
    stream: bool
    include_usage: bool
    temperature: float | None
    max_tokens: int | None


def model_name(gpt_id: str) -> str:
    """The model name of a GPT."""
    return MODEL_PREFIX + gpt_id


def model_not_found(model: object) -> OpenAIError:
    """The error for a model that names no GPT the caller may use."""
    return OpenAIError(
        404,
        "model_not_found",
        f"The model `{model}` does not exist or you do not have access to it. "
        f"GPTs are addressed as `{MODEL_PREFIX}<id>`.",
        "model",
    )


def gpt_id_of(model: object) -> str:
    """The GPT id a model name addresses, or OpenAIError 404."""
    text = model if isinstance(model, str) else ""
    try:
        return str(uuid.UUID(text.removeprefix(MODEL_PREFIX)))
    except ValueError:
        raise model_not_found(model) from None


def _text(content: object, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise OpenAIError(
                    400, "unsupported_content", "Only text content parts are supported",
                    f"messages[{index}].content",
                )  # fmt: skip
            text = part.get("text")
            if not isinstance(text, str):
                raise OpenAIError(
                    400, "invalid_content", "A text part needs a string `text`",
                    f"messages[{index}].content",
                )  # fmt: skip
            parts.append(text)
        return "".join(parts)
    raise OpenAIError(
        400, "invalid_content", "content must be a string or a list of text parts",
        f"messages[{index}].content",
    )  # fmt: skip


def _messages(raw: object, max_chars: int) -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise OpenAIError(400, "invalid_messages", "messages must be a non-empty array", "messages")
    messages = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise OpenAIError(
                400, "invalid_messages", "each message must be an object", f"messages[{index}]"
            )
        given = item.get("role")
        role = _ROLES.get(given) if isinstance(given, str) else None
        if role is None:
            raise OpenAIError(
                400, "invalid_role",
                f"Unsupported role {item.get('role')!r}: use system, developer, user, assistant",
                f"messages[{index}].role",
            )  # fmt: skip
        text = _text(item.get("content"), index)
        if "\x00" in text:
            raise OpenAIError(
                400, "invalid_content", "content must not contain NUL characters",
                f"messages[{index}].content",
            )  # fmt: skip
        messages.append(Message(role, text))  # type: ignore[arg-type]
    last = messages[-1]
    if last.role != "user" or not last.content.strip():
        raise OpenAIError(
            400, "invalid_messages", "The last message must be a non-empty user message",
            "messages",
        )  # fmt: skip
    if len(last.content) > max_chars:
        raise OpenAIError(
            413, "content_too_long",
            f"The last message has {len(last.content)} characters; at most {max_chars}",
            "messages",
        )  # fmt: skip
    return tuple(messages)


def parse_call(body: dict[str, Any], max_chars: int) -> CompletionCall:
    """The request in `body`, or OpenAIError naming the parameter at fault."""
    for name in _UNSUPPORTED:
        if body.get(name) not in (None, [], {}):
            raise OpenAIError(400, "unsupported_parameter", f"`{name}` is not supported", name)
    model = body.get("model")
    gpt_id = gpt_id_of(model)
    n = body.get("n", 1)
    if n not in (None, 1):
        raise OpenAIError(400, "unsupported_parameter", "Only n=1 is supported", "n")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise OpenAIError(400, "invalid_type", "stream must be a boolean", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise OpenAIError(400, "invalid_type", "stream_options must be an object", "stream_options")
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        raise OpenAIError(
            400, "invalid_value", "temperature must be a number from 0 to 2", "temperature"
        )
    name = (
        "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    )
    max_tokens = body.get(name)
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise OpenAIError(400, "invalid_value", f"{name} must be a positive integer", name)
    return CompletionCall(
        model=str(model), gpt_id=gpt_id, messages=_messages(body.get("messages"), max_chars),
        stream=stream, include_usage=bool(options.get("include_usage")),
        temperature=None if temperature is None else float(temperature), max_tokens=max_tokens,
    )  # fmt: skip


def _usage(result: dict[str, Any]) -> dict[str, int]:
    return dict(result["usage"])


def _extension(result: dict[str, Any]) -> dict[str, Any]:
    """What GPT Desk adds to OpenAI's response: the recorded turn and its price."""
    message = result.get("message") or {}
    return {
        "turn_id": result["turn_id"],
        "message_id": message.get("id"),
        "session_id": message.get("session_id"),
        "cost": result.get("cost"),
        "currency": result.get("currency"),
        "priced": result.get("priced"),
    }


def completion_body(call: CompletionCall, result: dict[str, Any], created: int) -> dict[str, Any]:
    """The chat.completion object for a closed turn."""
    message = result.get("message") or {}
    metadata = message.get("metadata") or {}
    return {
        "id": f"chatcmpl-{result['turn_id']}",
        "object": "chat.completion",
        "created": created,
        "model": call.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": message.get("content", "")},
                "finish_reason": metadata.get("finish_reason", "stop"),
                "logprobs": None,
            }
        ],
        "usage": _usage(result),
        "gptdesk": _extension(result),
    }


def chunk(
    call: CompletionCall, turn_id: str, created: int, delta: dict[str, str], finish: str | None
) -> dict[str, Any]:
    """One chat.completion.chunk carrying `delta`."""
    return {
        "id": f"chatcmpl-{turn_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": call.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def usage_chunk(call: CompletionCall, result: dict[str, Any], created: int) -> dict[str, Any]:
    """The last chunk when the client asked for usage: no choices, the usage (and ours)."""
    return {
        "id": f"chatcmpl-{result['turn_id']}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": call.model,
        "choices": [],
        "usage": _usage(result),
        "gptdesk": _extension(result),
    }


def model_object(gpt: dict[str, Any]) -> dict[str, Any]:
    """A GPT as an OpenAI model object."""
    return {
        "id": model_name(str(gpt["id"])),
        "object": "model",
        "created": int(gpt["created_at"].timestamp()),
        "owned_by": str(gpt["team_id"]) if gpt["team_id"] else "gptdesk",
        "name": gpt["name"],
        "description": gpt["description"],
    }
