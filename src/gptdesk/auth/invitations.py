"""Sign-up with a team invitation: the mailed token names the team, the role and the address.

The client sends the token in the sign-up's user metadata (`options.data.invitation_token`
in supabase-py); it is never stored there. An invitation opens sign-up even when open
sign-up is off, and confirms the address (the mail proved it). The account, its profile in
the team with the invited role (the create_profile trigger reads team_id and role from
raw_app_meta_data), the accepted invitation and the audit rows are one transaction: an
unknown, expired, revoked, used or mismatched invitation creates nothing.
"""

import uuid
from typing import Any

import asyncpg

from gptdesk.auth.errors import AuthError, validation_failed
from gptdesk.auth.verification_repository import mail_token_hash
from gptdesk.teams import repository as teams_repo

INVITATION_FIELD = "invitation_token"


def invitation_error(code: str, message: str) -> AuthError:
    return AuthError(422, code, message)


def check_invitation(invitation: asyncpg.Record | None, email: str) -> asyncpg.Record:
    """The invitation, if it can still be accepted by `email`; else the GoTrue-style error."""
    if invitation is None:
        raise invitation_error("invitation_not_found", "Invitation not found")
    if invitation["accepted_at"] is not None:
        raise invitation_error("invitation_already_used", "Invitation has already been used")
    if invitation["revoked_at"] is not None:
        raise invitation_error("invitation_revoked", "Invitation has been revoked")
    if invitation["expired"]:
        raise invitation_error("invitation_expired", "Invitation has expired")
    if invitation["email"].lower() != email.lower():
        raise invitation_error(
            "invitation_email_mismatch", "Sign up with the address the invitation was sent to"
        )
    return invitation


async def invitation_for(conn: asyncpg.Connection, token: object, email: str) -> asyncpg.Record:
    """The invitation of `token`, checked for `email`, before the account is created."""
    if not isinstance(token, str) or not token.strip():
        raise validation_failed(f"{INVITATION_FIELD} must be a non-empty string")
    invitation = await teams_repo.invitation_by_token_hash(conn, mail_token_hash(token.strip()))
    return check_invitation(invitation, email)


def invited_app_metadata(invitation: asyncpg.Record) -> dict[str, Any]:
    """What the new account's app metadata says: the profile trigger reads team and role."""
    return {"team_id": str(invitation["team_id"]), "role": invitation["role"]}


async def accept(conn: asyncpg.Connection, invitation: asyncpg.Record, user_id: uuid.UUID) -> None:
    """Mark the invitation accepted by the new account and audit the team's new member."""
    if not await teams_repo.accept_invitation(conn, invitation["id"], user_id):
        # accepted or revoked meanwhile: the sign-up's transaction rolls back
        raise invitation_error("invitation_already_used", "Invitation has already been used")
    await teams_repo.audit(
        conn,
        "team.member_joined",
        invitation["team_id"],
        {"invitation_id": str(invitation["id"]), "role": invitation["role"]},
    )
