"""A fake OpenAI-compatible upstream the tests start: real HTTP, real SSE, chosen failures.

`POST /v1/chat/completions` answers a fixed text. Streamed (`stream: true`) it comes word by
word and then, as OpenAI does with `stream_options.include_usage`, a last chunk with no
choices and the usage; otherwise one `chat.completion` object with the usage. The usage is
the prompt's words and the answer's, unless `usage` fixes it for the model. The model name
picks a behaviour: `fail-500` / `fail-401` answer that status with OpenAI's error body,
`slow` waits longer than any test's timeout before answering, `drop` streams a few words
and then drops the connection, `stall` streams a few words and then stalls longer than any
test's timeout, `truncate` streams a few words and then ends the response cleanly (no
finish, no usage, no [DONE]), `garbage` answers 200 with an HTML page (a base URL that is
not an API). It keeps the requests (bodies and headers) it got.
"""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gptdesk.db.embedded import free_port

ANSWER = "Hello from the fake upstream."
SLOW_SECONDS = 2.0
STALL_SECONDS = 3.0
CUT_AFTER_WORDS = 2  # what `drop`, `stall` and `truncate` stream before they fail


@dataclass
class FakeUpstream:
    """The running fake: its base URL, the requests it received (bodies, and their headers
    at the same index), and usage fixed per model as (prompt, completion) tokens."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    usage: dict[str, tuple[int, int]] = field(default_factory=dict)

    def asked(self, question: str) -> list[dict[str, Any]]:
        """The requests whose last message was `question`."""
        return [r for r in self.requests if r["messages"][-1]["content"] == question]


class _Dropped(Exception):
    """Raised mid-stream so that the server closes the connection unfinished."""


def _words(messages: list[dict[str, str]]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages)


def _chunk(model: str, delta: dict[str, str], finish: str | None) -> bytes:
    body = {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }  # fmt: skip


async def _stream(model: str, usage: tuple[int, int]) -> AsyncIterator[bytes]:
    words = ANSWER.split(" ")
    yield _chunk(model, {"role": "assistant", "content": ""}, None)
    for index, word in enumerate(words):
        if index == CUT_AFTER_WORDS and model == "drop":
            raise _Dropped("the fake upstream drops the connection")
        if index == CUT_AFTER_WORDS and model == "truncate":
            return
        if index == CUT_AFTER_WORDS and model == "stall":
            await asyncio.sleep(STALL_SECONDS)
        yield _chunk(model, {"content": word if index == 0 else " " + word}, None)
    yield _chunk(model, {}, "stop")
    last = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [], "usage": _usage(*usage)}  # fmt: skip
    yield b"data: " + orjson.dumps(last) + b"\n\n"
    yield b"data: [DONE]\n\n"


def _completion(model: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": ANSWER}}],
        "usage": _usage(*usage),
    }  # fmt: skip


def _app(state: FakeUpstream) -> Starlette:
    async def completions(request: Request) -> Response:
        body = orjson.loads(await request.body())
        state.requests.append(body)
        state.headers.append(dict(request.headers))
        model = str(body.get("model"))
        if model.startswith("fail-"):
            status = int(model.removeprefix("fail-"))
            error = {"message": f"fake failure {status}", "type": "server_error", "code": None}
            return JSONResponse({"error": error}, status_code=status)
        if model == "garbage":
            return HTMLResponse("<html><body>Welcome to nginx!</body></html>")
        if model == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        usage = state.usage.get(model) or (_words(body.get("messages", [])), len(ANSWER.split()))
        if body.get("stream"):
            return StreamingResponse(_stream(model, usage), media_type="text/event-stream")
        return JSONResponse(_completion(model, usage))

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    """Serve the fake on a free loopback port for the duration of the block."""
    state = FakeUpstream()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(state), host="127.0.0.1", port=port, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake upstream did not start")
        time.sleep(0.01)
    state.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
