"""Shared fixtures: a real PostgreSQL from migrations/, the request scope, live servers, mail.

The cluster is the embedded PostgreSQL, or the server at GPTDESK_TEST_DATABASE_URL (an
owner/superuser URL of any database there; a fresh database is created beside it). User
queries run as anon/authenticated/service_role through the authenticator, never as the
owner, because owners and superusers bypass row-level security.
"""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from gptdesk.auth.keys import project_keys
from gptdesk.db.database import ensure_database, prepare
from gptdesk.db.embedded import EmbeddedPostgres, free_port
from gptdesk.db.pool import create_pool
from gptdesk.db.roles import authenticator_dsn
from gptdesk.db.scope import Scope
from tests.mailbox import Mailbox

TEST_JWT_SECRET = "test-secret-" + "x" * 40


@dataclass(frozen=True)
class MigratedDatabase:
    """A migrated database made for this test run."""

    admin_dsn: str
    app_dsn: str
    jwt_secret: str


@dataclass(frozen=True)
class LiveServer:
    """A `gptdesk serve` process on a loopback port."""

    url: str
    anon_key: str
    service_role_key: str
    process: subprocess.Popen[bytes]


def scratch_dir(prefix: str) -> Path:
    """A temp folder PostgreSQL can reach even when the tests run as root."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o711)
    return path


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[str]:
    """The maintenance URL of the PostgreSQL cluster the tests use."""
    given = os.environ.get("GPTDESK_TEST_DATABASE_URL")
    if given:
        yield given
        return
    root = scratch_dir("gptdesk-test-pg-")
    cluster = EmbeddedPostgres(root)
    cluster.start()
    try:
        yield cluster.dsn
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def database_url(cluster_dsn: str, name: str) -> str:
    """The URL of database `name` on the same cluster."""
    return urlunsplit(urlsplit(cluster_dsn)._replace(path=f"/{name}"))


async def drop_database(cluster_dsn: str, name: str) -> None:
    """Drop a test database, disconnecting whoever still uses it."""
    conn = await asyncpg.connect(cluster_dsn)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def db(postgres_cluster: str) -> AsyncIterator[MigratedDatabase]:
    """A fresh database with every migration applied."""
    name = f"gptdesk_test_{secrets.token_hex(4)}"
    admin_dsn = await ensure_database(postgres_cluster, name)
    try:
        await prepare(admin_dsn, TEST_JWT_SECRET)
        yield MigratedDatabase(
            admin_dsn, authenticator_dsn(admin_dsn, TEST_JWT_SECRET), TEST_JWT_SECRET
        )
    finally:
        await drop_database(postgres_cluster, name)


@pytest.fixture(scope="session")
async def scope(db: MigratedDatabase) -> AsyncIterator[Scope]:
    """The request scope over a pool logged in as the authenticator."""
    pool = await create_pool(db.app_dsn, min_size=1, max_size=4)
    try:
        yield Scope(pool)
    finally:
        await pool.close()


@pytest.fixture
async def admin_conn(db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the owner, for arranging data (it bypasses RLS)."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        yield conn
    finally:
        await conn.close()


def gptdesk_command(*args: str) -> list[str]:
    """argv running the installed `gptdesk` command of this interpreter."""
    return [sys.executable, "-m", "gptdesk", *args]


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], output: Path, timeout: float = 60.0
) -> None:
    """Poll /health until it answers 200; fail with the server's output if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{output.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server at {url} not healthy after {timeout} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, wait, and SIGKILL only if it hangs; return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode


@contextmanager
def running_server(db: MigratedDatabase, **settings: str) -> Iterator[LiveServer]:
    """A real `gptdesk serve` on a free loopback port, with extra GPTDESK_* settings."""
    port = free_port()
    data_dir = scratch_dir("gptdesk-test-server-")
    env = {
        **os.environ,
        "GPTDESK_DATABASE_URL": db.admin_dsn,
        "GPTDESK_JWT_SECRET": db.jwt_secret,
        "GPTDESK_DATA_DIR": str(data_dir),
        "GPTDESK_PORT": str(port),
        "GPTDESK_LOG_LEVEL": "warning",
        **{f"GPTDESK_{name.upper()}": value for name, value in settings.items()},
    }
    output = data_dir / "server.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            gptdesk_command("serve"), env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, output)
        keys = project_keys(db.jwt_secret)
        yield LiveServer(url, keys.anon_key, keys.service_role_key, process)
    finally:
        stop_process(process)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server(db: MigratedDatabase) -> Iterator[LiveServer]:
    """The server with default settings (invitation-only sign-up)."""
    with running_server(db) as live:
        yield live


@pytest.fixture(scope="session")
def open_server(db: MigratedDatabase) -> Iterator[LiveServer]:
    """The server with open sign-up and addresses confirmed on sign-up, for client flows.

    Its per-IP limits fit the whole suite, which signs up and in from 127.0.0.1 far more
    often than GoTrue's defaults allow (tests/auth/test_rate_limits.py has its own server).
    """
    with running_server(
        db,
        open_signup="true",
        autoconfirm="true",
        rate_limit_signup_ip="10000/hour",
        rate_limit_token_ip="10000/hour",
        rate_limit_verify_ip="10000/hour",
    ) as live:
        yield live


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    """A local SMTP server (aiosmtpd) for one module's tests, and the mail it received."""
    with Mailbox() as box:
        yield box
