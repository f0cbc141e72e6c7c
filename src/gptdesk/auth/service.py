"""The auth flows: sign-up, password and refresh-token grants, the user, sign-out.

Each flow is one transaction as the auth service (`Scope.as_auth_service`), with its audit
row inside it. Routes parse and render; the rules live here.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from gptdesk.auth import invitations, pkce
from gptdesk.auth import mfa_repository as mfa_repo
from gptdesk.auth import repository as repo
from gptdesk.auth import verification_repository as vrepo
from gptdesk.auth.errors import AuthError, invalid_credentials, validation_failed
from gptdesk.auth.fields import (
    MAX_PASSWORD_LENGTH,
    check_email,
    check_metadata,
    check_password_field,
    hash_token,
    new_refresh_token,
)
from gptdesk.auth.mail import Mailer, MailKind
from gptdesk.auth.passwords import PasswordPolicy, hash_password, verify_password
from gptdesk.auth.schemas import obfuscated_user_json, session_json, user_json
from gptdesk.auth.signing import SigningKeys
from gptdesk.auth.tokens import mint_access_token
from gptdesk.db.scope import RequestInfo, Scope

# Keys of user metadata that belong to the server, never to what a client sends.
_RESERVED_METADATA = {
    "email",
    "email_verified",
    "phone_verified",
    "sub",
    invitations.INVITATION_FIELD,
}


@dataclass(frozen=True)
class AuthConfig:
    """The settings the auth flows depend on."""

    secret: str
    keys: SigningKeys  # signs access tokens (HS256 with the secret, or an asymmetric key)
    issuer: str
    jwt_exp: int
    open_signup: bool
    autoconfirm: bool
    policy: PasswordPolicy
    reuse_interval: int
    mail_token_ttl: int = 3600
    flow_state_ttl: int = 300  # seconds a PKCE auth code waits for its exchange


class AuthService:
    """The GoTrue-compatible flows over the auth schema."""

    def __init__(self, scope: Scope, config: AuthConfig, mailer: Mailer | None = None) -> None:
        self.scope = scope
        self.config = config
        self.mailer = mailer  # None: no mail (the CLI)

    def mail_link(
        self,
        kind: MailKind,
        to: str,
        token: str,
        verify_type: str,
        redirect_to: str | None,
        **extra: Any,
    ) -> None:
        """Mail a /verify link; call only after the transaction that issued `token` committed."""
        if self.mailer is not None:
            self.mailer.send(
                kind,
                to,
                link=self.mailer.verify_url(token, verify_type, redirect_to),
                token=token,
                expires_in=self.config.mail_token_ttl,
                **extra,
            )

    def _check_strength(self, password: str) -> None:
        reasons, message = self.config.policy.problems(password)
        if reasons:
            raise AuthError(422, "weak_password", message, weak_password={"reasons": reasons})

    async def _issue_session(
        self,
        conn: asyncpg.Connection,
        user: asyncpg.Record,
        request: RequestInfo,
        method: str,
    ) -> dict[str, Any]:
        """A new session with its first refresh token, as the Session JSON."""
        now = int(time.time())
        amr = [{"method": method, "timestamp": now}]
        session_id = await repo.create_session(
            conn,
            user["id"],
            aal="aal1",
            amr=amr,
            user_agent=request.headers.get("user-agent"),
            ip=request.client_ip,
        )
        refresh = new_refresh_token()
        await repo.add_refresh_token(
            conn,
            user_id=user["id"],
            session_id=session_id,
            token_hash=hash_token(refresh),
            parent_hash=None,
        )
        await repo.record_sign_in(conn, user["id"])
        fresh = await repo.user_by_id(conn, user["id"])
        assert fresh is not None
        body = user_json(
            fresh,
            await repo.identities(conn, user["id"]),
            await mfa_repo.factors(conn, user["id"]),
        )
        access = mint_access_token(
            secret=self.config.keys,
            issuer=self.config.issuer,
            lifetime=self.config.jwt_exp,
            user=body,
            session_id=str(session_id),
            aal="aal1",
            amr=amr,
            now=now,
        )
        return session_json(access, refresh, body)

    async def sign_up(
        self, body: dict[str, Any], request: RequestInfo, redirect_to: str | None = None
    ) -> dict[str, Any]:
        """POST /signup: a Session when the address needs no confirmation, else the User.

        Without autoconfirm the address gets a confirmation mail. An invitation token in
        `data` opens sign-up even when it is closed and confirms the address (invitations.py).
        """
        email = check_email(body.get("email"))
        password = check_password_field(body.get("password"), "Signup")
        challenge = pkce.challenge_from(body)  # the confirmation link's PKCE flow
        metadata = check_metadata(body.get("data")) or {}
        invitation_token = metadata.get(invitations.INVITATION_FIELD)
        if invitation_token is None and not self.config.open_signup:
            raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
        self._check_strength(password)
        password_hash = await hash_password(password)
        user_metadata = {k: v for k, v in metadata.items() if k not in _RESERVED_METADATA}
        confirmed = self.config.autoconfirm or invitation_token is not None
        new_id = uuid.uuid4()  # known up front so the audit row names the new user as actor
        mail_token = None
        async with self.scope.as_auth_service(request=request, user_id=str(new_id)) as conn:
            invitation = None
            if invitation_token is not None:
                invitation = await invitations.invitation_for(conn, invitation_token, email)
            existing = await repo.user_by_email(conn, email)
            if existing is not None:
                if confirmed:
                    raise AuthError(422, "user_already_exists", "User already registered")
                # Without autoconfirm GoTrue answers as if it worked: no account enumeration;
                # an account still unconfirmed gets a new confirmation mail.
                if existing["email_confirmed_at"] is None:
                    # Whoever confirms the address owns the account: the newest sign-up's
                    # password wins, and nothing an earlier (maybe hostile) sign-up holds
                    # survives the confirmation.
                    await repo.update_user(conn, existing["id"], password_hash=password_hash)
                    await repo.delete_sessions(conn, existing["id"])
                    await vrepo.drop_pending_credentials(conn, existing["id"])
                    mail_token = await vrepo.issue_token(
                        conn,
                        existing["id"],
                        "confirmation",
                        email,
                        self.config.mail_token_ttl,
                        challenge=challenge,
                    )
                    await vrepo.mark_confirmation_sent(conn, existing["id"])
                result = obfuscated_user_json(email, user_metadata)
            else:
                app_metadata = {"provider": "email", "providers": ["email"]}
                if invitation is not None:
                    app_metadata.update(invitations.invited_app_metadata(invitation))
                user = await repo.create_user(
                    conn,
                    user_id=new_id,
                    email=email,
                    password_hash=password_hash,
                    user_metadata={
                        **user_metadata,
                        "email": email,
                        "email_verified": confirmed,
                        "phone_verified": False,
                    },
                    app_metadata=app_metadata,
                    confirmed=confirmed,
                )
                await repo.audit(conn, "user.signed_up", user["id"], {"email": email})
                if invitation is not None:
                    await invitations.accept(conn, invitation, user["id"])
                if confirmed:
                    return await self._issue_session(conn, user, request, "password")
                mail_token = await vrepo.issue_token(
                    conn,
                    user["id"],
                    "confirmation",
                    email,
                    self.config.mail_token_ttl,
                    challenge=challenge,
                )
                result = user_json(user, await repo.identities(conn, user["id"]))
        if mail_token is not None:
            self.mail_link("confirmation", email, mail_token, "signup", redirect_to)
        return result

    async def sign_in_with_password(
        self, body: dict[str, Any], request: RequestInfo
    ) -> dict[str, Any]:
        """POST /token?grant_type=password."""
        email = check_email(body.get("email"))
        password = body.get("password")
        if not isinstance(password, str) or not password:
            raise validation_failed("missing password")
        async with self.scope.as_auth_service(request=request) as conn:
            user = await repo.user_by_email(conn, email)
        stored = user["encrypted_password"] if user is not None else None
        matched = await verify_password(stored, password[:MAX_PASSWORD_LENGTH])
        async with self.scope.as_auth_service(
            request=request, user_id=str(user["id"]) if user else None
        ) as conn:
            if not matched or user is None:
                await repo.audit(
                    conn, "user.sign_in_failed", user["id"] if user else None, {"email": email}
                )
                failure = invalid_credentials()
            elif user["email_confirmed_at"] is None:
                await repo.audit(
                    conn, "user.sign_in_failed", user["id"], {"reason": "email_not_confirmed"}
                )
                failure = AuthError(400, "email_not_confirmed", "Email not confirmed")
            elif user["is_banned"]:
                await repo.audit(conn, "user.sign_in_failed", user["id"], {"reason": "banned"})
                failure = AuthError(400, "user_banned", "User is banned")
            else:
                await repo.audit(conn, "user.signed_in", user["id"], {"method": "password"})
                return await self._issue_session(conn, user, request, "password")
        raise failure

    async def refresh(self, body: dict[str, Any], request: RequestInfo) -> dict[str, Any]:
        """POST /token?grant_type=refresh_token: rotate, with GoTrue's reuse rules."""
        token = body.get("refresh_token")
        if not isinstance(token, str) or not token:
            raise AuthError(400, "validation_failed", "refresh_token required")
        presented_hash = hash_token(token)
        async with self.scope.as_auth_service(request=request) as conn:
            row = await repo.refresh_token_for_update(conn, presented_hash)
            if row is None:
                failure = AuthError(
                    400,
                    "refresh_token_not_found",
                    "Invalid Refresh Token: Refresh Token Not Found",
                )
            else:
                failure = None
        if failure is not None:
            raise failure
        assert row is not None
        async with self.scope.as_auth_service(request=request, user_id=str(row["user_id"])) as conn:
            row = await repo.refresh_token_for_update(conn, presented_hash)
            outcome = await self._rotate(conn, row, request) if row is not None else None
        if isinstance(outcome, AuthError):
            raise outcome
        if outcome is None:
            raise AuthError(
                400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
            )
        return outcome

    async def _rotate(
        self, conn: asyncpg.Connection, row: asyncpg.Record, request: RequestInfo
    ) -> dict[str, Any] | AuthError:
        """Rotate a locked token row; an AuthError is returned so its effects still commit."""
        session = await repo.session(conn, row["session_id"])
        if session is None:
            return AuthError(400, "session_not_found", "Invalid Refresh Token: Session Not Found")
        user = await repo.user_by_id(conn, row["user_id"])
        if user is None:
            return AuthError(400, "user_not_found", "Invalid Refresh Token: User Not Found")
        if user["is_banned"]:
            return AuthError(400, "user_banned", "User is banned")
        parent_hash = row["token_hash"]
        if row["revoked"]:
            active = await repo.active_refresh_token(conn, session["id"])
            lost_response = active is not None and active["parent_hash"] == row["token_hash"]
            if lost_response and row["seconds_since_update"] <= self.config.reuse_interval:
                # The client never got the child: issue a sibling and retire the child.
                await repo.revoke_refresh_token(conn, active["id"])
            else:
                # A used token came back: assume it was stolen and end the whole session.
                await repo.delete_sessions(conn, user["id"], only=session["id"])
                await repo.audit(
                    conn, "token.reuse_detected", user["id"], {"session_id": str(session["id"])}
                )
                return AuthError(
                    400, "refresh_token_already_used", "Invalid Refresh Token: Already Used"
                )
        else:
            await repo.revoke_refresh_token(conn, row["id"])
        refresh = new_refresh_token()
        await repo.add_refresh_token(
            conn,
            user_id=user["id"],
            session_id=session["id"],
            token_hash=hash_token(refresh),
            parent_hash=parent_hash,
        )
        await repo.touch_session(conn, session["id"])
        body = user_json(
            user,
            await repo.identities(conn, user["id"]),
            await mfa_repo.factors(conn, user["id"]),
        )
        access = mint_access_token(
            secret=self.config.keys,
            issuer=self.config.issuer,
            lifetime=self.config.jwt_exp,
            user=body,
            session_id=str(session["id"]),
            aal=session["aal"],
            amr=session["amr"],
        )
        return session_json(access, refresh, body)

    async def current_user(self, claims: dict[str, Any]) -> dict[str, Any]:
        """GET /user: the token's user, if the user and the session still exist."""
        async with self.scope.as_auth_service() as conn:
            user, _ = await self._user_and_session(conn, claims)
            return user_json(
                user,
                await repo.identities(conn, user["id"]),
                await mfa_repo.factors(conn, user["id"]),
            )

    async def _user_and_session(
        self, conn: asyncpg.Connection, claims: dict[str, Any]
    ) -> tuple[asyncpg.Record, uuid.UUID | None]:
        try:
            user_id = uuid.UUID(str(claims.get("sub")))
        except ValueError:
            raise AuthError(403, "bad_jwt", "invalid JWT: token has no user") from None
        user = await repo.user_by_id(conn, user_id)
        if user is None:
            raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
        session_id = None
        if claims.get("session_id"):
            try:
                session_id = uuid.UUID(str(claims["session_id"]))
            except ValueError:
                raise AuthError(403, "bad_jwt", "invalid JWT: bad session_id") from None
            if await repo.session(conn, session_id) is None:
                raise AuthError(
                    403, "session_not_found", "Session from session_id claim in JWT does not exist"
                )
        if user["is_banned"]:
            raise AuthError(403, "user_banned", "User is banned")
        return user, session_id

    async def update_user(
        self,
        claims: dict[str, Any],
        body: dict[str, Any],
        request: RequestInfo,
        redirect_to: str | None = None,
    ) -> dict[str, Any]:
        """PUT /user: password, email and user metadata.

        Without autoconfirm a new address is only recorded (`new_email`) and mailed a link;
        /verify applies it.
        """
        password = body.get("password")
        email = body.get("email")
        data = body.get("data")
        check_metadata(data)
        password_hash = None
        if password is not None:
            password = check_password_field(password, "Password update")
            self._check_strength(password)
            password_hash = await hash_password(password)
        new_email = check_email(email) if email is not None else None
        challenge = pkce.challenge_from(body)  # the e-mail change link's PKCE flow
        pending_email = mail_token = None
        async with self.scope.as_auth_service(request=request, user_id=claims.get("sub")) as conn:
            user, session_id = await self._user_and_session(conn, claims)
            if (password_hash is not None or new_email is not None) and claims.get("aal") != "aal2":
                verified = [
                    f for f in await mfa_repo.factors(conn, user["id"]) if f["status"] == "verified"
                ]
                if verified:
                    # Otherwise a stolen password alone could take the account from its MFA.
                    raise AuthError(
                        401,
                        "insufficient_aal",
                        "AAL2 session is required to update email or password",
                    )
            metadata = None
            if data is not None:
                metadata = dict(user["raw_user_meta_data"] or {})
                for key, value in data.items():
                    if key in _RESERVED_METADATA:
                        continue
                    if value is None:
                        metadata.pop(key, None)
                    else:
                        metadata[key] = value
            if new_email is not None and new_email != (user["email"] or "").lower():
                other = await repo.user_by_email(conn, new_email)
                if other is not None:
                    raise AuthError(
                        422,
                        "email_exists",
                        "A user with this email address has already been registered",
                    )
                if not self.config.autoconfirm:
                    pending_email, new_email = new_email, None
                    await vrepo.set_pending_email(conn, user["id"], pending_email)
                    mail_token = await vrepo.issue_token(
                        conn,
                        user["id"],
                        "email_change",
                        pending_email,
                        self.config.mail_token_ttl,
                        challenge=challenge,
                    )
                    await repo.audit(
                        conn, "user.email_change_requested", user["id"], {"email": pending_email}
                    )
            else:
                new_email = None
            updated = await repo.update_user(
                conn,
                user["id"],
                password_hash=password_hash,
                email=new_email,
                user_metadata=metadata,
            )
            if password_hash is not None:
                # A new password ends every other way in: sessions, mailed links, PKCE flows.
                await repo.delete_sessions(conn, user["id"], keep=session_id)
                await vrepo.drop_pending_credentials(conn, user["id"])
                await repo.audit(conn, "user.password_changed", user["id"])
            if new_email is not None:
                await repo.audit(conn, "user.email_changed", user["id"], {"email": new_email})
            result = user_json(
                updated,
                await repo.identities(conn, user["id"]),
                await mfa_repo.factors(conn, user["id"]),
            )
        if pending_email is not None and mail_token is not None:
            self.mail_link(
                "email_change",
                pending_email,
                mail_token,
                "email_change",
                redirect_to,
                old_email=user["email"],
            )
        return result

    async def sign_out(self, claims: dict[str, Any], scope_name: str, request: RequestInfo) -> None:
        """POST /logout?scope=global|local|others."""
        if scope_name not in ("global", "local", "others"):
            raise validation_failed("scope must be one of global, local, others")
        async with self.scope.as_auth_service(request=request, user_id=claims.get("sub")) as conn:
            user, session_id = await self._user_and_session(conn, claims)
            if scope_name == "local" and session_id is not None:
                await repo.delete_sessions(conn, user["id"], only=session_id)
            elif scope_name == "others":
                await repo.delete_sessions(conn, user["id"], keep=session_id)
            else:
                await repo.delete_sessions(conn, user["id"])
            await repo.audit(conn, "user.signed_out", user["id"], {"scope": scope_name})
