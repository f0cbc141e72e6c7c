"""Phoenix frames as the Realtime clients send and expect them (pure codec).

vsn 1.0.0 (supabase-py): JSON objects `{"topic","event","payload","ref","join_ref"}`.
vsn 2.0.0 (supabase-js ≥ 2.91): JSON arrays `[join_ref, ref, topic, event, payload]`, and
binary frames for user broadcasts: kind 3 (client → server: join_ref, ref, topic, event,
meta, encoding, payload). The server always answers with text frames of the socket's
version (a text-array broadcast is what js also accepts).
"""

import struct
from dataclasses import dataclass
from typing import Any

import orjson

VERSIONS = ("1.0.0", "2.0.0")
_USER_BROADCAST_PUSH = 3


class FrameError(Exception):
    """A frame that is not a Phoenix message."""


@dataclass(frozen=True)
class Frame:
    """One Phoenix message."""

    topic: str
    event: str
    payload: Any
    ref: str | None = None
    join_ref: str | None = None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise FrameError("refs must be strings")


def decode(data: str | bytes, vsn: str) -> Frame:
    """The frame in a WebSocket message of a `vsn` socket."""
    if isinstance(data, bytes):
        return _decode_binary(data)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise FrameError("not JSON") from None
    if vsn == "2.0.0" and isinstance(value, list):
        if len(value) != 5:
            raise FrameError("a frame is [join_ref, ref, topic, event, payload]")
        join_ref, ref, topic, event, payload = value
    elif isinstance(value, dict):
        join_ref, ref = value.get("join_ref"), value.get("ref")
        topic, event, payload = value.get("topic"), value.get("event"), value.get("payload")
    else:
        raise FrameError("a frame is an object (vsn 1.0.0) or an array (vsn 2.0.0)")
    if not isinstance(topic, str) or not isinstance(event, str):
        raise FrameError("a frame needs a topic and an event")
    return Frame(topic, event, payload if payload is not None else {}, _text(ref), _text(join_ref))


def _decode_binary(data: bytes) -> Frame:
    if len(data) < 7 or data[0] != _USER_BROADCAST_PUSH:
        raise FrameError("unsupported binary frame")
    join_len, ref_len, topic_len, event_len, meta_len, encoding = struct.unpack_from("6B", data, 1)
    at = 7
    parts = []
    for length in (join_len, ref_len, topic_len, event_len, meta_len):
        try:
            parts.append(data[at : at + length].decode())
        except UnicodeDecodeError:
            raise FrameError("a binary frame's header is not UTF-8") from None
        at += length
    if at > len(data):
        raise FrameError("a binary frame shorter than its lengths")
    join_ref, ref, topic, event, _meta = parts
    body = data[at:]
    try:
        payload: Any = orjson.loads(body) if encoding == 1 else body.hex()
    except orjson.JSONDecodeError:
        raise FrameError("a JSON broadcast payload that is not JSON") from None
    broadcast = {"type": "broadcast", "event": event, "payload": payload}
    return Frame(topic, "broadcast", broadcast, ref or None, join_ref or None)


def encode(frame: Frame, vsn: str) -> str:
    """The text of `frame` for a `vsn` socket."""
    if vsn == "2.0.0":
        return orjson.dumps(
            [frame.join_ref, frame.ref, frame.topic, frame.event, frame.payload]
        ).decode()
    return orjson.dumps(
        {"topic": frame.topic, "event": frame.event, "payload": frame.payload, "ref": frame.ref,
         "join_ref": frame.join_ref}
    ).decode()  # fmt: skip


def reply(request: Frame, status: str, response: Any) -> Frame:
    """The phx_reply to `request`."""
    return Frame(
        request.topic, "phx_reply", {"status": status, "response": response}, request.ref,
        request.join_ref,
    )  # fmt: skip
