"""Server-Sent Events as the chat endpoints send them: one JSON object per event."""

from typing import Any

import orjson

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering


def event(name: str, data: Any) -> bytes:
    """One SSE event named `name` carrying `data` as JSON."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def data(payload: Any) -> bytes:
    """One unnamed SSE event (as OpenAI streams): `data: <json>`."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"
