"""Server-Sent Events as the chat endpoints send them: one JSON object per event."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering
# A comment line sent while the model is silent this long, so proxies keep the stream open.
KEEPALIVE_SECONDS = 15.0
KEEPALIVE = b": keep-alive\n\n"


def event(name: str, data: Any) -> bytes:
    """One SSE event named `name` carrying `data` as JSON."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def data(payload: Any) -> bytes:
    """One unnamed SSE event (as OpenAI streams): `data: <json>`."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def relay(
    deltas: asyncio.Queue[str | None], keepalive: float = KEEPALIVE_SECONDS
) -> AsyncIterator[str | bytes]:
    """The texts put on `deltas` until None, with KEEPALIVE (bytes) whenever none came for
    `keepalive` seconds."""
    while True:
        try:
            text = await asyncio.wait_for(deltas.get(), keepalive)
        except TimeoutError:
            yield KEEPALIVE
            continue
        if text is None:
            return
        yield text
