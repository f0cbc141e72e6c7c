"""The ASGI application: settings, middleware, surfaces, and the lifespan that owns the pool."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from gptdesk import __version__, api, health
from gptdesk.analytics import budget_routes
from gptdesk.analytics import routes as analytics_routes
from gptdesk.analytics.budget_webhooks import BudgetWebhooks
from gptdesk.audit import routes as audit_routes
from gptdesk.audit.retention import keep_retention
from gptdesk.auth import admin_routes, mfa_routes, recovery_routes
from gptdesk.auth import routes as auth_routes
from gptdesk.auth.admin import AdminService
from gptdesk.auth.admin_links import AdminLinkService
from gptdesk.auth.caller import GatewayError
from gptdesk.auth.errors import AuthError, render
from gptdesk.auth.live_sessions import RequestAuthenticator
from gptdesk.auth.mail import create_mailer
from gptdesk.auth.mfa import apply_admin_policy
from gptdesk.auth.passwords import PasswordPolicy
from gptdesk.auth.ratelimit import RateLimiter
from gptdesk.auth.service import AuthConfig, AuthService
from gptdesk.auth.signing import SigningKeys
from gptdesk.auth.verification import VerificationService
from gptdesk.chat import openai_routes
from gptdesk.chat import routes as chat_routes
from gptdesk.chat.gateway import ChatGateway
from gptdesk.config import Settings
from gptdesk.db.pool import create_pool
from gptdesk.db.roles import authenticator_dsn
from gptdesk.db.scope import Scope
from gptdesk.documents import routes as document_routes
from gptdesk.governance import routes as governance_routes
from gptdesk.llm import provider_routes
from gptdesk.llm.registry import ProviderRegistry, environment_provider, fallback_provider
from gptdesk.log import configure_logging
from gptdesk.realtime import routes as realtime_routes
from gptdesk.realtime.endpoint import websocket_endpoint
from gptdesk.realtime.hub import Hub
from gptdesk.rest import routes as rest_routes
from gptdesk.rest.reloader import SchemaCacheHolder
from gptdesk.storage import bucket_routes
from gptdesk.storage import errors as storage_errors
from gptdesk.storage import routes as storage_routes
from gptdesk.storage.backends import create_store
from gptdesk.storage.backends.base import ObjectStore
from gptdesk.storage.service import StorageService
from gptdesk.teams import routes as team_routes
from gptdesk.teams.service import InvitationService

# A turn pending this long was abandoned (no answer takes an hour); swept this often.
ABANDONED_TURN_SECONDS = 3600
SWEEP_INTERVAL_SECONDS = 600
log = structlog.get_logger("gptdesk.app")

# Response headers browsers let the official clients read (PostgREST's and GoTrue's).
EXPOSED_HEADERS = [
    "Content-Range", "Content-Location", "Location", "Preference-Applied", "Proxy-Status",
    "Server-Timing", "X-Supabase-Api-Version",
]  # fmt: skip


def auth_config(settings: Settings) -> AuthConfig:
    """The auth service's view of the settings (loads the signing key when one is set)."""
    assert settings.jwt_secret is not None
    secret = settings.jwt_secret.get_secret_value()
    return AuthConfig(
        secret=secret,
        keys=SigningKeys.load(secret, settings.jwt_algorithm, settings.jwt_signing_key_file),
        issuer=f"{settings.base_url}/auth/v1",
        jwt_exp=settings.jwt_exp,
        open_signup=settings.open_signup,
        autoconfirm=settings.autoconfirm,
        policy=PasswordPolicy(
            settings.password_min_length, tuple(settings.password_required_characters)
        ),
        reuse_interval=settings.refresh_token_reuse_interval,
        mail_token_ttl=settings.mail_token_ttl,
        flow_state_ttl=settings.flow_state_ttl,
    )


def object_store(settings: Settings) -> ObjectStore:
    """The storage backend the settings name."""
    secret = settings.storage_s3_secret_access_key
    return create_store(
        settings.storage_backend,
        root=settings.data_dir / "storage",
        s3={
            "bucket": settings.storage_s3_bucket,
            "endpoint_url": settings.storage_s3_endpoint_url,
            "region": settings.storage_s3_region,
            "access_key_id": settings.storage_s3_access_key_id,
            "secret_access_key": secret.get_secret_value() if secret else None,
        },
    )


async def _storage_error(request: Request, error: storage_errors.StorageError) -> JSONResponse:
    return storage_errors.render(error)


async def sweep_abandoned_turns(chat: ChatGateway) -> None:
    """Close turns whose server stopped mid-answer, now and every few minutes."""
    while True:
        try:
            await chat.abandon_stale(ABANDONED_TURN_SECONDS)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not sweep abandoned chat turns", error=str(exc))
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS)


def provider_registry(scope: Scope, settings: Settings) -> ProviderRegistry:
    """The model providers: the table's, the environment's and the offline fallback."""
    assert settings.jwt_secret is not None
    key = settings.openai_api_key
    return ProviderRegistry(
        scope,
        settings.jwt_secret.get_secret_value(),
        environment=environment_provider(
            key.get_secret_value() if key else None,
            settings.openai_base_url,
            settings.llm_timeout,
            settings.llm_max_retries,
        ),
        fallback=fallback_provider(settings.offline_pace_ms) if settings.offline_fallback else None,
    )


async def _auth_error(request: Request, error: AuthError) -> JSONResponse:
    return render(request, error)


async def _api_error(request: Request, error: api.ApiError) -> JSONResponse:
    return api.render(request, error)


async def _gateway_error(request: Request, error: GatewayError) -> JSONResponse:
    return JSONResponse({"message": error.message, "hint": error.hint}, status_code=401)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `gptdesk serve` gives workers their settings through the environment."""
    settings = settings or Settings()
    if not settings.database_url or settings.jwt_secret is None:
        raise RuntimeError("create_app needs GPTDESK_DATABASE_URL and GPTDESK_JWT_SECRET set")
    configure_logging(settings.log_level, settings.log_format)
    config = auth_config(settings)
    dsn = authenticator_dsn(settings.database_url, settings.jwt_secret.get_secret_value())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        app.state.scope = Scope(pool)
        app.state.mailer = mailer = create_mailer(settings)
        app.state.auth = AuthService(app.state.scope, config, mailer)
        app.state.verification = VerificationService(app.state.auth, mailer.redirects)
        app.state.invitations = InvitationService(app.state.scope, mailer, settings.invitation_ttl)
        app.state.request_authenticator = RequestAuthenticator(app.state.scope, config.keys)
        app.state.rate_limiter = RateLimiter(
            settings.rate_limit_storage,
            {
                "token_ip": settings.rate_limit_token_ip,
                "sign_in_email": settings.rate_limit_sign_in_email,
                "signup_ip": settings.rate_limit_signup_ip,
                "verify_ip": settings.rate_limit_verify_ip,
                "email": settings.rate_limit_email,
                "recover_ip": settings.rate_limit_recover_ip,
            },
        )
        app.state.schema_cache = SchemaCacheHolder(pool, dsn)
        app.state.rest_plans = rest_routes.PlanCache()
        await app.state.schema_cache.start()
        app.state.auth_admin = AdminService(app.state.auth)
        app.state.auth_links = AdminLinkService(app.state.auth, mailer)
        app.state.providers = providers = provider_registry(app.state.scope, settings)
        app.state.chat = chat = ChatGateway(app.state.scope, providers)
        store = object_store(settings)
        app.state.storage = StorageService(app.state.scope, store, settings.storage_max_file_bytes)
        app.state.realtime = realtime = Hub(pool, dsn)
        await realtime.start()
        sweeper = asyncio.create_task(sweep_abandoned_turns(chat))
        webhooks = BudgetWebhooks(
            app.state.scope,
            timeout=settings.webhook_timeout,
            allow_private=settings.webhook_allow_private_networks,
        )
        deliverer = asyncio.create_task(webhooks.run())
        tasks = [sweeper, deliverer]
        if settings.audit_retention_days:
            tasks.append(
                asyncio.create_task(keep_retention(app.state.scope, settings.audit_retention_days))
            )
        try:
            await apply_admin_policy(app.state.scope, settings.admin_requires_aal2)
            yield
        finally:
            for task in tasks:
                task.cancel()
            await realtime.close()
            await chat.drain()
            await providers.close()
            await store.close()
            await mailer.drain()
            await app.state.schema_cache.close()
            app.state.rate_limiter.close()
            await pool.close()

    app = FastAPI(title="GPT Desk", version=__version__, lifespan=lifespan, docs_url=None)
    app.state.settings = settings
    app.state.signing_keys = config.keys
    app.add_middleware(rest_routes.RestDispatch)  # inside CORS: added first
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
        allow_credentials="*" not in settings.cors_origins,
        max_age=600,
    )
    app.include_router(health.router)
    app.include_router(auth_routes.router)
    app.include_router(auth_routes.open_router)
    app.include_router(admin_routes.router)
    app.include_router(admin_routes.invite_router)
    app.include_router(recovery_routes.router)
    app.include_router(recovery_routes.open_router)
    app.include_router(team_routes.router)
    app.include_router(mfa_routes.router)
    app.include_router(chat_routes.router)
    app.include_router(openai_routes.router)
    app.include_router(provider_routes.router)
    app.include_router(bucket_routes.router)
    app.include_router(storage_routes.router)
    app.include_router(document_routes.router)
    app.include_router(realtime_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(analytics_routes.router)
    app.include_router(analytics_routes.gpt_router)
    app.include_router(governance_routes.router)
    app.include_router(budget_routes.router)
    app.add_api_websocket_route("/realtime/v1/websocket", websocket_endpoint)
    app.add_exception_handler(AuthError, _auth_error)  # type: ignore[arg-type]
    app.add_exception_handler(GatewayError, _gateway_error)  # type: ignore[arg-type]
    app.add_exception_handler(api.ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(storage_errors.StorageError, _storage_error)  # type: ignore[arg-type]
    return app
