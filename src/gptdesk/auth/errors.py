"""Auth errors as GoTrue answers them: stable snake_case codes, two body shapes by API version."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION = "2024-01-01"


class AuthError(Exception):
    """An auth failure with its HTTP status, GoTrue error code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def invalid_credentials() -> AuthError:
    return AuthError(400, "invalid_credentials", "Invalid login credentials")


def validation_failed(message: str) -> AuthError:
    return AuthError(400, "validation_failed", message)


def bad_jwt(reason: str) -> AuthError:
    return AuthError(403, "bad_jwt", f"invalid JWT: {reason}")


def render(request: Request, error: AuthError) -> JSONResponse:
    """The response for `error`: the 2024-01-01 shape when the client asked for it.

    Both official clients send X-Supabase-Api-Version and read `code` only when the response
    echoes the header; older clients get the legacy `{code: status, error_code, msg}`.
    """
    headers = {**error.headers, "x-sb-error-code": error.code}
    if request.headers.get(API_VERSION_HEADER):
        headers[API_VERSION_HEADER] = API_VERSION
        body: dict[str, Any] = {"code": error.code, "message": error.message, **error.extra}
    else:
        body = {"code": error.status, "error_code": error.code, "msg": error.message, **error.extra}
    return JSONResponse(body, status_code=error.status, headers=headers)
