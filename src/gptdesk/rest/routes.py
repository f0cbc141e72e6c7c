"""/rest/v1: PostgREST's data API over HTTP — authenticate, prepare, execute, respond.

A plain ASGI dispatcher in front of the router (no FastAPI parameter machinery on the hot
path, and every path under /rest/v1 reaches PostgREST's errors, even one a route pattern
would not match). Each stage's time is reported in `Server-Timing`, as PostgREST does.
Plans of reads are remembered per schema-cache generation: the same URL with the same
headers builds the same SQL.
"""

from collections import OrderedDict
from itertools import pairwise
from time import perf_counter
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gptdesk import __version__
from gptdesk.auth.caller import GatewayError
from gptdesk.auth.live_sessions import SessionEnded
from gptdesk.auth.routes import request_info
from gptdesk.auth.tokens import InvalidToken
from gptdesk.governance import refusals
from gptdesk.rest.errors import RestError
from gptdesk.rest.executor import execute
from gptdesk.rest.media import negotiate
from gptdesk.rest.openapi import openapi_document
from gptdesk.rest.prepare import Prepared, RestRequest, check_profile, prepare
from gptdesk.rest.reloader import SchemaCacheHolder
from gptdesk.rest.respond import reply

MAX_BODY_BYTES = 16 << 20
_PLAN_CACHE_SIZE = 1024
_PLAN_HEADERS = ("accept", "prefer", "range", "accept-profile")
PREFIX = "/rest/v1"


class PlanCache:
    """Prepared reads by (generation, method, URL, headers that shape them); bounded LRU."""

    def __init__(self, size: int = _PLAN_CACHE_SIZE) -> None:
        self.size = size
        self._plans: OrderedDict[tuple[object, ...], Prepared] = OrderedDict()

    def get(self, key: tuple[object, ...]) -> Prepared | None:
        found = self._plans.get(key)
        if found is not None:
            self._plans.move_to_end(key)
        return found

    def put(self, key: tuple[object, ...], prepared: Prepared) -> None:
        self._plans[key] = prepared
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)


def error_response(error: RestError, *, head: bool = False) -> Response:
    """A PostgREST error: its JSON body (none for HEAD) and Proxy-Status."""
    headers = error.headers()
    if error.status == 401 and error.code.startswith("PGRST3"):
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{error.message}"'
        )
    return Response(
        b"" if head else orjson.dumps(error.body()),
        error.status,
        headers,
        media_type="application/json; charset=utf-8",
    )


def _token_error(error: InvalidToken) -> RestError:
    text = str(error)
    if isinstance(error, SessionEnded):
        return RestError(401, "PGRST303", "JWT session has ended")
    if "expired" in text:
        return RestError(401, "PGRST303", "JWT expired")
    if "invalid claims" in text:
        return RestError(401, "PGRST303", f"JWT claims are invalid: {text.split(': ', 1)[-1]}")
    return RestError(401, "PGRST301", "JWT could not be decoded or its signature is invalid")


def _timing(marks: list[tuple[str, float]]) -> str:
    parts = []
    for (_, before), (name, after) in pairwise(marks):
        parts.append(f"{name};dur={(after - before) * 1000:.1f}")
    return ", ".join(parts)


async def _openapi(request: Request, holder: SchemaCacheHolder) -> Response:
    check_profile(request.headers, "GET", "public")
    negotiate(request.headers.get("accept"), allow_openapi=True)
    settings = request.app.state.settings
    document = openapi_document(
        await holder.current(), base_url=settings.base_url, version=__version__
    )
    body = b"" if request.method == "HEAD" else orjson.dumps(document)
    return Response(body, 200, media_type="application/openapi+json; charset=utf-8")


async def rest_endpoint(request: Request) -> Response:
    """Every /rest/v1 request."""
    marks = [("start", perf_counter())]
    head = request.method == "HEAD"
    state = request.app.state
    claims: dict[str, Any] | None = None
    try:
        try:
            caller = await state.request_authenticator.caller(request.headers)
        except InvalidToken as error:
            raise _token_error(error) from None
        except GatewayError as error:
            return JSONResponse({"message": error.message, "hint": error.hint}, 401)
        claims = caller.claims
        marks.append(("jwt", perf_counter()))
        holder: SchemaCacheHolder = state.schema_cache
        path = request.scope["path"][len(PREFIX) :].strip("/")
        if not path and request.method in ("GET", "HEAD"):
            return await _openapi(request, holder)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise RestError(413, "PGRST102", "Request body too large")
        cache = await holder.current()
        key = None
        prepared = None
        if request.method in ("GET", "HEAD"):
            headers = request.headers
            key = (
                holder.generation, request.method, path, request.scope["query_string"],
                *(headers.get(name) for name in _PLAN_HEADERS),
            )  # fmt: skip
            prepared = state.rest_plans.get(key)
        if prepared is None:
            rest_request = RestRequest(
                request.method,
                path,
                request.query_params.multi_items(),
                {name: value for name, value in request.headers.items()},
                body,
            )
            prepared = prepare(
                rest_request,
                cache,
                max_rows=state.settings.rest_max_rows,
                parsed=lambda: marks.append(("parse", perf_counter())),
            )
            if key is not None:
                state.rest_plans.put(key, prepared)
        else:
            marks.append(("parse", perf_counter()))
        marks.append(("plan", perf_counter()))
        outcome = await execute(state.scope, caller.claims, request_info(request), prepared)
        marks.append(("transaction", perf_counter()))
        answer = reply(prepared, outcome)
    except RestError as error:
        if error.status == 403 and error.code == "PT403":
            await _audit_refusal(request, claims, error)
        return error_response(error, head=head)
    marks.append(("response", perf_counter()))
    headers = {**answer.headers, "Server-Timing": _timing(marks)}
    return Response(answer.body, answer.status, headers)


async def _audit_refusal(request: Request, claims: dict[str, Any] | None, error: RestError) -> None:
    """A refused governance transition called through /rpc is audited all the same."""
    path = request.scope["path"][len(PREFIX) :].strip("/")
    called = refusals.refused_rpc(path, request.query_params, await request.body())
    if called is not None:
        action, gpt_id = called
        await refusals.record_refusal(
            request.app.state.scope, claims, request_info(request), action, gpt_id,
            str(error.details or error.code), error.message,
        )  # fmt: skip


class RestDispatch:
    """ASGI middleware sending every request under /rest/v1 to the REST endpoint."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == PREFIX or path.startswith(PREFIX + "/"):
            response = await rest_endpoint(Request(scope, receive, send))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)
