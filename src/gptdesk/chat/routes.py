"""/api/v1 chat endpoints: ask a GPT in a session (JSON or streamed), search messages."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gptdesk.api import ApiError, json_object, signed_in_claims
from gptdesk.auth.routes import request_info
from gptdesk.chat import sse
from gptdesk.chat.gateway import (
    ChatGateway,
    Closed,
    Opened,
    Replay,
    check_content,
    check_idempotency_key,
)
from gptdesk.chat.search import Cursor, encode_cursor, parse_search
from gptdesk.chat.search_repository import search_messages

log = structlog.get_logger("gptdesk.chat")
router = APIRouter(prefix="/api/v1")
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]
_MESSAGE_FIELDS = frozenset({"content", "stream"})
_REPLAYED = {"Idempotency-Replayed": "true"}


@router.get("/search/messages")
async def search(request: Request, claims: Claims) -> dict[str, Any]:
    """Messages matching `q` (web-search syntax), best first, with highlighted snippets;
    `next_cursor` continues the list."""
    query = parse_search(request.query_params)
    scope = request.app.state.scope
    async with scope.as_claims(claims, request=request_info(request), read_only=True) as conn:
        rows = await search_messages(conn, query)
    page = rows[: query.limit]
    more = len(rows) > query.limit
    last = page[-1] if page else None
    cursor = (
        encode_cursor(Cursor(last["rank"], last["created_at"], last["id"]))
        if more and last
        else None
    )
    return {"results": page, "next_cursor": cursor}


@router.post("/chat/sessions/{session_id}/messages")
async def send_message(request: Request, session_id: str, claims: Claims) -> Response:
    """Ask the session's GPT `content`: the stored question and answer with tokens and cost
    (201), or with `stream: true` Server-Sent Events — `turn`, `delta`…, then `done` or
    `error`. An Idempotency-Key header makes a retry replay the first answer."""
    body = await json_object(request)
    unknown = sorted(set(body) - _MESSAGE_FIELDS)
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown fields: {', '.join(unknown)}")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "invalid_stream", "stream must be true or false")
    if not claims.get("sub"):
        raise ApiError(403, "user_required", "Chatting needs a signed-in user's access token")
    content = check_content(body.get("content"), request.app.state.settings.chat_max_content_chars)
    key = check_idempotency_key(request.headers.get("idempotency-key"))
    try:
        session = str(uuid.UUID(session_id))
    except ValueError:
        raise ApiError(404, "session_not_found", "No chat session with this id is yours") from None
    gateway: ChatGateway = request.app.state.chat
    opened = await gateway.open_session_turn(
        claims, request_info(request), session_id=session, content=content, idempotency_key=key
    )
    if isinstance(opened, Replay):
        if stream:
            return StreamingResponse(
                _replayed_events(opened.result),
                media_type="text/event-stream",
                headers={**sse.HEADERS, **_REPLAYED},
            )
        return JSONResponse(opened.result, status_code=201, headers=_REPLAYED)
    if stream:
        return StreamingResponse(
            _answer_events(gateway, opened), media_type="text/event-stream", headers=sse.HEADERS
        )
    closed = await gateway.start(opened)
    if closed.failure_status:
        return _failure(closed)
    return JSONResponse(closed.result, status_code=201)


def _failure(closed: Closed) -> JSONResponse:
    error = closed.result["error"] or {}
    body = {
        "error": {"code": error.get("code", "provider_error"), "message": error.get("message")},
        "turn": closed.result,
    }
    return JSONResponse(body, status_code=closed.failure_status or 502)


async def _answer_events(gateway: ChatGateway, opened: Opened) -> AsyncIterator[bytes]:
    """The turn's events, the answer streamed as the provider sends it. A client that goes
    away cancels the answer, which then records itself as cancelled."""
    deltas: asyncio.Queue[str | None] = asyncio.Queue()
    task = gateway.start(opened, on_delta=deltas.put_nowait)
    task.add_done_callback(lambda _: deltas.put_nowait(None))
    try:
        yield sse.event("turn", {"turn_id": opened.turn_id, "user_message": opened.user_message})
        async for text in sse.relay(deltas):
            yield text if isinstance(text, bytes) else sse.event("delta", {"content": text})
        try:
            closed = task.result()
        except Exception:  # the answer could not be recorded: say so, and log why
            log.exception("chat turn failed", turn_id=opened.turn_id)
            yield sse.event(
                "error", {"error": {"code": "internal_error", "message": "The answer was lost"}}
            )
            return
        if closed.failure_status:
            error = closed.result["error"] or {}
            yield sse.event(
                "error",
                {"error": {"code": error.get("code"), "message": error.get("message")},
                 "turn": closed.result},
            )  # fmt: skip
        else:
            yield sse.event("done", closed.result)
    finally:
        if not task.done():
            task.cancel()


async def _replayed_events(result: dict[str, Any]) -> AsyncIterator[bytes]:
    """A replayed turn as the stream its first attempt sent."""
    yield sse.event("turn", {"turn_id": result["turn_id"], "user_message": result["user_message"]})
    message = result.get("message") or {}
    if message.get("content"):
        yield sse.event("delta", {"content": message["content"]})
    yield sse.event("done", result)
