"""/auth/v1/admin and /auth/v1/invite: GoTrue's admin endpoints, for callers holding the
service-role key."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from gptdesk.auth.admin import AdminService
from gptdesk.auth.admin_links import AdminLinkService
from gptdesk.auth.caller import bearer_token
from gptdesk.auth.errors import AuthError, bad_jwt
from gptdesk.auth.routes import Body, request_info, require_project_key
from gptdesk.auth.tokens import InvalidToken, verify


def require_service_role(request: Request) -> None:
    """The Bearer token must be the service-role key (or a token with that role)."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    try:
        claims = verify(token, request.app.state.signing_keys)
    except InvalidToken as exc:
        raise bad_jwt(str(exc)) from None
    if claims.get("role") != "service_role":
        raise AuthError(403, "not_admin", "User not allowed")


router = APIRouter(
    prefix="/auth/v1/admin",
    dependencies=[Depends(require_project_key), Depends(require_service_role)],
)
# GoTrue serves its invitation endpoint beside the admin API, not under it.
invite_router = APIRouter(
    prefix="/auth/v1",
    dependencies=[Depends(require_project_key), Depends(require_service_role)],
)


def admin(request: Request) -> AdminService:
    return request.app.state.auth_admin  # type: ignore[no-any-return]


Admin = Annotated[AdminService, Depends(admin)]


def links(request: Request) -> AdminLinkService:
    return request.app.state.auth_links  # type: ignore[no-any-return]


Links = Annotated[AdminLinkService, Depends(links)]


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise AuthError(400, "validation_failed", f"{name} must be a whole number") from None


@router.get("/users")
async def list_users(request: Request, service: Admin) -> JSONResponse:
    """A page of users with GoTrue's x-total-count and Link headers."""
    page = _int(request, "page", 1)
    per_page = _int(request, "per_page", 50)
    body, total = await service.list_users(page, per_page, request_info(request))
    base = str(request.url.remove_query_params(["page", "per_page"]))
    last = max(1, -(-total // per_page))
    links = [f'<{base}?page={last}&per_page={per_page}>; rel="last"']
    if page < last:
        links.insert(0, f'<{base}?page={page + 1}&per_page={per_page}>; rel="next"')
    return JSONResponse(body, headers={"x-total-count": str(total), "link": ", ".join(links)})


@router.post("/users")
async def create_user(request: Request, service: Admin, body: Body) -> dict[str, Any]:
    """Create a user (confirmed with `email_confirm: true`)."""
    return await service.create_user(body, request_info(request))


@router.get("/users/{user_id}")
async def get_user(request: Request, service: Admin, user_id: str) -> dict[str, Any]:
    """One user."""
    return await service.get_user(user_id, request_info(request))


@router.put("/users/{user_id}")
async def update_user(request: Request, service: Admin, user_id: str, body: Body) -> dict[str, Any]:
    """Change a user, including `ban_duration` ("24h", "none")."""
    return await service.update_user(user_id, body, request_info(request))


@router.delete("/users/{user_id}")
async def delete_user(request: Request, service: Admin, user_id: str, body: Body) -> Response:
    """Delete a user; `should_soft_delete` keeps the row, marked deleted."""
    soft = body.get("should_soft_delete") is True
    await service.delete_user(user_id, soft, request_info(request))
    return JSONResponse({})


@router.post("/generate_link")
async def generate_link(request: Request, service: Links, body: Body) -> dict[str, Any]:
    """A sign-up, invite, magic-link, recovery or e-mail change link, returned, not mailed."""
    redirect_to = request.query_params.get("redirect_to")
    return await service.generate_link(body, redirect_to, request_info(request))


@invite_router.post("/invite")
async def invite(request: Request, service: Links, body: Body) -> dict[str, Any]:
    """Create an invited account and mail it the invitation link (`{email, data}`)."""
    redirect_to = request.query_params.get("redirect_to")
    return await service.invite(body, redirect_to, request_info(request))
