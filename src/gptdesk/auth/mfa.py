"""Multi-factor authentication: TOTP factors, challenges, and stepping a session up to aal2.

The flows and their errors are GoTrue's (`internal/api/mfa.go`): enrol a factor (QR code and
secret), challenge it, verify a code against the challenge, unenrol. Verifying raises the
caller's session to aal2, adds `totp` to its `amr`, and hands out a new refresh token for it;
the session keeps that level on refresh until the factor is unenrolled. Each flow is one
transaction as the auth service, with its audit row (`mfa.*`) inside it.

The admin policy (GPTDESK_ADMIN_REQUIRES_AAL2) is enforced in SQL (migrations/0010): this
module only stores the setting at start.
"""

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from gptdesk.auth import mfa_repository as mfa_repo
from gptdesk.auth import repository as repo
from gptdesk.auth import totp
from gptdesk.auth.errors import AuthError, bad_jwt, validation_failed
from gptdesk.auth.fields import hash_token, new_refresh_token
from gptdesk.auth.schemas import factor_json, session_json, user_json
from gptdesk.auth.sealing import seal, unseal
from gptdesk.auth.service import AuthConfig
from gptdesk.auth.tokens import mint_access_token
from gptdesk.db.scope import RequestInfo, Scope

# GoTrue's defaults: a challenge is good for 5 minutes; an enrolment never verified nor
# challenged is dropped after 5 minutes; at most 10 factors per user.
CHALLENGE_EXPIRY_S = 300
STALE_FACTOR_S = 300
MAX_FACTORS = 10
MAX_NAME_LENGTH = 255
SEAL_PURPOSE = "mfa-factor-secret"


def factor_not_found() -> AuthError:
    return AuthError(404, "mfa_factor_not_found", "Factor not found")


def parse_uuid(value: str, what: str) -> uuid.UUID:
    """A path id, or GoTrue's 404 for one that is not a UUID."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise AuthError(404, "validation_failed", f"{what} must be an UUID") from None


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise validation_failed(f"{key} must be a string without NUL characters")
    value = value.strip()
    if len(value) > MAX_NAME_LENGTH:
        raise validation_failed(f"{key} must be at most {MAX_NAME_LENGTH} characters")
    return value or None


class MFAService:
    """GoTrue's /factors endpoints over auth.mfa_factors and auth.mfa_challenges."""

    def __init__(self, scope: Scope, config: AuthConfig) -> None:
        self.scope = scope
        self.config = config

    async def _caller(
        self, conn: asyncpg.Connection, claims: dict[str, Any]
    ) -> tuple[asyncpg.Record, asyncpg.Record]:
        """The token's user and session; MFA always acts on a session."""
        try:
            user_id = uuid.UUID(str(claims.get("sub")))
        except ValueError:
            raise bad_jwt("token has no user") from None
        user = await repo.user_by_id(conn, user_id)
        if user is None:
            raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
        if user["is_banned"]:
            raise AuthError(403, "user_banned", "User is banned")
        try:
            session_id = uuid.UUID(str(claims.get("session_id")))
        except ValueError:
            session_id = None
        session = await repo.session(conn, session_id) if session_id else None
        if session is None or session["user_id"] != user_id:
            raise AuthError(
                403, "session_not_found", "Session from session_id claim in JWT does not exist"
            )
        return user, session

    async def enroll(
        self, claims: dict[str, Any], body: dict[str, Any], request: RequestInfo
    ) -> dict[str, Any]:
        """POST /factors: a new unverified TOTP factor, its secret and QR code."""
        factor_type = body.get("factor_type")
        if factor_type == "phone":
            raise AuthError(422, "mfa_phone_enroll_not_enabled", "MFA enroll is disabled for Phone")
        if factor_type == "webauthn":
            raise AuthError(
                422, "mfa_webauthn_enroll_not_enabled", "MFA enroll is disabled for WebAuthn"
            )
        if factor_type != "totp":
            raise validation_failed("factor_type needs to be totp, phone, or webauthn")
        name = _optional_text(body, "friendly_name")
        issuer = _optional_text(body, "issuer") or urlsplit(self.config.issuer).netloc
        secret = totp.new_secret()
        factor_id = uuid.uuid4()
        async with self.scope.as_auth_service(request=request, user_id=claims.get("sub")) as conn:
            user, session = await self._caller(conn, claims)
            await mfa_repo.lock_user_factors(conn, user["id"])
            await mfa_repo.delete_stale_factors(conn, user["id"], STALE_FACTOR_S)
            existing = await mfa_repo.factors(conn, user["id"])
            if name is not None and any(f["friendly_name"] == name for f in existing):
                raise AuthError(
                    422,
                    "mfa_factor_name_conflict",
                    f'A factor with the friendly name "{name}" for this user already exists',
                )
            if len(existing) >= MAX_FACTORS:
                raise AuthError(
                    422,
                    "too_many_enrolled_mfa_factors",
                    "Maximum number of verified factors reached, unenroll to continue",
                )
            if session["aal"] != "aal2" and any(f["status"] == "verified" for f in existing):
                raise AuthError(403, "insufficient_aal", "AAL2 required to enroll a new factor")
            await mfa_repo.create_factor(
                conn,
                factor_id=factor_id,
                user_id=user["id"],
                friendly_name=name,
                sealed_secret=seal(self.config.secret, SEAL_PURPOSE, secret, str(factor_id)),
            )
            await mfa_repo.audit(
                conn, "mfa.factor_enrolled", factor_id, {"factor_type": "totp", "name": name}
            )
        account = user["email"] or user["phone"] or str(user["id"])
        uri = totp.provisioning_uri(secret, account, issuer)
        return {
            "id": str(factor_id),
            "type": "totp",
            "friendly_name": name or "",
            # Raw SVG: the clients prepend `data:image/svg+xml;utf-8,` themselves.
            "totp": {"qr_code": totp.qr_svg(uri), "secret": secret, "uri": uri},
        }

    async def challenge(
        self, claims: dict[str, Any], factor_id: str, request: RequestInfo
    ) -> dict[str, Any]:
        """POST /factors/{id}/challenge: a challenge to verify a code against."""
        fid = parse_uuid(factor_id, "factor_id")
        async with self.scope.as_auth_service(request=request, user_id=claims.get("sub")) as conn:
            user, _ = await self._caller(conn, claims)
            factor = await mfa_repo.factor_for_update(conn, user["id"], fid)
            if factor is None:
                raise factor_not_found()
            row = await mfa_repo.create_challenge(conn, fid, request.client_ip)
        return {
            "id": str(row["id"]),
            "type": factor["factor_type"],
            "expires_at": int(row["created_at"].timestamp()) + CHALLENGE_EXPIRY_S,
        }

    async def verify(
        self,
        claims: dict[str, Any],
        factor_id: str,
        body: dict[str, Any],
        request: RequestInfo,
    ) -> dict[str, Any]:
        """POST /factors/{id}/verify: check the code; on success the session is aal2."""
        fid = parse_uuid(factor_id, "factor_id")
        code = body.get("code")
        if not isinstance(code, str) or not code.strip():
            raise validation_failed("Code needs to be non-empty")
        try:
            challenge_id = uuid.UUID(str(body.get("challenge_id")))
        except ValueError:
            raise validation_failed("challenge_id must be an UUID") from None
        async with self.scope.as_auth_service(request=request, user_id=claims.get("sub")) as conn:
            user, session = await self._caller(conn, claims)
            factor = await mfa_repo.factor_for_update(conn, user["id"], fid)
            if factor is None:
                raise factor_not_found()
            outcome = await self._check(conn, factor, challenge_id, code, request)
            if outcome is None:
                outcome = await self._step_up(conn, user, session, factor, challenge_id)
        if isinstance(outcome, AuthError):
            raise outcome
        return outcome

    async def _check(
        self,
        conn: asyncpg.Connection,
        factor: asyncpg.Record,
        challenge_id: uuid.UUID,
        code: str,
        request: RequestInfo,
    ) -> AuthError | None:
        """Why the code is refused, or None. Returned, not raised, so its effects commit."""
        challenge = await mfa_repo.challenge_for_update(
            conn, factor["id"], challenge_id, request.client_ip
        )
        if challenge is None:
            raise AuthError(
                422, "mfa_factor_not_found", "MFA factor with the provided challenge ID not found"
            )
        if challenge["verified_at"] is not None:
            raise AuthError(
                422,
                "mfa_ip_address_mismatch",  # GoTrue's code for a used challenge, too
                f"MFA challenge {challenge_id} has already been verified, create a new challenge.",
            )
        if not challenge["same_ip"]:
            raise AuthError(
                422, "mfa_ip_address_mismatch", "Challenge and verify IP addresses mismatch."
            )
        if challenge["age_s"] > CHALLENGE_EXPIRY_S:
            await mfa_repo.delete_challenge(conn, challenge_id)
            return AuthError(
                422,
                "mfa_challenge_expired",
                f"MFA challenge {challenge_id} has expired, verify against another challenge "
                "or create a new challenge.",
            )
        secret = unseal(self.config.secret, SEAL_PURPOSE, factor["secret"], str(factor["id"]))
        step = totp.matching_step(secret, code)
        spent = factor["last_verified_step"]
        if step is None or (spent is not None and step <= spent):
            await mfa_repo.audit(
                conn,
                "mfa.verification_failed",
                factor["id"],
                {"challenge_id": str(challenge_id), "reused": step is not None},
            )
            return AuthError(422, "mfa_verification_failed", "Invalid TOTP code entered")
        await mfa_repo.record_verification(conn, factor["id"], challenge_id, step)
        return None

    async def _step_up(
        self,
        conn: asyncpg.Connection,
        user: asyncpg.Record,
        session: asyncpg.Record,
        factor: asyncpg.Record,
        challenge_id: uuid.UUID,
    ) -> dict[str, Any]:
        """Raise the session to aal2 and issue its new tokens (GoTrue's order of effects)."""
        now = int(time.time())
        amr = [{"method": "totp", "timestamp": now}] + [
            entry for entry in session["amr"] or [] if entry.get("method") != "totp"
        ]
        await mfa_repo.raise_session(conn, session["id"], amr, factor["id"])
        await mfa_repo.delete_sessions_below_aal2(conn, user["id"])
        await mfa_repo.delete_unverified_factors(conn, user["id"])
        # The refresh tokens issued at aal1 are retired and the new one has no parent, so a
        # stale aal1 token is never taken for a lost response (which would re-issue aal2).
        await mfa_repo.revoke_session_tokens(conn, session["id"])
        refresh = new_refresh_token()
        await repo.add_refresh_token(
            conn,
            user_id=user["id"],
            session_id=session["id"],
            token_hash=hash_token(refresh),
            parent_hash=None,
        )
        await mfa_repo.audit(
            conn,
            "mfa.challenge_verified",
            factor["id"],
            {
                "challenge_id": str(challenge_id),
                "factor_type": factor["factor_type"],
                "newly_verified": factor["status"] != "verified",
                "session_id": str(session["id"]),
            },
        )
        body = user_json(
            user, await repo.identities(conn, user["id"]), await mfa_repo.factors(conn, user["id"])
        )
        access = mint_access_token(
            secret=self.config.keys,
            issuer=self.config.issuer,
            lifetime=self.config.jwt_exp,
            user=body,
            session_id=str(session["id"]),
            aal="aal2",
            amr=amr,
            now=now,
        )
        return session_json(access, refresh, body)

    async def unenroll(
        self, claims: dict[str, Any], factor_id: str, request: RequestInfo
    ) -> dict[str, Any]:
        """DELETE /factors/{id}: remove a factor; a verified one only from an aal2 session."""
        fid = parse_uuid(factor_id, "factor_id")
        async with self.scope.as_auth_service(request=request, user_id=claims.get("sub")) as conn:
            user, session = await self._caller(conn, claims)
            factor = await mfa_repo.factor_for_update(conn, user["id"], fid)
            if factor is None:
                raise factor_not_found()
            if factor["status"] == "verified" and session["aal"] != "aal2":
                raise AuthError(
                    422, "insufficient_aal", "AAL2 required to unenroll verified factor"
                )
            await mfa_repo.lower_sessions(conn, fid)
            await mfa_repo.delete_factor(conn, fid)
            await mfa_repo.audit(
                conn,
                "mfa.factor_unenrolled",
                fid,
                {"factor_status": factor["status"], "session_id": str(session["id"])},
            )
        return {"id": str(fid)}

    async def admin_list(self, user_id: str, request: RequestInfo) -> list[dict[str, Any]]:
        """GET /admin/users/{id}/factors."""
        uid = parse_uuid(user_id, "user_id")
        async with self.scope.as_auth_service(request=request) as conn:
            if await repo.user_by_id(conn, uid) is None:
                raise AuthError(404, "user_not_found", "User not found")
            return [factor_json(row) for row in await mfa_repo.factors(conn, uid)]

    async def admin_delete(
        self, user_id: str, factor_id: str, request: RequestInfo
    ) -> dict[str, Any]:
        """DELETE /admin/users/{id}/factors/{factor_id}: a verified factor signs the user out."""
        uid = parse_uuid(user_id, "user_id")
        fid = parse_uuid(factor_id, "factor_id")
        async with self.scope.as_auth_service(request=request) as conn:
            if await repo.user_by_id(conn, uid) is None:
                raise AuthError(404, "user_not_found", "User not found")
            factor = await mfa_repo.factor_for_update(conn, uid, fid)
            if factor is None:
                raise factor_not_found()
            if factor["status"] == "verified":
                await repo.delete_sessions(conn, uid)
            await mfa_repo.delete_factor(conn, fid)
            await mfa_repo.audit(
                conn,
                "mfa.factor_unenrolled",
                fid,
                {"factor_status": factor["status"], "user_id": str(uid), "by": "service_role"},
            )
        return factor_json(factor)


async def apply_admin_policy(scope: Scope, required: bool) -> bool:
    """Store GPTDESK_ADMIN_REQUIRES_AAL2 where the SQL helpers read it; whether it changed."""
    async with scope.as_claims({"role": "service_role"}) as conn:
        return await mfa_repo.set_admin_requires_aal2(conn, required)
