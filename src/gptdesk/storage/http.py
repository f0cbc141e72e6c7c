"""What every /storage/v1 route shares: the caller's claims, JSON bodies, the service, and
the path convertor that lets any object name reach the name check."""

from typing import Any

import orjson
from fastapi import Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from gptdesk.auth.live_sessions import RequestAuthenticator
from gptdesk.auth.tokens import InvalidToken
from gptdesk.storage import errors
from gptdesk.storage.service import StorageService

MAX_JSON_BYTES = 1 << 20
TRUE = ("true", "1")


class AnyPath(Convertor[str]):
    """A path that may hold any character (Starlette's `path` stops at a newline), so a
    bad object name reaches the name check and gets Storage's InvalidKey."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", AnyPath())


async def claims_of(request: Request) -> dict[str, Any]:
    """The verified claims of the caller (InvalidJWT in Storage's format when refused)."""
    authenticator: RequestAuthenticator = request.app.state.request_authenticator
    try:
        caller = await authenticator.caller(request.headers)
    except InvalidToken as exc:
        raise errors.invalid_jwt(str(exc)) from None
    return caller.claims


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty)."""
    raw = await request.body()
    if len(raw) > MAX_JSON_BYTES:
        raise errors.invalid_request("The request body is too large")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.invalid_request("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise errors.invalid_request("The request body must be a JSON object")
    return body


def service_of(request: Request) -> StorageService:
    """The app's storage service."""
    service: StorageService = request.app.state.storage
    return service


def secret_of(request: Request) -> str:
    """The project secret signed URLs are signed with."""
    return str(request.app.state.settings.jwt_secret.get_secret_value())


def json_rows(rows: list[Any], one: bool = False) -> Response:
    """Rows (or the only one) as JSON; uuids and timestamps as text."""
    items = [dict(r) for r in rows]
    return Response(
        orjson.dumps(items[0] if one else items, default=str), media_type="application/json"
    )
