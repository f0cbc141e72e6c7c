"""Access tokens: minting GoTrue-shaped JWTs and verifying any JWT a client presents."""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from gptdesk.auth.signing import SigningKeys
from gptdesk.db.scope import API_ROLES

AUDIENCE = "authenticated"


class InvalidToken(Exception):
    """The token is malformed, forged, expired, for another audience or another role."""


@dataclass(frozen=True)
class AccessToken:
    """A minted access token and when it expires (Unix seconds)."""

    token: str
    expires_at: int
    expires_in: int


def mint_access_token(
    *,
    secret: str | SigningKeys,
    issuer: str,
    lifetime: int,
    user: Mapping[str, Any],
    session_id: str,
    aal: str,
    amr: list[dict[str, Any]],
    now: int | None = None,
) -> AccessToken:
    """The access token of a session, with the claim set GoTrue issues."""
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": issuer,
        "sub": str(user["id"]),
        "aud": user.get("aud") or AUDIENCE,
        "exp": issued + lifetime,
        "iat": issued,
        "email": user.get("email") or "",
        "phone": user.get("phone") or "",
        "app_metadata": user.get("app_metadata") or {},
        "user_metadata": user.get("user_metadata") or {},
        "role": user.get("role") or "authenticated",
        "aal": aal,
        "amr": amr,
        "session_id": session_id,
        "is_anonymous": bool(user.get("is_anonymous")),
    }
    keys = secret if isinstance(secret, SigningKeys) else SigningKeys(secret)
    return AccessToken(keys.sign(claims), issued + lifetime, lifetime)


def verify(token: str, secret: str | SigningKeys, *, leeway: int = 0) -> dict[str, Any]:
    """The claims of a valid token; InvalidToken otherwise.

    HS256 with the secret, or the configured asymmetric key (never `none`); `exp` must be
    in the future, `aud` when present must be ours, and `role` one a request may take.
    """
    keys = secret if isinstance(secret, SigningKeys) else SigningKeys(secret)
    try:
        key, algorithms = keys.key_for(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            options={"require": ["exp", "role"], "verify_aud": False},
            leeway=leeway,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token is expired") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"unable to parse or verify signature: {exc}") from None
    audience = claims.get("aud")
    if audience is not None and audience != AUDIENCE and audience != [AUDIENCE]:
        raise InvalidToken("token has invalid claims: wrong audience")
    if claims.get("role") not in API_ROLES:
        raise InvalidToken("token has invalid claims: unknown role")
    return claims
