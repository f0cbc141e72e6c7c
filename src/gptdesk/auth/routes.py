"""/auth/v1: the GoTrue endpoints the official clients call (wire spec §1)."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from gptdesk import __version__
from gptdesk.auth.caller import bearer_token, project_key_role
from gptdesk.auth.errors import AuthError, bad_jwt, validation_failed
from gptdesk.auth.ratelimit import RateLimiter
from gptdesk.auth.service import AuthService
from gptdesk.auth.tokens import InvalidToken, verify
from gptdesk.db.scope import RequestInfo

MAX_BODY_BYTES = 1 << 20


def require_project_key(request: Request) -> str:
    """The gateway check: every auth call but health carries the anon or service key."""
    apikey = request.headers.get("apikey") or request.query_params.get("apikey")
    return project_key_role(apikey, request.app.state.settings.jwt_secret.get_secret_value())


router = APIRouter(prefix="/auth/v1", dependencies=[Depends(require_project_key)])
open_router = APIRouter(prefix="/auth/v1")


def service(request: Request) -> AuthService:
    return request.app.state.auth  # type: ignore[no-any-return]


Service = Annotated[AuthService, Depends(service)]


def request_info(request: Request) -> RequestInfo:
    """What SQL may know of this request (audit rows read it)."""
    return RequestInfo(
        method=request.method,
        path=request.url.path,
        headers=dict(request.headers),
        client_ip=request.client.host if request.client else "",
    )


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; GoTrue's errors for a body too large or not JSON."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise AuthError(413, "request_too_large", "Request body is too large")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise validation_failed("Could not parse request body as JSON") from None
    if not isinstance(body, dict):
        raise validation_failed("Request body must be a JSON object")
    return body


def user_claims(request: Request) -> dict[str, Any]:
    """The verified claims of the Bearer user token; /user and /logout need one."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    try:
        claims = verify(token, request.app.state.signing_keys)
    except InvalidToken as exc:
        raise bad_jwt(str(exc)) from None
    if not claims.get("sub"):
        raise bad_jwt("token has invalid claims: missing sub claim")
    return claims


Claims = Annotated[dict[str, Any], Depends(user_claims)]
Body = Annotated[dict[str, Any], Depends(json_body)]


def client_ip(request: Request) -> str:
    """The peer address (uvicorn applies X-Forwarded-For only from trusted proxies)."""
    return request.client.host if request.client else "unknown"


def limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter  # type: ignore[no-any-return]


@router.post("/signup")
async def signup(request: Request, auth: Service, body: Body) -> dict[str, Any]:
    """Create an account (Authorization is not read here: clients may send a stale token)."""
    await limiter(request).hit("signup_ip", client_ip(request))
    if isinstance(body.get("email"), str):  # each sign-up of an address may send it a mail
        await limiter(request).hit(
            "email", body["email"].strip(), code="over_email_send_rate_limit"
        )
    redirect_to = request.query_params.get("redirect_to")  # where the confirmation link leads
    return await auth.sign_up(body, request_info(request), redirect_to)


@router.post("/token")
async def token(request: Request, auth: Service, body: Body) -> dict[str, Any]:
    """Password, refresh-token and PKCE grants, chosen by the `grant_type` query parameter."""
    grant = request.query_params.get("grant_type")
    await limiter(request).hit("token_ip", client_ip(request))
    if grant == "password":
        if isinstance(body.get("email"), str):
            await limiter(request).hit("sign_in_email", body["email"].strip())
        return await auth.sign_in_with_password(body, request_info(request))
    if grant == "refresh_token":
        return await auth.refresh(body, request_info(request))
    if grant == "pkce":  # the auth code of a mailed PKCE link (verification.py)
        return await request.app.state.verification.exchange_code(  # type: ignore[no-any-return]
            body, request_info(request)
        )
    raise AuthError(400, "invalid_credentials", "unsupported_grant_type")


@router.get("/user")
async def get_user(auth: Service, claims: Claims) -> dict[str, Any]:
    """The signed-in user."""
    return await auth.current_user(claims)


@router.put("/user")
async def put_user(request: Request, auth: Service, claims: Claims, body: Body) -> dict[str, Any]:
    """Change the signed-in user's password, email or metadata."""
    redirect_to = request.query_params.get("redirect_to")  # where an e-mail change link leads
    return await auth.update_user(claims, body, request_info(request), redirect_to)


@router.post("/logout", status_code=204)
async def logout(request: Request, auth: Service, claims: Claims) -> Response:
    """End sessions: `scope=global` (default), `local` or `others`."""
    scope_name = request.query_params.get("scope", "global")
    await auth.sign_out(claims, scope_name, request_info(request))
    return Response(status_code=204)


@router.get("/settings")
async def settings(request: Request) -> dict[str, Any]:
    """What this instance allows, as GoTrue reports it."""
    config = request.app.state.settings
    return {
        "external": {"email": True, "phone": False, "anonymous_users": False},
        "disable_signup": not config.open_signup,
        "mailer_autoconfirm": config.autoconfirm,
        "phone_autoconfirm": False,
        "sms_provider": "",
        "saml_enabled": False,
    }


@open_router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> JSONResponse:
    """The public keys that verify access tokens (empty while tokens are HS256-signed)."""
    return JSONResponse(
        request.app.state.signing_keys.jwks(), headers={"Cache-Control": "public, max-age=600"}
    )


@open_router.get("/health")
async def health() -> JSONResponse:
    """Liveness of the auth service."""
    return JSONResponse(
        {"version": __version__, "name": "GoTrue", "description": "GPT Desk auth (GoTrue API)"}
    )
