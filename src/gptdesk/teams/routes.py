"""/api/v1/teams/{team_id}/invitations: invite by e-mail, list, revoke."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from gptdesk.api import json_object, signed_in_claims
from gptdesk.auth.routes import request_info
from gptdesk.teams.service import InvitationService

router = APIRouter(prefix="/api/v1/teams")


def invitations(request: Request) -> InvitationService:
    return request.app.state.invitations  # type: ignore[no-any-return]


Invitations = Annotated[InvitationService, Depends(invitations)]
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]
Body = Annotated[dict[str, Any], Depends(json_object)]


@router.post("/{team_id}/invitations", status_code=201)
async def create_invitation(
    request: Request, team_id: str, service: Invitations, claims: Claims, body: Body
) -> dict[str, Any]:
    """Invite {email, role: user|admin, redirect_to?}; the token goes only to the address."""
    return await service.create(claims, team_id, body, request_info(request))


@router.get("/{team_id}/invitations")
async def list_invitations(
    request: Request, team_id: str, service: Invitations, claims: Claims
) -> list[dict[str, Any]]:
    """The team's invitations, newest first, with their status."""
    return await service.list(claims, team_id, request_info(request))


@router.delete("/{team_id}/invitations/{invitation_id}", status_code=204)
async def revoke_invitation(
    request: Request, team_id: str, invitation_id: str, service: Invitations, claims: Claims
) -> Response:
    """Revoke a pending invitation."""
    await service.revoke(claims, team_id, invitation_id, request_info(request))
    return Response(status_code=204)
