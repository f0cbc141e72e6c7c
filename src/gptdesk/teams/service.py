"""Team invitations: who may invite, the rules of a pending invitation, and its mail.

Every operation runs as the caller (`Scope.as_claims`), so RLS on public.team_invitations
decides; the service asks `public.can_manage_team` first only to answer 403 instead of an
empty list or a bare refusal. The token is mailed once and stored only as its SHA-256:
not even the inviting admin sees it, so only the invited address can accept.
"""

import uuid
from typing import Any

import asyncpg

from gptdesk.api import ApiError
from gptdesk.auth.errors import AuthError
from gptdesk.auth.fields import check_email
from gptdesk.auth.mail import Mailer
from gptdesk.auth.schemas import timestamp
from gptdesk.auth.verification_repository import mail_token_hash, new_mail_token
from gptdesk.db.scope import RequestInfo, Scope
from gptdesk.teams import repository as repo

ROLES = ("user", "admin")


def invitation_json(row: asyncpg.Record) -> dict[str, Any]:
    """An invitation as the API shows it (never its token)."""
    if row["accepted_at"] is not None:
        status = "accepted"
    elif row["revoked_at"] is not None:
        status = "revoked"
    elif row["expired"]:
        status = "expired"
    else:
        status = "pending"
    return {
        "id": str(row["id"]),
        "team_id": str(row["team_id"]),
        "email": row["email"],
        "role": row["role"],
        "status": status,
        "invited_by": str(row["invited_by"]) if row["invited_by"] else None,
        "created_at": timestamp(row["created_at"]),
        "expires_at": timestamp(row["expires_at"]),
        "accepted_at": timestamp(row["accepted_at"]),
        "accepted_by": str(row["accepted_by"]) if row["accepted_by"] else None,
        "revoked_at": timestamp(row["revoked_at"]),
    }


def _id(text: str, code: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ApiError(404, code, f"No such {what}") from None


def _forbidden() -> ApiError:
    return ApiError(
        403, "forbidden", "Only the team's admins and super admins manage its invitations"
    )


class InvitationService:
    """Invite by e-mail, list and revoke, for the admins of a team."""

    def __init__(self, scope: Scope, mailer: Mailer, ttl: int) -> None:
        self.scope = scope
        self.mailer = mailer
        self.ttl = ttl

    async def create(
        self, claims: dict[str, Any], team: str, body: dict[str, Any], request: RequestInfo
    ) -> dict[str, Any]:
        """Invite `email` to the team as `role`; mail the token after commit."""
        team_id = _id(team, "team_not_found", "team")
        try:
            email = check_email(body.get("email"))
        except AuthError as exc:
            raise ApiError(422, "invalid_email", exc.message) from None
        role = body.get("role", "user")
        if role not in ROLES:
            raise ApiError(422, "invalid_role", "role must be 'user' or 'admin'")
        redirect_to = body.get("redirect_to")
        if redirect_to is not None and not isinstance(redirect_to, str):
            raise ApiError(422, "invalid_redirect_to", "redirect_to must be a URL")
        token = new_mail_token()
        try:
            async with self.scope.as_claims(claims, request=request) as conn:
                if not await repo.can_manage_team(conn, team_id):
                    raise _forbidden()
                team_name = await repo.team_name(conn, team_id)
                if team_name is None:
                    raise ApiError(404, "team_not_found", "No such team")
                pending = await repo.pending_for_update(conn, team_id, email)
                if pending is not None and not pending["expired"]:
                    raise ApiError(
                        409, "invitation_exists", "This address already has a pending invitation"
                    )
                if pending is not None:  # expired: superseded by the new one
                    await repo.revoke_invitation(conn, team_id, pending["id"])
                row = await repo.create_invitation(
                    conn,
                    team_id=team_id,
                    email=email,
                    role=role,
                    token_hash=mail_token_hash(token),
                    ttl_seconds=self.ttl,
                )
                await repo.audit(
                    conn,
                    "team.invitation_created",
                    team_id,
                    {"invitation_id": str(row["id"]), "email": email, "role": role},
                )
                inviter = await repo.caller_name(conn)
        except asyncpg.InsufficientPrivilegeError:
            raise _forbidden() from None
        except asyncpg.UniqueViolationError:  # a concurrent invitation of the same address
            raise ApiError(
                409, "invitation_exists", "This address already has a pending invitation"
            ) from None
        self.mailer.send(
            "invitation",
            email,
            link=self.mailer.invitation_url(token, email, redirect_to),
            token=token,
            expires_in=self.ttl,
            team_name=team_name,
            inviter=inviter or "An administrator",
            role=role,
        )
        return invitation_json(row)

    async def list(
        self, claims: dict[str, Any], team: str, request: RequestInfo
    ) -> list[dict[str, Any]]:
        """The team's invitations, newest first."""
        team_id = _id(team, "team_not_found", "team")
        async with self.scope.as_claims(claims, request=request, read_only=True) as conn:
            if not await repo.can_manage_team(conn, team_id):
                raise _forbidden()
            if await repo.team_name(conn, team_id) is None:
                raise ApiError(404, "team_not_found", "No such team")
            rows = await repo.list_invitations(conn, team_id)
        return [invitation_json(row) for row in rows]

    async def revoke(
        self, claims: dict[str, Any], team: str, invitation: str, request: RequestInfo
    ) -> None:
        """Revoke a pending invitation (revoking a revoked one again changes nothing)."""
        team_id = _id(team, "team_not_found", "team")
        invitation_id = _id(invitation, "invitation_not_found", "invitation")
        async with self.scope.as_claims(claims, request=request) as conn:
            if not await repo.can_manage_team(conn, team_id):
                raise _forbidden()
            revoked = await repo.revoke_invitation(conn, team_id, invitation_id)
            if revoked is not None:
                await repo.audit(
                    conn,
                    "team.invitation_revoked",
                    team_id,
                    {"invitation_id": str(invitation_id), "email": revoked["email"]},
                )
                return
            existing = await repo.invitation(conn, team_id, invitation_id)
        if existing is None:
            raise ApiError(404, "invitation_not_found", "No such invitation")
        if existing["accepted_at"] is not None:
            raise ApiError(
                409, "invitation_already_accepted", "The invitation was accepted already"
            )
