"""Scheduled retention: GPTDESK_AUDIT_RETENTION_DAYS purges what has expired through the
audited purge, and nothing while nothing has."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest_asyncio

from gptdesk.audit.retention import purge_expired
from gptdesk.db.pool import create_pool
from gptdesk.db.scope import Scope
from tests.audit.conftest import OLD_ROWS, TRAIL_ROWS, problems
from tests.conftest import MigratedDatabase

NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest_asyncio.fixture
async def trail_scope(trail_db: MigratedDatabase) -> AsyncIterator[Scope]:
    pool = await create_pool(trail_db.app_dsn, min_size=1, max_size=2)
    try:
        yield Scope(pool)
    finally:
        await pool.close()


async def test_expired_rows_are_purged_once_and_the_purge_is_audited(
    trail_scope: Scope, trail_conn: asyncpg.Connection
) -> None:
    assert await purge_expired(trail_scope, 365, NOW) == OLD_ROWS  # the rows dated 2001
    assert await purge_expired(trail_scope, 365, NOW) == 0  # nothing expired since
    remaining = await trail_conn.fetchval("select count(*) from public.audit_logs")
    assert remaining == TRAIL_ROWS - OLD_ROWS + 1  # the rest, and one audit.purged row
    purged = await trail_conn.fetch(
        "select details from public.audit_logs where action = 'audit.purged'"
    )
    assert len(purged) == 1
    details = json.loads(purged[0]["details"])
    assert details["rows"] == OLD_ROWS
    assert "GPTDESK_AUDIT_RETENTION_DAYS" in details["justification"]
    assert await problems(trail_conn) == []


async def test_nothing_is_purged_while_nothing_has_expired(
    trail_scope: Scope, trail_conn: asyncpg.Connection
) -> None:
    assert await purge_expired(trail_scope, 36500, NOW) == 0
    assert await trail_conn.fetchval("select count(*) from public.audit_logs") == TRAIL_ROWS
