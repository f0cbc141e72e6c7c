"""The admin API's links: `POST /admin/generate_link` and `POST /invite` (GoTrue's mail.go
and invite.go), for callers holding the service-role key.

`generate_link` makes the link a mail would carry — sign-up, invitation, magic link,
recovery or e-mail change — and sends nothing, so that a trusted backend can deliver it its
own way. As in GoTrue it creates the account for `signup` and `invite` (and for a
`magiclink` to an unknown address, which becomes a `signup`), and answers with the user's
fields plus `action_link`, `email_otp`, `hashed_token`, `redirect_to` and
`verification_type`. `/invite` creates an unconfirmed, invited account and mails it the
invitation link (GET /verify?type=invite confirms it and signs in; the user then sets a
password with PUT /user).

Each call is one transaction with its audit rows (`admin.link_generated`, `user.invited`);
the invitation mail goes out after commit.

Where GPT Desk differs from GoTrue: a mailed token here is one random 256-bit token, not a
six-digit OTP plus a hash of it, so `email_otp` and `hashed_token` are both that token (it
works as `token` with the address, or as `token_hash`, at POST /verify); and
`email_change_current` is refused as GoTrue refuses it without secure e-mail change, which
GPT Desk does not have (the new address alone confirms a change).
"""

import uuid
from typing import Any

import asyncpg

from gptdesk.auth import mfa_repository as mfa_repo
from gptdesk.auth import repository as repo
from gptdesk.auth import verification_repository as vrepo
from gptdesk.auth.errors import AuthError, validation_failed
from gptdesk.auth.fields import check_email, check_metadata, check_password_field
from gptdesk.auth.mail import Mailer
from gptdesk.auth.passwords import hash_password
from gptdesk.auth.schemas import user_json
from gptdesk.auth.service import AuthService
from gptdesk.db.scope import RequestInfo

LINK_TYPES = (
    "signup",
    "invite",
    "magiclink",
    "recovery",
    "email_change_current",
    "email_change_new",
)
# The `type` each link carries to /verify.
VERIFY_TYPES = {
    "signup": "signup",
    "invite": "invite",
    "magiclink": "magiclink",
    "recovery": "recovery",
    "email_change_new": "email_change",
}
_PROVIDER = {"provider": "email", "providers": ["email"]}


def email_exists() -> AuthError:
    return AuthError(
        422, "email_exists", "A user with this email address has already been registered"
    )


def no_such_user() -> AuthError:
    return AuthError(404, "user_not_found", "User with this email not found")


def _data(body: dict[str, Any]) -> dict[str, Any]:
    return check_metadata(body.get("data")) or {}


class AdminLinkService:
    """Links for a trusted backend to deliver, and invitations mailed by GPT Desk."""

    def __init__(self, auth: AuthService, mailer: Mailer) -> None:
        self.auth = auth
        self.mailer = mailer

    async def generate_link(
        self, body: dict[str, Any], redirect_to: str | None, request: RequestInfo
    ) -> dict[str, Any]:
        """POST /admin/generate_link: the user and a link for them; no mail is sent."""
        link_type = body.get("type")
        if not isinstance(link_type, str) or link_type not in LINK_TYPES:
            shown = "" if link_type is None else link_type
            raise validation_failed(f"Invalid email action link type requested: {shown}")
        if link_type == "email_change_current":
            raise validation_failed("Enable secure email change to generate link for current email")
        email = check_email(body.get("email"))
        data = _data(body)
        new_email = check_email(body.get("new_email")) if link_type == "email_change_new" else None
        password_hash = None
        if link_type == "signup" and body.get("password") is not None:
            password = check_password_field(body.get("password"), "Signup")
            self.auth._check_strength(password)
            password_hash = await hash_password(password)
        if isinstance(body.get("redirect_to"), str):
            redirect_to = body["redirect_to"]  # GoTrue takes it from the body before the query
        ttl = self.auth.config.mail_token_ttl
        # Admin actions have no user as actor: audit rows show them as the service's.
        async with self.auth.scope.as_auth_service(request=request) as conn:
            user = await repo.user_by_email(conn, email)
            if user is None and link_type == "magiclink":
                link_type = "signup"  # GoTrue signs an unknown address up (without a password)
            if link_type == "signup":
                if user is None:
                    if password_hash is None and body.get("type") == "signup":
                        raise validation_failed("Signup requires a valid password")
                    user = await self._create_user(conn, email, password_hash, data)
                    await repo.audit(conn, "user.created_by_admin", user["id"], {"email": email})
                elif user["email_confirmed_at"] is not None:
                    raise email_exists()
                elif data:
                    merged = {**(user["raw_user_meta_data"] or {}), **data}
                    await repo.update_user(conn, user["id"], user_metadata=merged)
                token = await vrepo.issue_token(conn, user["id"], "confirmation", email, ttl)
                await vrepo.mark_confirmation_sent(conn, user["id"])
            elif link_type == "invite":
                user, token = await self._invite(conn, user, email, data)
            elif user is None:
                raise no_such_user()
            elif link_type in ("magiclink", "recovery"):
                token_type: vrepo.TokenType = (
                    "magiclink" if link_type == "magiclink" else "recovery"
                )
                token = await vrepo.issue_token(conn, user["id"], token_type, email, ttl)
                await vrepo.mark_recovery_sent(conn, user["id"])
            else:
                assert new_email is not None
                other = await repo.user_by_email(conn, new_email)
                if other is not None and other["id"] != user["id"]:
                    raise email_exists()
                await vrepo.set_pending_email(conn, user["id"], new_email)
                token = await vrepo.issue_token(conn, user["id"], "email_change", new_email, ttl)
            details = {"type": link_type, "email": email}
            if new_email is not None:
                details["new_email"] = new_email
            await repo.audit(conn, "admin.link_generated", user["id"], details)
            result = await self._user_json(conn, user["id"])
        return {
            **result,
            "action_link": self.mailer.verify_url(token, VERIFY_TYPES[link_type], redirect_to),
            "email_otp": token,
            "hashed_token": token,
            "redirect_to": self.mailer.redirects.resolve(redirect_to),
            "verification_type": link_type,
        }

    async def invite(
        self, body: dict[str, Any], redirect_to: str | None, request: RequestInfo
    ) -> dict[str, Any]:
        """POST /invite: an invited account, and the mail that lets its owner in."""
        email = check_email(body.get("email"))
        data = _data(body)
        async with self.auth.scope.as_auth_service(request=request) as conn:
            existing = await repo.user_by_email(conn, email)
            user, token = await self._invite(conn, existing, email, data)
            result = await self._user_json(conn, user["id"])
        self.auth.mail_link("invite", email, token, "invite", redirect_to)
        return result

    async def _invite(
        self,
        conn: asyncpg.Connection,
        user: asyncpg.Record | None,
        email: str,
        data: dict[str, Any],
    ) -> tuple[asyncpg.Record, str]:
        """The invited account (made unless an unconfirmed one exists) and its token."""
        if user is None:
            user = await self._create_user(conn, email, None, data)
        elif user["email_confirmed_at"] is not None:
            raise email_exists()
        token = await vrepo.issue_token(
            conn, user["id"], "invite", email, self.auth.config.mail_token_ttl
        )
        await vrepo.mark_invited(conn, user["id"])
        await repo.audit(conn, "user.invited", user["id"], {"email": email})
        return user, token

    async def _create_user(
        self,
        conn: asyncpg.Connection,
        email: str,
        password_hash: str | None,
        data: dict[str, Any],
    ) -> asyncpg.Record:
        """An unconfirmed account with its e-mail identity; its profile follows by trigger."""
        return await repo.create_user(
            conn,
            user_id=uuid.uuid4(),
            email=email,
            password_hash=password_hash,
            user_metadata={
                **data,
                "email": email,
                "email_verified": False,
                "phone_verified": False,
            },
            app_metadata=dict(_PROVIDER),
            confirmed=False,
        )

    async def _user_json(self, conn: asyncpg.Connection, user_id: uuid.UUID) -> dict[str, Any]:
        user = await repo.user_by_id(conn, user_id)
        assert user is not None
        return user_json(
            user, await repo.identities(conn, user_id), await mfa_repo.factors(conn, user_id)
        )
