"""What the benchmarks share: a database to run on and a loaded GPT Desk world."""

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from gptdesk.db.database import ensure_database, prepare
from gptdesk.db.embedded import EmbeddedPostgres
from gptdesk.db.roles import authenticator_dsn

BENCH_SECRET = "bench-secret-" + "b" * 40


@dataclass(frozen=True)
class BenchDatabase:
    """A migrated database made for one benchmark run."""

    admin_dsn: str
    app_dsn: str
    server: str


@asynccontextmanager
async def bench_database() -> AsyncIterator[BenchDatabase]:
    """A fresh migrated database on GPTDESK_BENCH_DATABASE_URL's cluster or an embedded one."""
    given = os.environ.get("GPTDESK_BENCH_DATABASE_URL")
    root: Path | None = None
    cluster: EmbeddedPostgres | None = None
    if given:
        maintenance = given
    else:
        root = Path(tempfile.mkdtemp(prefix="gptdesk-bench-", dir="/tmp"))
        root.chmod(0o711)
        cluster = EmbeddedPostgres(root)
        maintenance = await asyncio.to_thread(cluster.start)
    name = f"gptdesk_bench_{secrets.token_hex(4)}"
    admin_dsn = await ensure_database(maintenance, name)
    try:
        prepared = await prepare(admin_dsn, BENCH_SECRET)
        server = f"PostgreSQL {prepared.server_version} ({'given URL' if given else 'embedded'})"
        yield BenchDatabase(admin_dsn, authenticator_dsn(admin_dsn, BENCH_SECRET), server)
    finally:
        conn = await asyncpg.connect(maintenance)
        await conn.execute(f'drop database if exists "{name}" with (force)')
        await conn.close()
        if cluster is not None:
            cluster.stop()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value at `fraction` (0..1) of an already sorted list."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]
