"""A raw Phoenix client for the Realtime tests: the frames exactly as the server sends them.

`PhoenixSocket` speaks vsn 1.0.0 (JSON objects, as supabase-py) or 2.0.0 (JSON arrays and
binary kind-3 broadcast pushes, as supabase-js), keeps every frame it receives, and waits for
the ones a test expects. `rest_broadcast` sends through POST /realtime/v1/api/broadcast;
`barrier` uses it as a fence: the server handles its row changes and broadcasts in the
order PostgreSQL delivers their notifications, so once a broadcast sent after a change has
arrived, whatever that change was going to push has arrived too.
"""

import asyncio
import itertools
import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

WAIT = 15.0  # seconds: generous, for a loaded machine; never an assertion on speed

Frame = dict[str, Any]


def websocket_url(server_url: str, apikey: str | None, vsn: str | None = "1.0.0") -> str:
    """The /realtime/v1/websocket address of a server, with the project key and version."""
    query = [f"apikey={apikey}"] if apikey is not None else []
    if vsn is not None:
        query.append(f"vsn={vsn}")
    base = server_url.replace("http://", "ws://", 1) + "/realtime/v1/websocket"
    return base + ("?" + "&".join(query) if query else "")


def kind3(topic: str, event: str, payload: bytes, ref: str = "", join_ref: str = "") -> bytes:
    """A binary user-broadcast push (kind 3) as supabase-js encodes it, JSON-encoded payload."""
    parts = [join_ref.encode(), ref.encode(), topic.encode(), event.encode(), b""]
    header = bytes([3, *(len(p) for p in parts), 1])
    return header + b"".join(parts) + payload


class PhoenixSocket:
    """One WebSocket to the server and every frame it received, in order."""

    def __init__(self, ws: ClientConnection, vsn: str) -> None:
        self.ws = ws
        self.vsn = vsn
        self.frames: list[Frame] = []
        self.closed = asyncio.Event()
        self._arrived = asyncio.Event()
        self._refs = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                self.frames.append(self._decode(message))
                self._arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._arrived.set()

    def _decode(self, message: str | bytes) -> Frame:
        if isinstance(message, bytes):
            return {"binary": message}
        value = json.loads(message)
        if self.vsn == "2.0.0":
            assert isinstance(value, list) and len(value) == 5, message
            join_ref, ref, topic, event, payload = value
            return {"join_ref": join_ref, "ref": ref, "topic": topic, "event": event,
                    "payload": payload, "raw": value}  # fmt: skip
        assert isinstance(value, dict), message
        return {**value, "raw": value}

    def ref(self) -> str:
        """A fresh ref."""
        return str(next(self._refs))

    async def send_raw(self, data: str | bytes) -> None:
        """Send a WebSocket message as it is."""
        await self.ws.send(data)

    async def push(
        self,
        topic: str,
        event: str,
        payload: Any,
        ref: str | None = "",
        join_ref: str | None = None,
    ) -> str | None:
        """Send a frame in this socket's framing; `ref` "" means a fresh one. Returns the ref."""
        if ref == "":
            ref = self.ref()
        if self.vsn == "2.0.0":
            text = json.dumps([join_ref, ref, topic, event, payload])
        else:
            text = json.dumps(
                {"topic": topic, "event": event, "payload": payload, "ref": ref,
                 "join_ref": join_ref}
            )  # fmt: skip
        await self.ws.send(text)
        return ref

    async def join(
        self,
        topic: str,
        changes: list[dict[str, Any]] | None = None,
        access_token: str | None = None,
        **config: Any,
    ) -> Frame:
        """Join `topic` (a `realtime:` topic) and return the reply frame."""
        payload: dict[str, Any] = {
            "config": {
                "broadcast": config.pop("broadcast", {"ack": False, "self": False}),
                "presence": config.pop("presence", {"key": "", "enabled": False}),
                "private": config.pop("private", False),
                "postgres_changes": changes or [],
                **config,
            }
        }
        if access_token is not None:
            payload["access_token"] = access_token
        ref = self.ref()
        await self.push(topic, "phx_join", payload, ref=ref, join_ref=ref)
        return await self.reply(topic, ref)

    async def reply(self, topic: str, ref: str | None) -> Frame:
        """The phx_reply to the push of `ref` on `topic`."""
        return await self.expect(
            lambda f: f.get("event") == "phx_reply" and f["topic"] == topic and f["ref"] == ref
        )

    async def heartbeat(self) -> Frame:
        """Send a heartbeat with a ref and return its reply (proof the socket still serves)."""
        ref = await self.push("phoenix", "heartbeat", {})
        return await self.reply("phoenix", ref)

    def matching(self, predicate: Callable[[Frame], bool]) -> list[Frame]:
        """The frames received so far that satisfy `predicate`."""
        return [f for f in self.frames if "binary" not in f and predicate(f)]

    async def expect(self, predicate: Callable[[Frame], bool], within: float = WAIT) -> Frame:
        """The first frame (received so far or later) that satisfies `predicate`."""
        return (await self.expect_many(predicate, 1, within))[0]

    async def expect_many(
        self, predicate: Callable[[Frame], bool], count: int, within: float = WAIT
    ) -> list[Frame]:
        """The first `count` frames that satisfy `predicate`, waiting for them to arrive."""

        async def wait() -> list[Frame]:
            while True:
                found = self.matching(predicate)
                if len(found) >= count:
                    return found[:count]
                if self.closed.is_set():
                    raise AssertionError(f"socket closed; received {self.frames}")
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(wait(), within)
        except TimeoutError:
            raise AssertionError(f"no frame as expected in {within} s; got {self.frames}") from None

    async def barrier(self, server_url: str, apikey: str, topic: str) -> None:
        """Wait until everything sent to the joined `topic` before now has arrived."""
        marker = secrets.token_hex(8)
        response = await rest_broadcast(server_url, apikey, topic, "barrier", {"marker": marker})
        assert response.status_code == 202, response.text
        await self.expect(
            lambda f: (
                f["topic"] == topic
                and f["event"] == "broadcast"
                and f["payload"].get("payload") == {"marker": marker}
            )
        )

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


@asynccontextmanager
async def phoenix_socket(
    server_url: str, apikey: str, vsn: str = "1.0.0"
) -> AsyncIterator[PhoenixSocket]:
    """A socket to the server's /realtime/v1/websocket, closed afterwards."""
    ws = await connect(websocket_url(server_url, apikey, vsn), open_timeout=WAIT)
    socket = PhoenixSocket(ws, vsn)
    try:
        yield socket
    finally:
        await socket.close()


async def rest_broadcast(
    server_url: str,
    apikey: str,
    topic: str,
    event: str,
    payload: Any,
    token: str | None = None,
) -> httpx.Response:
    """POST /realtime/v1/api/broadcast with one message to `topic` (with or without the
    `realtime:` prefix); the response."""
    headers = {"apikey": apikey, "Authorization": f"Bearer {token or apikey}"}
    body = {"messages": [{"topic": topic.removeprefix("realtime:"), "event": event,
                          "payload": payload, "private": False}]}  # fmt: skip
    async with httpx.AsyncClient(timeout=WAIT) as client:
        return await client.post(
            f"{server_url}/realtime/v1/api/broadcast", json=body, headers=headers
        )
