"""Who is calling: the project key in `apikey` and the user token in `Authorization`.

This is the gateway check Supabase's Kong/Envoy does in front of every service, plus the
JWT verification each service does: pure functions of the headers and the secret.
"""

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gptdesk.auth.tokens import InvalidToken, verify


class GatewayError(Exception):
    """A missing or unknown project key: 401 with `message` and `hint`, as the gateway says."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Caller:
    """The verified claims a request runs with, and the role of its project key."""

    claims: dict[str, Any]
    key_role: str
    token: str | None

    @property
    def role(self) -> str:
        return str(self.claims.get("role", "anon"))

    @property
    def user_id(self) -> str | None:
        sub = self.claims.get("sub")
        return str(sub) if sub else None


_INVALID_KEY = ("Invalid API key", "Double check your Supabase `anon` or `service_role` API key.")


@lru_cache(maxsize=32)
def _verified_key(apikey: str, secret: str) -> tuple[str, int]:
    """(role, exp) of a valid project key. Cached: every request sends the same two keys,
    and a signature check costs more than the rest of the gateway check together."""
    try:
        claims = verify(apikey, secret)
    except InvalidToken:
        raise GatewayError(*_INVALID_KEY) from None
    if "sub" in claims or claims["role"] not in ("anon", "service_role"):
        raise GatewayError(*_INVALID_KEY)  # a user's access token is not a project key
    return str(claims["role"]), int(claims["exp"])


def project_key_role(apikey: str | None, secret: str) -> str:
    """The role of the project key (anon or service_role), or GatewayError."""
    if not apikey:
        raise GatewayError(
            "No API key found in request",
            "No `apikey` request header or url param was found.",
        )
    role, expires = _verified_key(apikey, secret)
    if expires <= time.time():
        raise GatewayError(*_INVALID_KEY)
    return role


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, if there is one."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
