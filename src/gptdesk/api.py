"""/api/v1, GPT Desk's own API: its error format, JSON bodies, and who is calling.

Errors are `{"error": {"code", "message"}}` with the HTTP status; codes are stable
snake_case. Callers send the project key (`apikey`, as on every surface) and a signed-in
user's access token (or the service-role key) as Bearer; a token whose session has ended is
refused like a forged one.
"""

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from gptdesk.auth.live_sessions import RequestAuthenticator
from gptdesk.auth.tokens import InvalidToken

MAX_BODY_BYTES = 1 << 20


class ApiError(Exception):
    """An /api/v1 failure: HTTP status, stable code, message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def render(request: Request, error: ApiError) -> JSONResponse:
    """The response for `error`."""
    return JSONResponse(
        {"error": {"code": error.code, "message": error.message}}, status_code=error.status
    )


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "request_too_large", "Request body is too large")
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "Could not parse the request body as JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object")
    return body


async def signed_in_claims(request: Request) -> dict[str, Any]:
    """The claims of the caller's Bearer token: a signed-in user or the service role."""
    authenticator: RequestAuthenticator = request.app.state.request_authenticator
    try:
        caller = await authenticator.caller(request.headers)
    except InvalidToken as exc:
        raise ApiError(401, "invalid_token", f"The access token was refused: {exc}") from None
    if caller.token is None or caller.role not in ("authenticated", "service_role"):
        raise ApiError(401, "not_authenticated", "Sign in: this needs a user's access token")
    return caller.claims
