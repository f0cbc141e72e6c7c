"""/realtime/v1/websocket: one socket's life — the project key at connect, then Phoenix
frames: heartbeat, phx_join (postgres_changes bindings, broadcast and presence config),
access_token, broadcast, presence, phx_leave.

A channel runs with the verified claims of its token (the join's `access_token`, else the
socket's project key); a token that expires, or is replaced by one that does not verify,
ends the channel with a system error and phx_close, as the clients expect.
"""

import asyncio
import contextlib
import time
import uuid
from typing import Any

import structlog
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from gptdesk.auth.caller import GatewayError, project_key_role
from gptdesk.auth.live_sessions import RequestAuthenticator
from gptdesk.auth.tokens import InvalidToken
from gptdesk.realtime.channels import EVENTS, Binding, Channel, Outbox, binding_id
from gptdesk.realtime.filters import FilterError, parse_filter
from gptdesk.realtime.hub import Hub, NotifyTooLarge
from gptdesk.realtime.protocol import VERSIONS, Frame, FrameError, decode, reply

log = structlog.get_logger("gptdesk.realtime")
MAX_CHANNELS = 100
# Frames a client may send: RATE a second on average, BURST at once; beyond, refused.
RATE = 100.0
BURST = 200


class Session:
    """One WebSocket and its channels."""

    def __init__(self, websocket: WebSocket, hub: Hub, auth: RequestAuthenticator, vsn: str,
                 apikey: str) -> None:  # fmt: skip
        self.websocket = websocket
        self.hub = hub
        self.auth = auth
        self.apikey = apikey
        self.outbox = Outbox(vsn)
        self.vsn = vsn
        self.channels: dict[str, Channel] = {}
        self._tokens = float(BURST)
        self._refilled = time.monotonic()

    async def run(self) -> None:
        """Read frames until the socket closes; a writer task sends the outbox."""
        writer = asyncio.create_task(self._write())
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = (
                    message.get("text") if message.get("text") is not None else message.get("bytes")
                )
                if data is None:
                    continue
                try:
                    frame = decode(data, self.vsn)
                except FrameError as exc:
                    log.info("realtime frame refused", reason=str(exc))
                    continue
                await self._handle(frame)
        except WebSocketDisconnect:
            pass
        finally:
            for channel in list(self.channels.values()):
                await self._drop(channel)
            self.outbox.close()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self) -> None:
        while (text := await self.outbox.queue.get()) is not None:
            try:
                await self.websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                return
        if self.outbox.overflowed:
            with contextlib.suppress(RuntimeError, OSError):
                await self.websocket.close(code=1013, reason="too slow: messages dropped")

    # ---- frames ------------------------------------------------------------------------------

    def _allowed(self) -> bool:
        """A token bucket per socket: RATE frames a second, BURST at once."""
        now = time.monotonic()
        self._tokens = min(BURST, self._tokens + (now - self._refilled) * RATE)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _handle(self, frame: Frame) -> None:
        if not self._allowed():
            if frame.ref is not None:
                self.outbox.push(
                    reply(frame, "error", {"reason": "ClientRateLimitReached: Too many messages"})
                )
            return
        if frame.topic == "phoenix":
            if frame.event == "heartbeat":
                self.outbox.push(reply(frame, "ok", {}))
            else:
                self.outbox.push(reply(frame, "error", {"reason": "unmatched topic"}))
            return
        handlers = {
            "phx_join": self._join, "phx_leave": self._leave, "access_token": self._access_token,
            "broadcast": self._broadcast, "presence": self._presence,
        }  # fmt: skip
        handler = handlers.get(frame.event)
        if handler is None:
            self.outbox.push(reply(frame, "error", {"reason": f"unknown event {frame.event}"}))
            return
        await handler(frame)

    def _claims(self, token: str | None) -> dict[str, Any]:
        """Verified claims of `token` (the project key when none or an `sb_` key)."""
        if not token or token.startswith("sb_"):
            token = self.apikey
        return self.auth.verified_claims(token)

    async def _join(self, frame: Frame) -> None:
        payload = frame.payload if isinstance(frame.payload, dict) else {}
        config = _object(payload.get("config"))
        if not frame.topic.startswith("realtime:") or frame.topic == "realtime:":
            self.outbox.push(
                reply(
                    frame, "error", {"reason": "TopicNameRequired: You must provide a topic name"}
                )
            )
            return
        if config.get("private"):
            self.outbox.push(
                reply(
                    frame,
                    "error",
                    {"reason": "Unauthorized: private channels are not offered by this server"},
                )
            )
            return
        if frame.topic not in self.channels and len(self.channels) >= MAX_CHANNELS:
            self.outbox.push(
                reply(frame, "error", {"reason": "ChannelRateLimitReached: Too many channels"})
            )
            return
        try:
            token = payload.get("access_token") or payload.get("user_token")
            claims = await self._live_claims(token if isinstance(token, str) else None)
        except InvalidToken as exc:
            self.outbox.push(reply(frame, "error", {"reason": f"InvalidJWTToken: {exc}"}))
            return
        if frame.topic in self.channels:  # a rejoin replaces the old channel
            await self._drop(self.channels.pop(frame.topic))
        broadcast = _object(config.get("broadcast"))
        presence = _object(config.get("presence"))
        channel = Channel(
            topic=frame.topic, join_ref=frame.join_ref, claims=claims, outbox=self.outbox,
            broadcast_self=bool(broadcast.get("self")), broadcast_ack=bool(broadcast.get("ack")),
            presence_key=str(presence.get("key") or "") or uuid.uuid4().hex,
        )  # fmt: skip
        echoed, problems = await self._bindings(channel, config.get("postgres_changes") or [])
        self.channels[frame.topic] = channel
        self.hub.join(channel)
        self._expire_at(channel)
        self.outbox.push(reply(frame, "ok", {"postgres_changes": echoed}))
        if echoed:
            if problems:
                channel.system("postgres_changes", "error", problems[0])
            else:
                channel.system("postgres_changes", "ok", "Subscribed to PostgreSQL")
        if presence.get("enabled") or presence.get("key"):
            channel.push("presence_state", self.hub.presence_state(channel.topic))

    async def _bindings(
        self, channel: Channel, raw: object
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The join reply's bindings (echoed in order, with ids) and any problem found."""
        echoed: list[dict[str, Any]] = []
        problems: list[str] = []
        if not isinstance(raw, list):
            return echoed, ["postgres_changes must be a list"]
        for item in raw:
            if not isinstance(item, dict):
                problems.append("a postgres_changes binding must be an object")
                continue
            event = str(item.get("event") or "*").upper()
            schema = str(item.get("schema") or "public")
            table = item.get("table") or None
            filter_text = item.get("filter") or None
            echo = {**item, "id": binding_id(event, schema, table, filter_text)}
            echoed.append(echo)
            if event not in EVENTS:
                problems.append(
                    f"Unable to subscribe to changes with given parameters: event {event}"
                )
                continue
            try:
                columns = await self.hub.columns(f'"{schema}"."{table}"') if table else []
                conditions = (
                    parse_filter(filter_text, {c["name"]: c["type"] for c in columns})
                    if table
                    else ()
                )
            except FilterError as exc:
                problems.append(f"Error parsing `filter` params: {exc}")
                continue
            except Exception:
                problems.append(
                    f"Unable to subscribe to changes with given parameters: {schema}.{table}"
                )
                continue
            if filter_text and not table:
                problems.append("Error parsing `filter` params: a filter needs a table")
                continue
            if not await self.hub.published(schema, str(table) if table else None):
                problems.append(
                    "Unable to subscribe to changes with given parameters: "
                    f"{schema}.{table or '*'} does not publish its changes"
                )
                continue
            channel.bindings.append(
                Binding(
                    echo["id"], event, schema, str(table) if table else None, conditions, channel
                )
            )
        return echoed, problems

    async def _live_claims(self, token: str | None) -> dict[str, Any]:
        claims = self._claims(token)
        if claims.get("sub"):
            await self.auth.require_live_session(claims)
        return claims

    def _expire_at(self, channel: Channel) -> None:
        """End the channel when its token expires."""
        if channel.expiry is not None:
            channel.expiry.cancel()
        expires = channel.claims.get("exp")
        if not isinstance(expires, int | float):
            return
        delay = max(float(expires) - time.time(), 0.0)
        channel.expiry = asyncio.get_running_loop().call_later(
            delay, lambda: asyncio.ensure_future(self._end(channel, "Token has expired"))
        )

    async def _end(self, channel: Channel, message: str) -> None:
        """Stop a channel the server no longer serves: system error, then phx_close."""
        if self.channels.get(channel.topic) is not channel:
            return
        channel.system("system", "error", message)
        channel.push("phx_close", {})
        del self.channels[channel.topic]
        await self._drop(channel)

    async def _drop(self, channel: Channel) -> None:
        if channel.expiry is not None:
            channel.expiry.cancel()
        await self.hub.leave(channel)

    async def _leave(self, frame: Frame) -> None:
        channel = self.channels.pop(frame.topic, None)
        if channel is not None:
            await self._drop(channel)
        self.outbox.push(reply(frame, "ok", {}))
        if channel is not None:
            self.outbox.push(Frame(frame.topic, "phx_close", {}, frame.ref, frame.join_ref))

    async def _access_token(self, frame: Frame) -> None:
        channel = self.channels.get(frame.topic)
        payload = frame.payload if isinstance(frame.payload, dict) else {}
        token = payload.get("access_token")
        if channel is None or not isinstance(token, str) or not token or token.startswith("sb_"):
            return
        try:
            claims = await self._live_claims(token)
        except InvalidToken as exc:
            await self._end(channel, f"Invalid JWT: {exc}")
            return
        channel.claims = claims
        self._expire_at(channel)

    async def _broadcast(self, frame: Frame) -> None:
        channel = self.channels.get(frame.topic)
        payload = frame.payload if isinstance(frame.payload, dict) else {}
        if channel is None:
            self.outbox.push(reply(frame, "error", {"reason": "join the channel first"}))
            return
        try:
            await self.hub.broadcast(
                frame.topic, str(payload.get("event") or ""), payload.get("payload"), channel.id
            )
        except NotifyTooLarge as exc:
            self.outbox.push(reply(frame, "error", {"reason": f"PayloadTooLarge: {exc}"}))
            return
        if channel.broadcast_ack:
            self.outbox.push(reply(frame, "ok", {}))

    async def _presence(self, frame: Frame) -> None:
        channel = self.channels.get(frame.topic)
        payload = frame.payload if isinstance(frame.payload, dict) else {}
        if channel is None:
            self.outbox.push(reply(frame, "error", {"reason": "join the channel first"}))
            return
        event = payload.get("event")
        try:
            if event == "track":
                meta = payload.get("payload")
                await self.hub.track(channel, meta if isinstance(meta, dict) else {})
            elif event == "untrack":
                await self.hub.untrack(channel)
            else:
                self.outbox.push(
                    reply(frame, "error", {"reason": "presence event is track or untrack"})
                )
                return
        except NotifyTooLarge as exc:
            self.outbox.push(reply(frame, "error", {"reason": f"PayloadTooLarge: {exc}"}))
            return
        self.outbox.push(reply(frame, "ok", {}))


def _object(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (a malformed config is ignored)."""
    return value if isinstance(value, dict) else {}


async def websocket_endpoint(websocket: WebSocket) -> None:
    """Accept a socket with a valid project key, then run its session."""
    app = websocket.app
    apikey = websocket.query_params.get("apikey") or websocket.headers.get("x-api-key") or ""
    vsn = websocket.query_params.get("vsn") or "1.0.0"
    try:
        project_key_role(apikey, app.state.signing_keys.secret)
    except GatewayError as exc:
        await _deny(websocket, 401, exc.message)
        return
    if vsn not in VERSIONS:
        await _deny(websocket, 400, f"unsupported protocol version {vsn}")
        return
    await websocket.accept()
    session = Session(websocket, app.state.realtime, app.state.request_authenticator, vsn, apikey)
    await session.run()


async def _deny(websocket: WebSocket, status: int, message: str) -> None:
    try:
        await websocket.send_denial_response(JSONResponse({"error": message}, status_code=status))
    except RuntimeError:
        await websocket.close(code=1008, reason=message)
