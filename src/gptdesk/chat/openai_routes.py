"""/api/v1/openai: the OpenAI API's chat completions and models, over governed GPTs.

Any OpenAI client talks to a GPT by using `gpt_<id>` as the model and the user's access
token as its API key (`base_url=<server>/api/v1/openai`). Every request is a chat turn of
the gateway (chat/gateway.py): the same checks (a GPT the user may see, active and
approved), recording and pricing as the session endpoint, in the caller's API session with
that GPT. Errors are OpenAI's.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gptdesk.api import MAX_BODY_BYTES, ApiError
from gptdesk.auth.caller import GatewayError
from gptdesk.auth.live_sessions import RequestAuthenticator
from gptdesk.auth.routes import request_info
from gptdesk.auth.tokens import InvalidToken
from gptdesk.chat import openai_wire as wire
from gptdesk.chat import sse
from gptdesk.chat.gateway import ChatGateway, Opened, Replay, check_idempotency_key, request_hash

log = structlog.get_logger("gptdesk.chat")
router = APIRouter(prefix="/api/v1/openai")
_MODELS = """
select id, name, description, team_id, created_at from public.gpts
 where status = 'active' and approved_version is not null
 order by created_at, id
"""


def _error(error: wire.OpenAIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def _from_api(error: ApiError) -> wire.OpenAIError:
    code = "model_not_found" if error.code == "gpt_not_found" else error.code
    return wire.OpenAIError(error.status, code, error.message)


async def _claims(request: Request) -> dict[str, Any]:
    authenticator: RequestAuthenticator = request.app.state.request_authenticator
    try:
        caller = await authenticator.bearer_caller(request.headers)
    except (InvalidToken, GatewayError) as exc:
        raise wire.OpenAIError(
            401, "invalid_api_key", f"Use a signed-in user's access token as the API key: {exc}"
        ) from None
    return caller.claims


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise wire.OpenAIError(413, "request_too_large", "Request body is too large")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise wire.OpenAIError(400, "invalid_json", "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise wire.OpenAIError(400, "invalid_json", "The body must be a JSON object")
    return body


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    """A chat completion from the GPT named by `model`, whole or streamed."""
    try:
        claims = await _claims(request)
        call = wire.parse_call(
            await _body(request), request.app.state.settings.chat_max_content_chars
        )
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        gateway: ChatGateway = request.app.state.chat
        fingerprint = request_hash(
            "openai", call.gpt_id, [(m.role, m.content) for m in call.messages],
            call.temperature, call.max_tokens,
        )  # fmt: skip
        opened = await gateway.open_api_turn(
            claims, request_info(request), gpt_id=call.gpt_id, messages=call.messages,
            temperature=call.temperature, max_tokens=call.max_tokens, idempotency_key=key,
            fingerprint=fingerprint,
        )  # fmt: skip
    except ApiError as error:
        return _error(_from_api(error))
    except wire.OpenAIError as error:
        return _error(error)
    created = int(time.time())
    if isinstance(opened, Replay):
        headers = {"Idempotency-Replayed": "true"}
        if call.stream:
            return StreamingResponse(
                _replayed_chunks(call, opened.result, created),
                media_type="text/event-stream",
                headers={**sse.HEADERS, **headers},
            )
        return JSONResponse(wire.completion_body(call, opened.result, created), headers=headers)
    if call.stream:
        return StreamingResponse(
            _chunks(gateway, opened, call, created),
            media_type="text/event-stream",
            headers=sse.HEADERS,
        )
    closed = await gateway.start(opened)
    if closed.failure_status:
        failure = closed.result["error"] or {}
        return _error(
            wire.OpenAIError(closed.failure_status, "provider_error", str(failure.get("message")))
        )
    return JSONResponse(wire.completion_body(call, closed.result, created))


async def _chunks(
    gateway: ChatGateway, opened: Opened, call: wire.CompletionCall, created: int
) -> AsyncIterator[bytes]:
    """The answer as OpenAI streams it; a client that goes away cancels the answer."""
    deltas: asyncio.Queue[str | None] = asyncio.Queue()
    task = gateway.start(opened, on_delta=deltas.put_nowait)
    task.add_done_callback(lambda _: deltas.put_nowait(None))
    turn = opened.turn_id
    try:
        yield sse.data(wire.chunk(call, turn, created, {"role": "assistant", "content": ""}, None))
        async for text in sse.relay(deltas):
            if isinstance(text, bytes):
                yield text
            else:
                yield sse.data(wire.chunk(call, turn, created, {"content": text}, None))
        try:
            closed = task.result()
        except Exception:
            log.exception("chat turn failed", turn_id=turn)
            yield sse.data(wire.OpenAIError(500, "internal_error", "The answer was lost").body())
            return
        if closed.failure_status:
            failure = closed.result["error"] or {}
            error = wire.OpenAIError(
                closed.failure_status, "provider_error", str(failure.get("message"))
            )
            yield sse.data(error.body())
            return
        metadata = (closed.result.get("message") or {}).get("metadata") or {}
        finish = metadata.get("finish_reason", "stop")
        yield sse.data(wire.chunk(call, turn, created, {}, finish))
        if call.include_usage:
            yield sse.data(wire.usage_chunk(call, closed.result, created))
        yield b"data: [DONE]\n\n"
    finally:
        if not task.done():
            task.cancel()


async def _replayed_chunks(
    call: wire.CompletionCall, result: dict[str, Any], created: int
) -> AsyncIterator[bytes]:
    """A replayed turn streamed as its first attempt was."""
    turn = result["turn_id"]
    message = result.get("message") or {}
    metadata = message.get("metadata") or {}
    yield sse.data(wire.chunk(call, turn, created, {"role": "assistant", "content": ""}, None))
    if message.get("content"):
        yield sse.data(wire.chunk(call, turn, created, {"content": message["content"]}, None))
    yield sse.data(wire.chunk(call, turn, created, {}, metadata.get("finish_reason", "stop")))
    if call.include_usage:
        yield sse.data(wire.usage_chunk(call, result, created))
    yield b"data: [DONE]\n\n"


@router.get("/models")
async def list_models(request: Request) -> Response:
    """The GPTs the caller may chat with, as OpenAI models."""
    try:
        claims = await _claims(request)
    except wire.OpenAIError as error:
        return _error(error)
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        rows = await conn.fetch(_MODELS)
    return JSONResponse({"object": "list", "data": [wire.model_object(dict(r)) for r in rows]})


@router.get("/models/{model}")
async def get_model(request: Request, model: str) -> Response:
    """One GPT the caller may chat with, as an OpenAI model."""
    try:
        claims = await _claims(request)
        gpt_id = wire.gpt_id_of(model)
    except wire.OpenAIError as error:
        return _error(error)
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        row = await conn.fetchrow(f"select * from ({_MODELS}) m where m.id = $1", gpt_id)
    if row is None:
        return _error(wire.model_not_found(model))
    return JSONResponse(wire.model_object(dict(row)))
