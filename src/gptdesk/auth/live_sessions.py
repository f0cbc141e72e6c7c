"""Turning request headers into a Caller, refusing tokens of sessions that no longer exist.

An access token stays cryptographically valid until it expires; PostgREST and Supabase's
other services accept it all that time. GPT Desk also refuses it as soon as its session is
gone (sign-out, a ban, a deleted account): one indexed lookup, remembered for a few seconds.
"""

import time
import uuid
from collections.abc import Mapping
from typing import Any

from gptdesk.auth.caller import Caller, bearer_token, project_key_role
from gptdesk.auth.signing import SigningKeys
from gptdesk.auth.tokens import InvalidToken, verify
from gptdesk.db.scope import Scope

SESSION_CACHE_SECONDS = 5.0
_CACHE_LIMIT = 10_000

_LIVE_SESSION = """
select true from auth.sessions s join auth.users u on u.id = s.user_id
where s.id = $1 and s.user_id = $2 and u.deleted_at is null
  and (u.banned_until is null or u.banned_until <= now())
  and (s.not_after is null or s.not_after > now())
"""


class SessionEnded(InvalidToken):
    """The token's session was ended (signed out, banned, deleted)."""


class RequestAuthenticator:
    """The gateway key check, the token check and the live-session check of every request."""

    def __init__(
        self, scope: Scope, keys: SigningKeys, cache_seconds: float = SESSION_CACHE_SECONDS
    ) -> None:
        self.scope = scope
        self.keys = keys
        self.cache_seconds = cache_seconds
        self._live_until: dict[tuple[str, str], float] = {}
        self._claims: dict[str, tuple[dict[str, Any], float]] = {}

    def _verified(self, token: str) -> dict[str, Any]:
        """The token's claims, its signature checked once and remembered until it expires
        (as PostgREST's JWT cache does): a signature check costs more than the rest of the
        request's Python work together."""
        found = self._claims.get(token)
        now = time.time()
        if found is not None:
            claims, expires = found
            if expires > now:
                return dict(claims)
            del self._claims[token]
            raise InvalidToken("token is expired")
        claims = verify(token, self.keys)
        if len(self._claims) >= _CACHE_LIMIT:
            self._claims = {t: c for t, c in self._claims.items() if c[1] > now}
            if len(self._claims) >= _CACHE_LIMIT:
                self._claims.clear()
        self._claims[token] = (claims, float(claims["exp"]))
        return dict(claims)

    async def caller(self, headers: Mapping[str, str]) -> Caller:
        """The request's caller; GatewayError or InvalidToken (SessionEnded) when refused."""
        key_role = project_key_role(headers.get("apikey"), self.keys.secret)
        token = bearer_token(headers.get("authorization"))
        if token is None:
            return Caller({"role": key_role}, key_role, None)
        claims = self._verified(token)
        if claims.get("sub"):
            await self._require_live_session(claims)
        return Caller(claims, key_role, token)

    def verified_claims(self, token: str) -> dict[str, Any]:
        """The claims of `token` (signature and expiry checked); InvalidToken otherwise."""
        return self._verified(token)

    async def require_live_session(self, claims: dict[str, Any]) -> None:
        """SessionEnded unless the claims' session is still live."""
        await self._require_live_session(claims)

    async def bearer_caller(self, headers: Mapping[str, str]) -> Caller:
        """A signed-in user identified by their access token alone, as OpenAI clients send
        it (no project key); InvalidToken when there is none or it is refused."""
        token = bearer_token(headers.get("authorization"))
        if token is None:
            raise InvalidToken("missing bearer token")
        claims = self._verified(token)
        if not claims.get("sub") or claims.get("role") != "authenticated":
            raise InvalidToken("a signed-in user's access token is needed")
        await self._require_live_session(claims)
        return Caller(claims, "anon", token)

    async def _require_live_session(self, claims: dict[str, Any]) -> None:
        session_id = claims.get("session_id")
        if not session_id:
            raise InvalidToken("token has invalid claims: missing session_id")
        key = (str(session_id), str(claims["sub"]))
        now = time.monotonic()
        if self._live_until.get(key, 0.0) > now:
            return
        try:
            ids = (uuid.UUID(key[0]), uuid.UUID(key[1]))
        except ValueError:
            raise InvalidToken("token has invalid claims: malformed ids") from None
        async with self.scope.as_auth_service(read_only=True) as conn:
            live = await conn.fetchval(_LIVE_SESSION, *ids)
        if not live:
            self._live_until.pop(key, None)
            raise SessionEnded("session has ended")
        if len(self._live_until) >= _CACHE_LIMIT:
            self._live_until = {k: t for k, t in self._live_until.items() if t > now}
        self._live_until[key] = now + self.cache_seconds
