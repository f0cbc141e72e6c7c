"""The analytics tests' fixtures: a crew (tests/analytics/crew.py) on the session's server,
for a module or for one test, and the owner's connection to arrange rows with."""

from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from tests.analytics.crew import Crew, make_crew, remove_crew
from tests.conftest import LiveServer, MigratedDatabase


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    """The owner's connection for a module (it bypasses RLS)."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def crew(
    owner: asyncpg.Connection, db: MigratedDatabase, server: LiveServer
) -> AsyncIterator[Crew]:
    """A crew for a whole module."""
    made = await make_crew(owner, server, db.jwt_secret)
    try:
        yield made
    finally:
        await remove_crew(owner, made)


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_crew(
    owner: asyncpg.Connection, db: MigratedDatabase, server: LiveServer
) -> AsyncIterator[Crew]:
    """A crew for one test (budgets: each test's month starts with nothing spent)."""
    made = await make_crew(owner, server, db.jwt_secret)
    try:
        yield made
    finally:
        await remove_crew(owner, made)
