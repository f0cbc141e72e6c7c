"""The live schema cache: loaded at start, reloaded on `NOTIFY pgrst, 'reload schema'`.

As in PostgREST, a migration (ours send the notification when they apply anything) or an
operator's `NOTIFY pgrst` makes every worker reload. The listener holds its own connection
(a pooled one cannot LISTEN); if it drops, the next request reloads and listens again.
"""

import asyncio
import contextlib

import asyncpg
import structlog

from gptdesk.rest.schema_cache import SchemaCache, load_schema_cache

CHANNEL = "pgrst"
_RELOAD_PAYLOADS = ("", "reload schema")
log = structlog.get_logger(__name__)


class SchemaCacheHolder:
    """The current schema cache and its generation (bumped on every reload)."""

    def __init__(self, pool: asyncpg.Pool, dsn: str) -> None:
        self.pool = pool
        self.dsn = dsn
        self.cache: SchemaCache | None = None
        self.generation = 0
        self._listener: asyncpg.Connection | None = None
        self._reload: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the cache and start listening for reloads."""
        await self.reload()
        await self._listen()

    async def current(self) -> SchemaCache:
        """The cache to plan with; reload first when the listener was lost."""
        if self.cache is None or self._listener is None or self._listener.is_closed():
            await self.reload()
            await self._listen()
        assert self.cache is not None
        return self.cache

    async def reload(self) -> None:
        """Read the catalogs again."""
        async with self.pool.acquire() as conn:
            cache = await load_schema_cache(conn)
        self.cache = cache
        self.generation += 1
        log.info("schema cache loaded", tables=len(cache.tables), functions=len(cache.functions))

    async def _listen(self) -> None:
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            conn = await asyncpg.connect(self.dsn)
            await conn.add_listener(CHANNEL, self._notified)
            self._listener = conn

    def _notified(self, conn: object, pid: int, channel: str, payload: str) -> None:
        if payload.strip() in _RELOAD_PAYLOADS:
            self._reload = asyncio.get_running_loop().create_task(self.reload())

    async def close(self) -> None:
        """Stop listening."""
        if self._reload is not None:
            with contextlib.suppress(Exception):
                await self._reload
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
