"""A fake OpenAI-compatible upstream the tests start: real HTTP, real SSE, chosen failures.

`POST /v1/chat/completions` streams a fixed answer word by word and then, as OpenAI does
with `stream_options.include_usage`, a last chunk with no choices and the usage. The model
name picks a behaviour: `fail-500` / `fail-401` answer that status with OpenAI's error
body, `slow` waits longer than any test's timeout. It counts the requests it got.
"""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gptdesk.db.embedded import free_port

ANSWER = "Hello from the fake upstream."
SLOW_SECONDS = 2.0


@dataclass
class FakeUpstream:
    """The running fake: its base URL and the requests it received."""

    base_url: str = ""
    requests: list[dict[str, object]] = field(default_factory=list)


def _words(messages: list[dict[str, str]]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages)


def _chunk(model: str, delta: dict[str, str], finish: str | None) -> bytes:
    body = {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def _stream(model: str, prompt_tokens: int) -> AsyncIterator[bytes]:
    words = ANSWER.split(" ")
    yield _chunk(model, {"role": "assistant", "content": ""}, None)
    for index, word in enumerate(words):
        yield _chunk(model, {"content": word if index == 0 else " " + word}, None)
    yield _chunk(model, {}, "stop")
    usage = {
        "prompt_tokens": prompt_tokens, "completion_tokens": len(words),
        "total_tokens": prompt_tokens + len(words),
    }  # fmt: skip
    last = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [], "usage": usage}  # fmt: skip
    yield b"data: " + orjson.dumps(last) + b"\n\n"
    yield b"data: [DONE]\n\n"


def _app(state: FakeUpstream) -> Starlette:
    async def completions(request: Request) -> Response:
        body = orjson.loads(await request.body())
        state.requests.append(body)
        model = str(body.get("model"))
        if model.startswith("fail-"):
            status = int(model.removeprefix("fail-"))
            error = {"message": f"fake failure {status}", "type": "server_error", "code": None}
            return JSONResponse({"error": error}, status_code=status)
        if model == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        prompt_tokens = _words(body.get("messages", []))
        return StreamingResponse(_stream(model, prompt_tokens), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    """Serve the fake on a free loopback port for the duration of the block."""
    state = FakeUpstream()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(state), host="127.0.0.1", port=port, log_level="warning")
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
