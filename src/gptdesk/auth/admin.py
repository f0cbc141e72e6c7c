"""The GoTrue admin API's rules: manage any account with the service-role key.

Users are answered as GET /user answers them, MFA factors included.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from gptdesk.auth import admin_repository as admin_repo
from gptdesk.auth import mfa_repository as mfa_repo
from gptdesk.auth import repository as repo
from gptdesk.auth import verification_repository as vrepo
from gptdesk.auth.durations import parse_duration
from gptdesk.auth.errors import AuthError, validation_failed
from gptdesk.auth.fields import check_email, check_metadata, check_password_field
from gptdesk.auth.passwords import hash_password
from gptdesk.auth.schemas import user_json
from gptdesk.auth.service import AuthService
from gptdesk.db.scope import RequestInfo

MAX_PER_PAGE = 1000
_PROVIDER = {"provider": "email", "providers": ["email"]}


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    return check_metadata(body.get(name), name)


def _ban(body: dict[str, Any]) -> tuple[datetime | None, bool]:
    """(banned until, unban) from `ban_duration`."""
    value = body.get("ban_duration")
    if value is None:
        return None, False
    if not isinstance(value, str):
        raise validation_failed("ban_duration must be a duration like 24h, or none")
    if value == "none":
        return None, True
    try:
        return datetime.now(UTC) + parse_duration(value), False
    except ValueError as exc:
        raise validation_failed(str(exc)) from None


def _user_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise validation_failed("user id must be a UUID") from None


class AdminService:
    """Account administration over the same scope and rules as the user flows."""

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    async def create_user(self, body: dict[str, Any], request: RequestInfo) -> dict[str, Any]:
        """POST /admin/users: an account, confirmed when `email_confirm` is true."""
        email = check_email(body.get("email"))
        password_hash = None
        if body.get("password") is not None:
            password = check_password_field(body.get("password"), "Creating a user")
            self.auth._check_strength(password)
            password_hash = await hash_password(password)
        user_metadata = _object(body, "user_metadata") or _object(body, "data") or {}
        app_metadata = {**(_object(body, "app_metadata") or {}), **_PROVIDER}
        banned_until, _ = _ban(body)
        confirmed = body.get("email_confirm") is True
        new_id = uuid.uuid4()
        # Admin actions have no user as actor: audit rows show them as the service's.
        async with self.auth.scope.as_auth_service(request=request) as conn:
            if await repo.user_by_email(conn, email) is not None:
                raise AuthError(
                    422,
                    "email_exists",
                    "A user with this email address has already been registered",
                )
            user = await repo.create_user(
                conn,
                user_id=new_id,
                email=email,
                password_hash=password_hash,
                user_metadata={**user_metadata, "email": email, "email_verified": confirmed},
                app_metadata=app_metadata,
                confirmed=confirmed,
            )
            if banned_until is not None:
                await admin_repo.set_admin_fields(
                    conn,
                    new_id,
                    app_metadata=None,
                    confirm_email=None,
                    banned_until=banned_until,
                    unban=False,
                )
                user = await repo.user_by_id(conn, new_id)
                assert user is not None
            await repo.audit(conn, "user.created_by_admin", new_id, {"email": email})
            return user_json(user, await repo.identities(conn, new_id))

    async def list_users(
        self, page: int, per_page: int, request: RequestInfo
    ) -> tuple[dict[str, Any], int]:
        """GET /admin/users: one page, and the total for the pagination headers."""
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise validation_failed(f"page must be >= 1 and per_page within 1..{MAX_PER_PAGE}")
        async with self.auth.scope.as_auth_service(request=request) as conn:
            rows, total = await admin_repo.list_users(
                conn, limit=per_page, offset=(page - 1) * per_page
            )
            ids = [row["id"] for row in rows]
            identities = await repo.identities_of_users(conn, ids)
            factors = await mfa_repo.factors_of_users(conn, ids)
            users = [user_json(row, identities[row["id"]], factors[row["id"]]) for row in rows]
        return {"users": users, "aud": "authenticated"}, total

    async def get_user(self, user_id: str, request: RequestInfo) -> dict[str, Any]:
        """GET /admin/users/{id}."""
        uid = _user_id(user_id)
        async with self.auth.scope.as_auth_service(request=request) as conn:
            user = await repo.user_by_id(conn, uid)
            if user is None:
                raise AuthError(404, "user_not_found", "User not found")
            return user_json(
                user, await repo.identities(conn, uid), await mfa_repo.factors(conn, uid)
            )

    async def update_user(
        self, user_id: str, body: dict[str, Any], request: RequestInfo
    ) -> dict[str, Any]:
        """PUT /admin/users/{id}: email, password, metadata, confirmation and bans."""
        uid = _user_id(user_id)
        new_email = check_email(body["email"]) if body.get("email") is not None else None
        password_hash = None
        if body.get("password") is not None:
            password = check_password_field(body.get("password"), "Updating a user")
            self.auth._check_strength(password)
            password_hash = await hash_password(password)
        user_metadata = _object(body, "user_metadata") or _object(body, "data")
        app_metadata = _object(body, "app_metadata")
        banned_until, unban = _ban(body)
        confirm = body.get("email_confirm")
        if confirm is not None and not isinstance(confirm, bool):
            raise validation_failed("email_confirm must be true or false")
        async with self.auth.scope.as_auth_service(request=request) as conn:
            user = await repo.user_by_id(conn, uid)
            if user is None:
                raise AuthError(404, "user_not_found", "User not found")
            if new_email is not None and new_email != (user["email"] or "").lower():
                if await repo.user_by_email(conn, new_email) is not None:
                    raise AuthError(
                        422,
                        "email_exists",
                        "A user with this email address has already been registered",
                    )
            else:
                new_email = None
            merged_user = None
            if user_metadata is not None:
                merged_user = {**(user["raw_user_meta_data"] or {}), **user_metadata}
            merged_app = None
            if app_metadata is not None:
                merged_app = {**(user["raw_app_meta_data"] or {}), **app_metadata, **_PROVIDER}
            await repo.update_user(
                conn,
                uid,
                password_hash=password_hash,
                email=new_email,
                user_metadata=merged_user,
            )
            await admin_repo.set_admin_fields(
                conn,
                uid,
                app_metadata=merged_app,
                confirm_email=confirm,
                banned_until=banned_until,
                unban=unban,
            )
            if password_hash is not None:
                # A password set by an admin ends every session and mailed link of the user.
                await repo.delete_sessions(conn, uid)
                await vrepo.drop_pending_credentials(conn, uid)
            if banned_until is not None:
                # A ban ends every session now, not when the refresh token next comes back.
                await repo.delete_sessions(conn, uid)
                await repo.audit(conn, "user.banned", uid, {"until": banned_until.isoformat()})
            elif unban:
                await repo.audit(conn, "user.unbanned", uid)
            changed = sorted(
                name
                for name in ("email", "password", "user_metadata", "app_metadata", "email_confirm")
                if body.get(name) is not None
            )
            if changed:
                await repo.audit(conn, "user.updated_by_admin", uid, {"changed": changed})
            fresh = await repo.user_by_id(conn, uid)
            assert fresh is not None
            return user_json(
                fresh, await repo.identities(conn, uid), await mfa_repo.factors(conn, uid)
            )

    async def delete_user(self, user_id: str, soft: bool, request: RequestInfo) -> None:
        """DELETE /admin/users/{id}: the account and (hard delete) its profile."""
        uid = _user_id(user_id)
        async with self.auth.scope.as_auth_service(request=request) as conn:
            if await repo.user_by_id(conn, uid) is None:
                raise AuthError(404, "user_not_found", "User not found")
            await repo.audit(conn, "user.deleted", uid, {"soft": soft})
            await admin_repo.delete_user(conn, uid, soft=soft)
