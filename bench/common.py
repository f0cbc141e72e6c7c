"""What the benchmarks share: a database to run on and a loaded GPT Desk world."""

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from gptdesk.db.database import ensure_database, prepare
from gptdesk.db.embedded import EmbeddedPostgres, free_port
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


def start_server(
    admin_dsn: str, data_dir: Path, **settings: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`gptdesk serve` on the bench database with extra GPTDESK_* `settings` (lower-case
    names); waits for /health and gives (process, URL). Its output goes to
    <data_dir>/server.out, whose end is shown if it does not start."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GPTDESK_DATABASE_URL": admin_dsn,
        "GPTDESK_JWT_SECRET": BENCH_SECRET,
        "GPTDESK_DATA_DIR": str(data_dir),
        "GPTDESK_PORT": str(port),
        "GPTDESK_LOG_LEVEL": "warning",
        **{f"GPTDESK_{name.upper()}": value for name, value in settings.items()},
    }
    output = data_dir / "server.out"
    with output.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "gptdesk", "serve"], env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        if server.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop_server(server)
    raise SystemExit("the server did not become healthy:\n" + output.read_text()[-2000:])


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Stop a server started by start_server (SIGTERM, then kill after a minute)."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
