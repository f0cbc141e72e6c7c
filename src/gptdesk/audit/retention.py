"""Scheduled retention: with GPTDESK_AUDIT_RETENTION_DAYS set, each worker checks every hour
whether the oldest audit row has passed it and, if so, runs the audited purge as the service
role (the purge takes the chain head's lock, so workers doing it at once remove rows once)."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from gptdesk.audit import trail
from gptdesk.db.scope import Scope

CHECK_SECONDS = 3600
SERVICE = {"role": "service_role"}
log = structlog.get_logger(__name__)


async def purge_expired(scope: Scope, days: int, now: datetime | None = None) -> int:
    """Purge the rows older than `days` at the start of the chain; how many were removed."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    async with scope.as_claims(SERVICE) as conn:
        oldest = await conn.fetchval(
            "select created_at from public.audit_logs where seq is not null order by seq limit 1"
        )
        if oldest is None or oldest >= cutoff:
            return 0
        justification = f"retention: audit rows are kept {days} days (GPTDESK_AUDIT_RETENTION_DAYS)"
        return await trail.purge(conn, cutoff, justification)


async def keep_retention(scope: Scope, days: int) -> None:
    """Apply the retention now and every hour, until cancelled."""
    while True:
        try:
            removed = await purge_expired(scope, days)
            if removed:
                log.info("audit retention purge", removed=removed, days=days)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("audit retention: could not purge", error=str(exc))
        await asyncio.sleep(CHECK_SECONDS)
