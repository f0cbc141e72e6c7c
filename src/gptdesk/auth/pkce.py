"""PKCE (RFC 7636) for mailed links, as GoTrue does it: challenges, verifiers, auth codes.

A client that sends `code_challenge` and `code_challenge_method` with /signup, /recover or
PUT /user keeps the matching verifier. Its mail's token carries the `pkce_` prefix, and the
mail's link (GET /verify) redirects with `?code=<auth code>` instead of a session; the
client trades the code and its verifier for the session at POST /token?grant_type=pkce.
These are the pure parts; the flow state's SQL is in verification_repository.py.
"""

import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from typing import Any

from gptdesk.auth.errors import AuthError, validation_failed

PKCE_PREFIX = "pkce_"
MIN_CHALLENGE, MAX_CHALLENGE = 43, 128
_UNRESERVED = re.compile(r"^[A-Za-z0-9._~-]+$")
# The flow a mailed token's type starts (auth.flow_state.authentication_method).
FLOW_METHODS = {
    "confirmation": "signup",
    "recovery": "recovery",
    "invite": "invite",
    "email_change": "email_change",
    "magiclink": "magiclink",
}
# The `amr` method of the session a flow ends in (GoTrue's authentication method names).
AMR_METHODS = {"signup": "email/signup"}


@dataclass(frozen=True)
class Challenge:
    """A client's code challenge and how its verifier maps to it (`s256` or `plain`)."""

    code_challenge: str
    method: str


def challenge_from(body: dict[str, Any]) -> Challenge | None:
    """The request's PKCE challenge, None without one; validation_failed when half-given."""
    challenge = body.get("code_challenge") or None  # supabase-js sends nulls
    method = body.get("code_challenge_method") or None
    if challenge is None and method is None:
        return None
    if not isinstance(challenge, str) or not isinstance(method, str):
        raise validation_failed("PKCE flow requires code_challenge_method and code_challenge")
    if not MIN_CHALLENGE <= len(challenge) <= MAX_CHALLENGE:
        raise validation_failed(
            f"code challenge has to be between {MIN_CHALLENGE} and {MAX_CHALLENGE} characters"
        )
    if not _UNRESERVED.match(challenge):
        raise validation_failed(
            "code challenge can only contain alphanumeric characters, hyphens, periods, "
            "underscores and tildes"
        )
    method = method.lower()
    if method not in ("s256", "plain"):
        raise validation_failed("code challenge method must be s256 or plain")
    return Challenge(challenge, method)


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding: the S256 challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verifier_matches(challenge: str, method: str, verifier: str) -> bool:
    """Whether `verifier` is the one `challenge` was made from (in constant time)."""
    expected = s256(verifier) if method == "s256" else verifier
    return hmac.compare_digest(expected.encode(), challenge.encode())


def is_pkce_token(token: str | None) -> bool:
    """Whether a mailed token belongs to a PKCE flow (GoTrue marks them by prefix)."""
    return bool(token) and str(token).startswith(PKCE_PREFIX)


def new_auth_code() -> str:
    """An auth code (GoTrue's are UUIDs); its verifier, not its secrecy, is the real guard."""
    return str(uuid.uuid4())


def flow_state_not_found() -> AuthError:
    return AuthError(404, "flow_state_not_found", "invalid flow state, no valid flow state found")


def flow_state_expired() -> AuthError:
    return AuthError(422, "flow_state_expired", "invalid flow state, flow state has expired")


def bad_code_verifier() -> AuthError:
    return AuthError(
        400, "bad_code_verifier", "code challenge does not match previously saved code verifier"
    )
