"""The chat flow: open a turn under the user's claims, ask the model, close the turn.

Opening (gateway.open_turn, in the user's request scope) checks the session and the GPT
under RLS, stores the question and reads the history; the prompt is built and the provider
chosen before that transaction commits, so a question that cannot be asked (too long for
the model, no provider) is not stored. The model is then called outside any transaction,
and the turn is closed (gateway.close_turn, as the gateway role) with the answer, the usage
and its price — or with the failure, when the provider fails or the client goes away: the
question stays, the failure is recorded on it, the tokens charged are recorded, and no
partial answer is stored as if complete.

An answer is produced by its own task (`start`), so a client that disconnects cancels it
cleanly: the task records the cancellation even while the request that started it is being
torn down. The server waits for running answers at shutdown.
"""

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import structlog

from gptdesk.api import ApiError
from gptdesk.db.scope import RequestInfo, Scope
from gptdesk.llm.prompt import CONTEXT_WINDOWS, DEFAULT_CONTEXT_WINDOW, PromptTooLong, build_prompt
from gptdesk.llm.providers.base import (
    CompletionRequest,
    Delta,
    Finish,
    Message,
    Provider,
    ProviderError,
    Usage,
)
from gptdesk.llm.registry import ProviderRegistry
from gptdesk.llm.routing import Route

# What open_turn needs to read only the history that can fit: the context windows.
# (The pool's codec turns jsonb into Python values and back.)
_WINDOWS = {**CONTEXT_WINDOWS, "*": DEFAULT_CONTEXT_WINDOW}
log = structlog.get_logger("gptdesk.chat")
_OPEN_TURN = "select gateway.open_turn($1, $2, $3, $4, $5)"
_OPEN_API_TURN = "select gateway.open_api_turn($1, $2, $3, $4)"
_CLOSE_TURN = "select gateway.close_turn($1, $2)"


@dataclass(frozen=True)
class Opened:
    """A turn ready to be answered."""

    turn_id: str
    session_id: str
    user_message: dict[str, Any]
    gpt: dict[str, Any]
    route: Route
    completion: CompletionRequest
    claims: dict[str, Any]
    request: RequestInfo


@dataclass(frozen=True)
class Replay:
    """A retried idempotent request: what its first attempt recorded."""

    result: dict[str, Any]


@dataclass(frozen=True)
class Closed:
    """A closed turn: the outcome as recorded, and the HTTP status of a failure."""

    result: dict[str, Any]
    failure_status: int | None = None


def request_hash(*parts: object) -> str:
    """A fingerprint of what a request asks, to tell an idempotent retry from a reuse."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_content(content: object, limit: int) -> str:
    """The message text, or ApiError when it is not a non-blank string within `limit`."""
    if not isinstance(content, str):
        raise ApiError(400, "invalid_content", "content must be a string")
    if not content.strip():
        raise ApiError(400, "empty_content", "content must not be empty")
    if len(content) > limit:
        raise ApiError(
            413, "content_too_long", f"content has {len(content)} characters; at most {limit}"
        )
    if "\x00" in content:
        raise ApiError(400, "invalid_content", "content must not contain NUL characters")
    return content


def check_idempotency_key(key: str | None) -> str | None:
    """The Idempotency-Key header's value, or ApiError when it is unusable."""
    if key is None:
        return None
    if not key.strip() or len(key) > 255:
        raise ApiError(
            400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters"
        )
    return key


def _api_error(error: asyncpg.PostgresError) -> ApiError:
    """The ApiError for a refusal of open_turn/close_turn (SQLSTATE GDxyz: HTTP xyz)."""
    state = getattr(error, "sqlstate", "") or ""
    if state.startswith("GD"):
        detail = getattr(error, "detail", None) or str(error)
        return ApiError(int(state[2:]), getattr(error, "message", None) or str(error), detail)
    if state == "23505":  # the same Idempotency-Key opened concurrently
        return ApiError(
            409, "request_in_progress", "A request with this Idempotency-Key is being answered"
        )
    if state.startswith("23") or state == "42501":
        return ApiError(409, "conflict", "The message could not be stored")
    raise error


def _completion(
    opened: dict[str, Any],
    question: str,
    history: Sequence[Message],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> CompletionRequest:
    gpt = opened["gpt"]
    limit = int(gpt["max_tokens"])
    tokens = min(limit, max_tokens) if max_tokens else limit
    try:
        prompt = build_prompt(
            model=gpt["model"],
            instructions=gpt["prompt"],
            history=history,
            question=question,
            max_tokens=tokens,
        )
    except PromptTooLong as exc:
        raise ApiError(400, "prompt_too_long", str(exc)) from None
    return CompletionRequest(
        model=gpt["model"],
        messages=prompt.messages,
        temperature=float(gpt["temperature"]) if temperature is None else temperature,
        max_tokens=tokens,
    )


def _charged(provider: Provider, request: CompletionRequest, text: str) -> Usage:
    """What an answer cut short cost: nothing when no text came (the request was refused,
    or never reached a model), else its usage as the provider would count it."""
    return provider.estimate_usage(request, text) if text else Usage(0, 0)


class ChatGateway:
    """Opens, answers and closes chat turns."""

    def __init__(self, scope: Scope, registry: ProviderRegistry) -> None:
        self.scope = scope
        self.registry = registry
        self._running: set[asyncio.Task[Closed]] = set()

    async def open_session_turn(
        self,
        claims: dict[str, Any],
        request: RequestInfo,
        *,
        session_id: str,
        content: str,
        idempotency_key: str | None,
    ) -> Opened | Replay:
        """Store `content` as the next question of the caller's session, or the replay."""
        fingerprint = request_hash("session", session_id, content)
        await self.registry.refresh()  # never while holding the turn's connection
        async with self.scope.as_claims(claims, request=request) as conn:
            try:
                opened = await conn.fetchval(
                    _OPEN_TURN, session_id, content, idempotency_key, fingerprint, _WINDOWS
                )
            except asyncpg.PostgresError as error:
                raise _api_error(error) from None
            if "replay" in opened:
                return Replay(opened["replay"])
            route = self._route(opened["gpt"]["model"])
            history = [
                Message("assistant" if m["sender"] == "gpt" else "user", m["content"])
                for m in opened["history"]
            ]
            completion = _completion(opened, content, history)
        return self._opened(opened, route, completion, claims, request)

    async def open_api_turn(
        self,
        claims: dict[str, Any],
        request: RequestInfo,
        *,
        gpt_id: str,
        messages: Sequence[Message],
        temperature: float | None,
        max_tokens: int | None,
        idempotency_key: str | None,
        fingerprint: str,
    ) -> Opened | Replay:
        """Store the last user message of an OpenAI-style request in the caller's API
        session with the GPT; the conversation is the client's."""
        question = messages[-1].content
        await self.registry.refresh()  # never while holding the turn's connection
        async with self.scope.as_claims(claims, request=request) as conn:
            try:
                opened = await conn.fetchval(
                    _OPEN_API_TURN, gpt_id, question, idempotency_key, fingerprint
                )
            except asyncpg.PostgresError as error:
                raise _api_error(error) from None
            if "replay" in opened:
                return Replay(opened["replay"])
            route = self._route(opened["gpt"]["model"])
            completion = _completion(
                opened, question, messages[:-1],
                temperature=temperature, max_tokens=max_tokens,
            )  # fmt: skip
        return self._opened(opened, route, completion, claims, request)

    def _route(self, model: str) -> Route:
        route = self.registry.cached_route(model)
        if route is None:
            raise ApiError(503, "no_provider", f"No model provider serves {model!r}")
        if route.provider.key_error:
            raise ApiError(503, "provider_misconfigured", route.provider.key_error)
        return route

    def _opened(
        self,
        opened: dict[str, Any],
        route: Route,
        completion: CompletionRequest,
        claims: dict[str, Any],
        request: RequestInfo,
    ) -> Opened:
        return Opened(
            turn_id=opened["turn"]["id"], session_id=opened["turn"]["session_id"],
            user_message=opened["user_message"], gpt=opened["gpt"], route=route,
            completion=completion, claims=claims, request=request,
        )  # fmt: skip

    def start(
        self, opened: Opened, on_delta: Callable[[str], None] | None = None
    ) -> asyncio.Task[Closed]:
        """Answer `opened` in a task of its own; `on_delta` sees the text as it comes
        (streamed from the provider), otherwise the provider answers whole."""
        task = asyncio.create_task(self._answer(opened, on_delta))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _answer(self, opened: Opened, on_delta: Callable[[str], None] | None) -> Closed:
        provider = self.registry.client(opened.route.provider)
        request = opened.completion
        started = time.perf_counter()
        parts: list[str] = []
        try:
            if on_delta is None:
                completion = await provider.complete(request)
                parts.append(completion.text)
                finish = completion.finish
            else:
                finish = Finish("stop", None)
                async for event in provider.stream(request):
                    if isinstance(event, Delta):
                        parts.append(event.text)
                        on_delta(event.text)
                    else:
                        finish = event
        except ProviderError as error:
            text = "".join(parts)
            outcome = self._outcome(
                opened, "failed", _charged(provider, request, text), started,
                error={"code": "provider_error", "message": str(error),
                       "provider_status": error.status},
            )  # fmt: skip
            result = await asyncio.shield(self._close(opened, outcome))
            return Closed(result, 504 if error.status == 504 else 502)
        except Exception as error:  # a provider bug or a surprise answer: still a failure
            log.exception("the model provider failed unexpectedly", turn_id=opened.turn_id)
            outcome = self._outcome(
                opened, "failed", _charged(provider, request, "".join(parts)), started,
                error={"code": "provider_error",
                       "message": f"the model provider failed: {type(error).__name__}"},
            )  # fmt: skip
            result = await asyncio.shield(self._close(opened, outcome))
            return Closed(result, 502)
        except asyncio.CancelledError:
            text = "".join(parts)
            outcome = self._outcome(
                opened, "cancelled", _charged(provider, request, text), started,
                error={"code": "client_disconnected",
                       "message": "the client went away before the answer was complete"},
            )  # fmt: skip
            await asyncio.shield(self._close(opened, outcome))
            raise
        text = "".join(parts)
        usage = finish.usage or provider.estimate_usage(request, text)
        outcome = self._outcome(
            opened, "completed", usage, started, content=text, finish_reason=finish.reason,
            usage_reported=finish.usage is not None,
        )  # fmt: skip
        return Closed(await asyncio.shield(self._close(opened, outcome)))

    def _outcome(
        self,
        opened: Opened,
        status: str,
        usage: Usage,
        started: float,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "status": status,
            "model": opened.route.priced_model,
            "provider": opened.route.provider.name,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "response_time_ms": round((time.perf_counter() - started) * 1000),
            **extra,
        }

    async def _close(self, opened: Opened, outcome: dict[str, Any]) -> dict[str, Any]:
        async with self.scope.as_gateway(opened.claims, request=opened.request) as conn:
            result: dict[str, Any] = await conn.fetchval(_CLOSE_TURN, opened.turn_id, outcome)
        return result

    async def abandon_stale(self, older_than_seconds: float) -> int:
        """Close turns pending longer than any answer takes (their server stopped) as
        failed; how many there were."""
        async with self.scope.as_gateway() as conn:
            closed: int = await conn.fetchval(
                "select gateway.abandon_stale_turns(make_interval(secs => $1))", older_than_seconds
            )
        return closed

    async def drain(self) -> None:
        """Let running answers finish (and record themselves) before the server stops."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
