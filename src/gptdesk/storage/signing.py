"""Signed URL tokens: JWTs (HS256, the project secret) naming one object and one use.

A download token carries `{"url": "<bucket>/<name>", "scope": "download"}`; an upload token
also the signer (`sub`, `role`) and whether it may overwrite (`upsert`), so the upload it
allows still runs as the signer, under RLS. A token opens only the URL it names.
"""

import time
from typing import Any, Literal

import jwt

from gptdesk.storage.errors import invalid_jwt, invalid_request

Scope = Literal["download", "upload"]
MAX_EXPIRES_IN = 10 * 365 * 86400


def sign(secret: str, url: str, scope: Scope, expires_in: int, **extra: Any) -> str:
    """A token for `scope` on `url`, valid `expires_in` seconds."""
    now = int(time.time())
    claims = {"url": url, "scope": scope, "iat": now, "exp": now + expires_in, **extra}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(secret: str, token: str | None, url: str, scope: Scope) -> dict[str, Any]:
    """The claims of `token` if it is valid for `scope` on `url`; InvalidJWT otherwise."""
    if not token:
        raise invalid_jwt("A signed URL needs its token")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["exp", "url"]}
        )
    except jwt.ExpiredSignatureError:
        raise invalid_jwt("jwt expired") from None
    except jwt.PyJWTError as exc:
        raise invalid_jwt(f"invalid signature: {exc}") from None
    if claims.get("url") != url or claims.get("scope", "download") != scope:
        raise invalid_jwt("the token is for another object")
    return claims


def expires_in(value: object) -> int:
    """`expiresIn` as clients send it (supabase-py: a string), checked."""
    try:
        seconds = int(str(value))
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= MAX_EXPIRES_IN:
        raise invalid_request("expiresIn must be a positive number of seconds")
    return seconds
