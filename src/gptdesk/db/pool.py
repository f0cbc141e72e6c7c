"""The connection pool requests borrow from, logged in as the authenticator."""

import asyncpg
import orjson

# All request state is SET LOCAL and dies with its transaction, and LISTEN uses its own
# connections, so the pool's per-release reset query (RESET ALL, UNLISTEN * …) is pure cost.
# asyncpg still rolls back a transaction left open before calling this.


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


async def _json_codecs(conn: asyncpg.Connection) -> None:
    """json and jsonb arrive as Python values and are sent from them (orjson both ways)."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            schema="pg_catalog",
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
        )


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """Open a pool to `dsn` tuned for short request transactions."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        reset=_no_reset,
        init=_json_codecs,
        server_settings={"application_name": "gptdesk", "standard_conforming_strings": "on"},
    )
    assert pool is not None
    return pool
