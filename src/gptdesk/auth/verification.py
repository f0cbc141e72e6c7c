"""Recovery and verification: the tokens of mails exchanged for a session.

`POST /recover` mails a recovery link to an address that has an account, and answers the
same whether it has one or not. `POST /verify` and the mailed `GET /verify` link take the
token of a confirmation, recovery, e-mail change or (GoTrue admin) invitation mail, apply what
it proves and sign the user in — a recovered user then sets a new password with `PUT /user`.

Each flow is one transaction as the auth service with its audit row; mail goes out after
commit. A token is used up by its first verification, so a used, unknown, expired or
mismatched token all get the same 403 `otp_expired`, and change nothing.
"""

from typing import Any

import asyncpg

from gptdesk.auth import repository as repo
from gptdesk.auth import verification_repository as vrepo
from gptdesk.auth.errors import AuthError, validation_failed
from gptdesk.auth.redirects import RedirectPolicy, with_fragment
from gptdesk.auth.service import AuthService, check_email
from gptdesk.db.scope import RequestInfo

# The verification types clients send, and the token each one consumes.
TOKEN_TYPES: dict[str, vrepo.TokenType] = {
    "signup": "confirmation",
    "email": "confirmation",
    "invite": "invite",
    "recovery": "recovery",
    "email_change": "email_change",
}
# How the GET link reports an error in the redirect's fragment (OAuth's `error`).
_OAUTH_ERRORS = {400: "invalid_request", 401: "unauthorized_client", 403: "access_denied"}


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
        async with self.auth.scope.as_auth_service(request=request) as conn:
            user = await repo.user_by_email(conn, email)
        if user is None or user["is_banned"]:
            return
        async with self.auth.scope.as_auth_service(
            request=request, user_id=str(user["id"])
        ) as conn:
            token = await vrepo.issue_token(
                conn, user["id"], "recovery", email, self.auth.config.mail_token_ttl
            )
            await vrepo.mark_recovery_sent(conn, user["id"])
            await repo.audit(conn, "user.recovery_requested", user["id"], {"email": email})
        self.auth.mail_link("recovery", email, token, "recovery", redirect_to)

    async def verify(self, body: dict[str, Any], request: RequestInfo) -> dict[str, Any]:
        """POST /verify: {type, token_hash} or {type, token, email} → Session."""
        token = body.get("token_hash") or body.get("token")
        if not isinstance(token, str) or not token.strip():
            raise validation_failed("Verify requires a token or a token hash")
        verify_type = body.get("type")
        if not isinstance(verify_type, str) or not verify_type:
            raise validation_failed("Verify requires a verification type")
        if verify_type not in TOKEN_TYPES:
            raise validation_failed("Unsupported verification type")
        email = check_email(body["email"]) if body.get("email") else None
        return await self._exchange(token.strip(), verify_type, email, request)

    async def verify_link(
        self,
        token: str | None,
        verify_type: str | None,
        redirect_to: str | None,
        request: RequestInfo,
    ) -> str:
        """GET /verify: where to send the browser — the session or the error in the fragment."""
        target = self.redirects.resolve(redirect_to)
        try:
            session = await self.verify({"token": token, "type": verify_type}, request)
        except AuthError as error:
            description = error.message
            if error.code == "otp_expired":
                description = "Email link is invalid or has expired"
            return with_fragment(
                target,
                error=_OAUTH_ERRORS.get(error.status, "server_error"),
                error_code=error.code,
                error_description=description,
            )
        return with_fragment(
            target,
            access_token=session["access_token"],
            expires_at=str(session["expires_at"]),
            expires_in=str(session["expires_in"]),
            refresh_token=session["refresh_token"],
            token_type="bearer",
            type=str(verify_type),
        )

    async def _exchange(
        self, token: str, verify_type: str, email: str | None, request: RequestInfo
    ) -> dict[str, Any]:
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
            return await self.auth._issue_session(conn, user, request, "otp")

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
