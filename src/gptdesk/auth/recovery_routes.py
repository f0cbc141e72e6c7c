"""/auth/v1/recover and /auth/v1/verify: recovery mails and the tokens mails carry."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from gptdesk.auth.routes import Body, client_ip, limiter, request_info, require_project_key
from gptdesk.auth.verification import VerificationService

router = APIRouter(prefix="/auth/v1", dependencies=[Depends(require_project_key)])
# The mailed link is opened by a browser, which has no project key (the gateway leaves
# GoTrue's verify route open).
open_router = APIRouter(prefix="/auth/v1")


def verification(request: Request) -> VerificationService:
    return request.app.state.verification  # type: ignore[no-any-return]


Verification = Annotated[VerificationService, Depends(verification)]


@router.post("/recover")
async def recover(request: Request, service: Verification, body: Body) -> dict[str, Any]:
    """Mail a recovery link; the answer is `{}` whether or not the address has an account."""
    await limiter(request).hit("recover_ip", client_ip(request))
    if isinstance(body.get("email"), str):
        await limiter(request).hit(
            "email", body["email"].strip(), code="over_email_send_rate_limit"
        )
    redirect_to = request.query_params.get("redirect_to")
    await service.recover(body, request_info(request), redirect_to)
    return {}


@router.post("/verify")
async def verify(request: Request, service: Verification, body: Body) -> dict[str, Any]:
    """Exchange a mailed token (`token_hash`, or `token` with `email`) for a session."""
    await limiter(request).hit("verify_ip", client_ip(request))
    return await service.verify(body, request_info(request))


@open_router.get("/verify")
async def verify_link(request: Request, service: Verification) -> RedirectResponse:
    """The link in a mail: 303 to the app with the session (or the error) in the fragment."""
    await limiter(request).hit("verify_ip", client_ip(request))
    params = request.query_params
    target = await service.verify_link(
        params.get("token"), params.get("type"), params.get("redirect_to"), request_info(request)
    )
    return RedirectResponse(target, status_code=303)
