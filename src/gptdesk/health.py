"""GET /health: is the database reachable, are migrations current, which version runs."""

import asyncio
from functools import cache

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gptdesk import __version__
from gptdesk.db import migrate

router = APIRouter()
CHECK_TIMEOUT_S = 3.0


@cache
def expected_versions() -> tuple[str, ...]:
    """The migrations this build ships, read once."""
    return tuple(m.version for m in migrate.discover(migrate.migrations_dir()))


@router.get("/health", include_in_schema=False)
async def health(request: Request) -> JSONResponse:
    """200 when the service can answer requests, 503 (with the reason) when it cannot."""
    expected = expected_versions()
    body: dict[str, object] = {"status": "ok", "version": __version__}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            async with request.app.state.scope.as_claims(
                {"role": "service_role"}, read_only=True
            ) as conn:
                applied = {
                    r["version"] for r in await conn.fetch("select version from schema_migrations")
                }
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        body.update(status="unavailable", database=f"unreachable: {type(exc).__name__}")
        return JSONResponse(body, status_code=503)
    pending = [version for version in expected if version not in applied]
    body.update(database="ok", migrations={"current": not pending, "pending": pending})
    if pending:
        body["status"] = "unavailable"
    return JSONResponse(body, status_code=503 if pending else 200)
