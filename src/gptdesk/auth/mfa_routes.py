"""/auth/v1/factors and /auth/v1/admin/users/{id}/factors: GoTrue's MFA endpoints."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from gptdesk.auth.admin_routes import require_service_role
from gptdesk.auth.mfa import MFAService
from gptdesk.auth.routes import (
    Body,
    Claims,
    client_ip,
    limiter,
    request_info,
    require_project_key,
)

router = APIRouter(prefix="/auth/v1", dependencies=[Depends(require_project_key)])


def mfa_service(request: Request) -> MFAService:
    return MFAService(request.app.state.scope, request.app.state.auth.config)


MFA = Annotated[MFAService, Depends(mfa_service)]


@router.post("/factors")
async def enroll(request: Request, mfa: MFA, claims: Claims, body: Body) -> dict[str, Any]:
    """Enrol a TOTP factor: its id, secret, otpauth URI and QR code (SVG)."""
    return await mfa.enroll(claims, body, request_info(request))


@router.post("/factors/{factor_id}/challenge")
async def challenge(
    request: Request, mfa: MFA, claims: Claims, body: Body, factor_id: str
) -> dict[str, Any]:
    """Open a challenge of one of the caller's factors (the body's `channel` is for SMS)."""
    return await mfa.challenge(claims, factor_id, request_info(request))


@router.post("/factors/{factor_id}/verify")
async def verify(
    request: Request, mfa: MFA, claims: Claims, body: Body, factor_id: str
) -> dict[str, Any]:
    """Verify a code against a challenge: a Session at aal2.

    Guessing six digits is the whole attack on a stolen password, so attempts count against
    the verification budget (GPTDESK_RATE_LIMIT_VERIFY_IP) per client IP and per user.
    """
    await limiter(request).hit("verify_ip", client_ip(request))
    await limiter(request).hit("verify_ip", f"mfa-user:{claims['sub']}")
    return await mfa.verify(claims, factor_id, body, request_info(request))


@router.delete("/factors/{factor_id}")
async def unenroll(request: Request, mfa: MFA, claims: Claims, factor_id: str) -> dict[str, Any]:
    """Remove one of the caller's factors."""
    return await mfa.unenroll(claims, factor_id, request_info(request))


@router.get("/admin/users/{user_id}/factors", dependencies=[Depends(require_service_role)])
async def admin_list(request: Request, mfa: MFA, user_id: str) -> list[dict[str, Any]]:
    """A user's factors, for the service role."""
    return await mfa.admin_list(user_id, request_info(request))


@router.delete(
    "/admin/users/{user_id}/factors/{factor_id}", dependencies=[Depends(require_service_role)]
)
async def admin_delete(request: Request, mfa: MFA, user_id: str, factor_id: str) -> dict[str, Any]:
    """Delete a user's factor, for the service role."""
    return await mfa.admin_delete(user_id, factor_id, request_info(request))
