"""/realtime/v1/api/broadcast: broadcasts sent over HTTP (supabase-js `httpSend`,
supabase-py `http_send`), reaching the topic's subscribers on every worker."""

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from gptdesk.auth.live_sessions import RequestAuthenticator
from gptdesk.auth.tokens import InvalidToken
from gptdesk.realtime.hub import Hub, NotifyTooLarge

router = APIRouter(prefix="/realtime/v1/api")
MAX_MESSAGES = 100


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "message": message}, status_code=status)


async def _allowed(request: Request) -> Response | None:
    authenticator: RequestAuthenticator = request.app.state.request_authenticator
    try:
        await authenticator.caller(request.headers)
    except InvalidToken as exc:
        return _error(401, f"Invalid JWT: {exc}")
    return None


async def _send(request: Request, messages: list[dict[str, Any]]) -> Response:
    hub: Hub = request.app.state.realtime
    for message in messages:
        topic = message.get("topic")
        event = message.get("event")
        if not isinstance(topic, str) or not topic or not isinstance(event, str) or not event:
            return _error(400, "each message needs a topic and an event")
        if message.get("private"):
            return _error(403, "private channels are not offered by this server")
    for message in messages:
        topic = message["topic"]
        full = topic if topic.startswith("realtime:") else f"realtime:{topic}"
        try:
            await hub.broadcast(full, message["event"], message.get("payload", {}))
        except NotifyTooLarge as exc:
            return _error(413, str(exc))
    return Response(status_code=202)


@router.post("/broadcast")
async def broadcast(request: Request) -> Response:
    """Broadcast `messages` ([{topic, event, payload}]): 202."""
    refused = await _allowed(request)
    if refused is not None:
        return refused
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _error(400, "the body is not JSON")
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES:
        return _error(400, f"messages must be a list of 1 to {MAX_MESSAGES} messages")
    if not all(isinstance(m, dict) for m in messages):
        return _error(400, "each message must be an object")
    return await _send(request, messages)


@router.post("/broadcast/{topic}/events/{event}")
async def broadcast_event(request: Request, topic: str, event: str) -> Response:
    """Broadcast one event whose body is the payload (supabase-py http_send): 202."""
    refused = await _allowed(request)
    if refused is not None:
        return refused
    try:
        payload = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return _error(400, "the body is not JSON")
    return await _send(request, [{"topic": topic, "event": event, "payload": payload}])
