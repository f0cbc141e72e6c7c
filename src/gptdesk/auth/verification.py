"""Recovery and verification: the tokens of mails exchanged for a session.

`POST /recover` mails a recovery link to an address that has an account, and answers the
same whether it has one or not. `POST /verify` and the mailed `GET /verify` link take the
token of a confirmation, recovery, e-mail change, invitation or magic-link mail, apply what
it proves and sign the user in — a recovered user then sets a new password with `PUT /user`.

A mail asked for with a PKCE challenge (pkce.py) has a link that redirects with an auth
code instead of the session; `POST /token?grant_type=pkce` trades the code and the client's
verifier for the session (`exchange_code`).

Each flow is one transaction as the auth service with its audit row; mail goes out after
commit. A token is used up by its first verification, so a used, unknown, expired or
mismatched token all get the same 403 `otp_expired`, and change nothing.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from gptdesk.auth import pkce
from gptdesk.auth import repository as repo
from gptdesk.auth import verification_repository as vrepo
from gptdesk.auth.errors import AuthError, validation_failed
from gptdesk.auth.fields import check_email
from gptdesk.auth.redirects import RedirectPolicy, with_fragment, with_query
from gptdesk.auth.service import AuthService
from gptdesk.db.scope import RequestInfo

T = TypeVar("T")

# The verification types clients send, and the token each one consumes.
TOKEN_TYPES: dict[str, vrepo.TokenType] = {
    "signup": "confirmation",
    "email": "confirmation",
    "invite": "invite",
    "recovery": "recovery",
    "email_change": "email_change",
    "magiclink": "magiclink",
}
# How the GET link reports an error in the redirect's fragment (OAuth's `error`); other
# statuses (a 422) go without one, as in GoTrue.
_OAUTH_ERRORS = {
    400: "invalid_request",
    401: "unauthorized_client",
    403: "access_denied",
    500: "server_error",
}


def otp_expired() -> AuthError:
    return AuthError(403, "otp_expired", "Token has expired or is invalid")


class VerificationService:
    """Recovery mails and the exchange of mailed tokens for sessions."""

    def __init__(self, auth: AuthService, redirects: RedirectPolicy) -> None:
        self.auth = auth
        self.redirects = redirects

    async def recover(
        self, body: dict[str, Any], request: RequestInfo, redirect_to: str | None
    ) -> None:
        """POST /recover: a recovery mail if the address has an account; no answer tells."""
        if body.get("email") in (None, ""):
            raise validation_failed("Password recovery requires an email")
        email = check_email(body.get("email"))
        challenge = pkce.challenge_from(body)  # before the lookup: errors must not tell
        async with self.auth.scope.as_auth_service(request=request) as conn:
            user = await repo.user_by_email(conn, email)
        if user is None or user["is_banned"]:
            return
        async with self.auth.scope.as_auth_service(
            request=request, user_id=str(user["id"])
        ) as conn:
            token = await vrepo.issue_token(
                conn,
                user["id"],
                "recovery",
                email,
                self.auth.config.mail_token_ttl,
                challenge=challenge,
            )
            await vrepo.mark_recovery_sent(conn, user["id"])
            await repo.audit(conn, "user.recovery_requested", user["id"], {"email": email})
        self.auth.mail_link("recovery", email, token, "recovery", redirect_to)

    async def verify(self, body: dict[str, Any], request: RequestInfo) -> dict[str, Any]:
        """POST /verify: {type, token_hash} or {type, token, email} → Session."""
        token, verify_type, email = _verify_params(body)
        return await self._exchange(token, verify_type, email, request, self._session)

    async def verify_link(
        self,
        token: str | None,
        verify_type: str | None,
        redirect_to: str | None,
        request: RequestInfo,
    ) -> str:
        """GET /verify: where to send the browser.

        An implicit-flow link gets the session in the fragment; a PKCE link (its token has
        the `pkce_` prefix) gets `?code=` for POST /token?grant_type=pkce. Errors go in the
        fragment, and for PKCE links in the query too, as GoTrue sends them.
        """
        target = self.redirects.resolve(redirect_to)
        is_pkce = pkce.is_pkce_token(token)
        try:
            parsed = _verify_params({"token": token, "type": verify_type})
            if is_pkce:
                code = await self._exchange(*parsed, request, self._auth_code)
                return with_query(target, code=code)
            session = await self._exchange(*parsed, request, self._session)
        except AuthError as error:
            description = error.message
            if error.code == "otp_expired":
                description = "Email link is invalid or has expired"
            details = {"error_code": error.code, "error_description": description}
            if error.status in _OAUTH_ERRORS:
                details = {"error": _OAUTH_ERRORS[error.status], **details}
            if is_pkce:
                target = with_query(target, **details)
            return with_fragment(target, **details)
        return with_fragment(
            target,
            access_token=session["access_token"],
            expires_at=str(session["expires_at"]),
            expires_in=str(session["expires_in"]),
            refresh_token=session["refresh_token"],
            token_type="bearer",
            type=str(verify_type),
        )

    async def exchange_code(self, body: dict[str, Any], request: RequestInfo) -> dict[str, Any]:
        """POST /token?grant_type=pkce: {auth_code, code_verifier} → Session, once.

        The code lives GPTDESK_FLOW_STATE_TTL seconds from the moment the link was followed.
        """
        code, verifier = body.get("auth_code"), body.get("code_verifier")
        if not (isinstance(code, str) and code and isinstance(verifier, str) and verifier):
            raise validation_failed(
                "invalid request: both auth code and code verifier should be non-empty"
            )
        code_hash = vrepo.mail_token_hash(code)
        async with self.auth.scope.as_auth_service(request=request, read_only=True) as conn:
            owner = await vrepo.flow_state_owner(conn, code_hash)
        if owner is None:
            raise pkce.flow_state_not_found()
        async with self.auth.scope.as_auth_service(request=request, user_id=str(owner)) as conn:
            flow = await vrepo.flow_state_for_update(conn, code_hash)
            if flow is None:
                raise pkce.flow_state_not_found()  # exchanged meanwhile
            if not flow["live"]:
                raise pkce.flow_state_expired()
            if not pkce.verifier_matches(
                flow["code_challenge"], flow["code_challenge_method"], verifier
            ):
                raise pkce.bad_code_verifier()
            user = await repo.user_by_id(conn, flow["user_id"])
            if user is None:
                raise pkce.flow_state_not_found()
            if user["is_banned"]:
                raise AuthError(400, "user_banned", "User is banned")
            await vrepo.delete_flow_state(conn, flow["id"])
            method = flow["authentication_method"]
            await repo.audit(conn, "user.signed_in", user["id"], {"method": "pkce", "flow": method})
            return await self.auth._issue_session(
                conn, user, request, pkce.AMR_METHODS.get(method, method)
            )

    async def _session(
        self, conn: asyncpg.Connection, user: asyncpg.Record, token_type: str, request: RequestInfo
    ) -> dict[str, Any]:
        """How an implicit-flow verification ends: signed in."""
        return await self.auth._issue_session(conn, user, request, "otp")

    async def _auth_code(
        self, conn: asyncpg.Connection, user: asyncpg.Record, token_type: str, request: RequestInfo
    ) -> str:
        """How a PKCE verification ends: the auth code of the flow the mail was sent for."""
        code = pkce.new_auth_code()
        issued = await vrepo.issue_auth_code(
            conn,
            user["id"],
            pkce.FLOW_METHODS[token_type],
            vrepo.mail_token_hash(code),
            self.auth.config.flow_state_ttl,
        )
        if not issued:
            raise AuthError(422, "flow_state_not_found", "No valid flow state found for user.")
        return code

    async def _exchange(
        self,
        token: str,
        verify_type: str,
        email: str | None,
        request: RequestInfo,
        finish: Callable[[asyncpg.Connection, asyncpg.Record, str, RequestInfo], Awaitable[T]],
    ) -> T:
        """Use the token up, apply what it proves and `finish` — all in one transaction."""
        token_hash = vrepo.mail_token_hash(token)
        # First learn whose token it is, so the audit rows of the change name them.
        async with self.auth.scope.as_auth_service(request=request, read_only=True) as conn:
            owner = await vrepo.token_owner(conn, token_hash)
        if owner is None:
            raise otp_expired()
        async with self.auth.scope.as_auth_service(request=request, user_id=str(owner)) as conn:
            row = await vrepo.token_for_update(conn, token_hash)
            if (
                row is None
                or not row["live"]
                or row["token_type"] != TOKEN_TYPES[verify_type]
                or (email is not None and email != row["relates_to"].lower())
            ):
                raise otp_expired()
            user = await repo.user_by_id(conn, row["user_id"])
            if user is None:
                raise otp_expired()
            if user["is_banned"]:
                raise AuthError(403, "user_banned", "User is banned")
            await vrepo.delete_token(conn, row["id"])
            await self._apply(conn, user, row["token_type"], row["relates_to"], verify_type)
            return await finish(conn, user, row["token_type"], request)

    async def _apply(
        self,
        conn: asyncpg.Connection,
        user: asyncpg.Record,
        token_type: str,
        relates_to: str,
        verify_type: str,
    ) -> None:
        """What the token proves, for the user it was issued to."""
        if token_type == "email_change":
            pending = (user["email_change"] or "").lower()
            if pending != relates_to.lower():
                raise otp_expired()  # the change was superseded or cancelled
            other = await repo.user_by_email(conn, relates_to)
            if other is not None and other["id"] != user["id"]:
                raise AuthError(
                    422,
                    "email_exists",
                    "A user with this email address has already been registered",
                )
            await vrepo.apply_email_change(conn, user["id"], relates_to)
            await repo.audit(
                conn, "user.email_changed", user["id"], {"from": user["email"], "to": relates_to}
            )
            return
        if relates_to.lower() != (user["email"] or "").lower():
            raise otp_expired()  # mailed to an address the account no longer has
        if user["email_confirmed_at"] is None:
            await vrepo.confirm_email(conn, user["id"])
            await repo.audit(conn, "user.email_confirmed", user["id"], {"via": verify_type})
        if token_type == "recovery":
            await repo.audit(conn, "user.recovered", user["id"])
        elif token_type == "magiclink":
            await repo.audit(conn, "user.signed_in", user["id"], {"method": "magiclink"})


def _verify_params(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """(token, type, email) of a verification, or the GoTrue error for what is missing."""
    token = body.get("token_hash") or body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise validation_failed("Verify requires a token or a token hash")
    verify_type = body.get("type")
    if not isinstance(verify_type, str) or not verify_type:
        raise validation_failed("Verify requires a verification type")
    if verify_type not in TOKEN_TYPES:
        raise validation_failed("Unsupported verification type")
    email = check_email(body["email"]) if body.get("email") else None
    return token.strip(), verify_type, email
