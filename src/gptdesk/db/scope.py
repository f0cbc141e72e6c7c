"""The request scope: the one place that switches role and sets the JWT claims.

Every request for a user runs inside `Scope.as_claims(claims)`: a pooled connection, one
transaction, the role named by the claims and `request.jwt.claims` (plus the request's
method, path and headers) set with SET LOCAL semantics, all sent in a single round trip,
as PostgREST does. Row-level security then decides what the work inside may see and do.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

API_ROLES = frozenset({"anon", "authenticated", "service_role"})
# The auth service's role: taken only through Scope.as_auth_service, never from a JWT.
AUTH_SERVICE_ROLE = "gptdesk_auth"
# The chat gateway's role (records answers, reads providers): likewise server-only.
GATEWAY_ROLE = "gptdesk_gateway"
# Credentials stay out of SQL-visible settings: policies need who, not the token itself.
_HIDDEN_HEADERS = frozenset({"authorization", "apikey", "cookie", "proxy-authorization"})


class ScopeError(Exception):
    """The claims name a role requests may not take, or the transaction did not commit."""


@dataclass(frozen=True)
class RequestInfo:
    """What a policy or audit function may know of the HTTP request."""

    method: str = ""
    path: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    client_ip: str = ""  # the peer uvicorn resolved (trusted proxies only), never a header


def quote_literal(text: str) -> str:
    """A SQL string literal for `text` (standard_conforming_strings is on for our pool)."""
    if "\x00" in text:
        raise ScopeError("NUL characters cannot be sent to PostgreSQL")
    return "'" + text.replace("'", "''") + "'"


def role_of(claims: Mapping[str, Any] | None) -> str:
    """The database role a request with these claims runs as."""
    role = (claims or {}).get("role") or "anon"
    if not isinstance(role, str) or role not in API_ROLES:
        raise ScopeError(f"role {role!r} is not one a request may take")
    return role


def _printable(text: str) -> str:
    """Request facts as PostgreSQL can store them: NUL (legal in a decoded URL) replaced."""
    return text.replace("\x00", "\ufffd")


def preamble(
    claims: Mapping[str, Any] | None,
    request: RequestInfo | None = None,
    *,
    read_only: bool = False,
    role: str | None = None,
) -> str:
    """The statement that opens a request transaction: BEGIN, role, claims, request facts.

    The role comes from the claims; only this module's own callers may name it (`role`).
    """
    role = role or role_of(claims)
    request = request or RequestInfo()
    headers = {
        _printable(name.lower()): _printable(value)
        for name, value in request.headers.items()
        if name.lower() not in _HIDDEN_HEADERS
    }
    claims_json = orjson.dumps(dict(claims) if claims else {"role": role}).decode()
    if "\\u0000" in claims_json:  # jsonb refuses it; every policy reading claims would fail
        raise ScopeError("claims must not contain NUL characters")
    settings = {
        "role": role,
        "request.jwt.claims": claims_json,
        "request.method": _printable(request.method),
        "request.path": _printable(request.path),
        "request.headers": orjson.dumps(headers).decode(),
        "request.client_ip": _printable(request.client_ip),
    }
    calls = ", ".join(
        f"set_config({quote_literal(name)}, {quote_literal(value)}, true)"
        for name, value in settings.items()
    )
    begin = "begin read only" if read_only else "begin"
    return f"{begin}; select {calls}"


class Scope:
    """Opens request transactions on a pool as the role and claims of each request."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def as_claims(
        self,
        claims: Mapping[str, Any] | None,
        *,
        request: RequestInfo | None = None,
        read_only: bool = False,
    ) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A connection in a transaction run as `claims`; commit, or roll back on error."""
        return self._transaction(preamble(claims, request, read_only=read_only))

    def as_auth_service(
        self,
        *,
        request: RequestInfo | None = None,
        user_id: str | None = None,
        read_only: bool = False,
    ) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """The auth service's one way past RLS: its own role, for the auth schema only.

        `user_id` is the user the action is for, so audit rows name them as the actor.
        """
        claims = {"role": AUTH_SERVICE_ROLE, **({"sub": user_id} if user_id else {})}
        return self._transaction(
            preamble(claims, request, read_only=read_only, role=AUTH_SERVICE_ROLE)
        )

    def as_gateway(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        request: RequestInfo | None = None,
        read_only: bool = False,
    ) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """The chat gateway's role with the user's `claims` (so auth.uid() is the user): for
        recording what a model answered and reading provider settings, nothing else."""
        claims = dict(claims) if claims else {"role": GATEWAY_ROLE}
        return self._transaction(preamble(claims, request, read_only=read_only, role=GATEWAY_ROLE))

    @asynccontextmanager
    async def _transaction(self, opening: str) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn:
            try:
                await conn.execute(opening)
                yield conn
            except BaseException:
                await _roll_back(conn)
                raise
            if not conn.is_in_transaction():
                raise ScopeError("the request's transaction was ended inside its scope")
            status = await conn.execute("commit")
            if status != "COMMIT":
                # PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK.
                raise ScopeError("the transaction had failed and was rolled back")


async def _roll_back(conn: asyncpg.Connection) -> None:
    """Roll back if a transaction is open; a broken connection is dropped by the pool."""
    if conn.is_closed() or not conn.is_in_transaction():
        return
    try:
        await conn.execute("rollback")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        conn.terminate()
