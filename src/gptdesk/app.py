"""The ASGI application: settings, middleware, surfaces, and the lifespan that owns the pool."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from gptdesk import __version__, health
from gptdesk.config import Settings
from gptdesk.db.pool import create_pool
from gptdesk.db.roles import authenticator_dsn
from gptdesk.db.scope import Scope
from gptdesk.log import configure_logging


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `gptdesk serve` gives workers their settings through the environment."""
    settings = settings or Settings()
    if not settings.database_url or settings.jwt_secret is None:
        raise RuntimeError("create_app needs GPTDESK_DATABASE_URL and GPTDESK_JWT_SECRET set")
    configure_logging(settings.log_level, settings.log_format)
    dsn = authenticator_dsn(settings.database_url, settings.jwt_secret.get_secret_value())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        app.state.scope = Scope(pool)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="GPT Desk", version=__version__, lifespan=lifespan, docs_url=None)
    app.state.settings = settings
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["Content-Range", "Content-Location", "X-Supabase-Api-Version"],
        allow_credentials="*" not in settings.cors_origins,
        max_age=600,
    )
    app.include_router(health.router)
    return app
