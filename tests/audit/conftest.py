"""The audit tests' databases: a migrated template holding a small trail, a copy of it per
test that tampers with or purges the chain, and one private copy with the RLS world and its
own server for the HTTP tests.

The trail is a single chain per database, so a test that counts, verifies or purges rows
needs a database no other test writes to. Copies are cheap (CREATE DATABASE … TEMPLATE);
the template is never connected to after it is written, as copying requires.
"""

import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
import pytest

from gptdesk.audit.chain import Problem
from gptdesk.audit.trail import verify
from gptdesk.db.database import ensure_database, prepare
from gptdesk.db.pool import create_pool
from gptdesk.db.roles import authenticator_dsn
from gptdesk.db.scope import Scope
from tests.conftest import (
    TEST_JWT_SECRET,
    MigratedDatabase,
    database_url,
    drop_database,
    gptdesk_command,
    running_server,
    scratch_dir,
)
from tests.rest.conftest import _load as load_world
from tests.rest.world import World

# The template's trail: OLD_ROWS rows from 2001 start the chain (what a purge removes), then
# a team (its three members are not audited), notes with awkward text and a GPT made and
# renamed by the admin: TRAIL_ROWS rows, so sequence numbers of one and two digits.
OLD_ROWS = 3
NOTES = 6
TRAIL_ROWS = OLD_ROWS + 1 + NOTES + 2
TEAM = "ad000000-0000-4000-8000-00000000000a"
MEMBER = "ad100000-0000-4000-8000-000000000001"
ADMIN = "ad100000-0000-4000-8000-000000000002"
SUPER = "ad100000-0000-4000-8000-000000000003"
GPT = "ad200000-0000-4000-8000-000000000001"
AWKWARD = 'O\'Brien said "hi" \\ back\\slash, 漢字 🙂 e\u0301\nnext line\ttab'
AWKWARD_AGENT = "probe/1 ('quoted') \\ é"
CLIENT_IP = "198.51.100.23"


def claims_settings(user_id: str, agent: str = AWKWARD_AGENT) -> dict[str, str]:
    """The request settings a signed-in user's request sets (as the request scope would)."""
    return {
        "request.jwt.claims": orjson.dumps({"role": "authenticated", "sub": user_id}).decode(),
        "request.headers": orjson.dumps({"user-agent": agent}).decode(),
        "request.client_ip": CLIENT_IP,
    }


async def set_request(conn: asyncpg.Connection, settings: dict[str, str]) -> None:
    """Apply request settings for the rest of the current transaction."""
    for name, value in settings.items():
        await conn.execute("select pg_catalog.set_config($1, $2, true)", name, value)


async def write_trail(conn: asyncpg.Connection) -> None:
    """The template's rows (see OLD_ROWS above), written as the owner."""
    await conn.execute(
        "insert into public.audit_logs (action, resource_type, details, created_at) "
        "select 'probe.archived', 'probe', jsonb_build_object('n', n), "
        "timestamptz '2001-01-01 00:00:00+00' + n * interval '1 day' "
        "from generate_series(1, $1) n",
        OLD_ROWS,
    )
    await conn.execute("insert into public.teams (id, name) values ($1, 'Audit trail team')", TEAM)
    for user_id, role in ((MEMBER, "user"), (ADMIN, "admin"), (SUPER, "super_admin")):
        await conn.execute(
            "insert into auth.users (id, aud, role, email, raw_app_meta_data) values "
            "($1, 'authenticated', 'authenticated', $2, "
            "jsonb_build_object('role', $3::text, 'team_id', $4::text))",
            user_id,
            f"{role}@audit-trail.test",
            role,
            None if role == "super_admin" else TEAM,
        )
    async with conn.transaction():
        await set_request(conn, claims_settings(ADMIN))
        for n in range(NOTES):
            await conn.execute(
                "select public.log_action('probe.noted', 'probe', null, $1::jsonb)",
                orjson.dumps({"n": n, "note": AWKWARD}).decode(),
            )
        await conn.execute(
            "insert into public.gpts (id, name, team_id, prompt) values ($1, 'Trail GPT', $2, $3)",
            GPT,
            TEAM,
            AWKWARD,
        )
        await conn.execute("update public.gpts set name = 'Trail GPT, renamed' where id = $1", GPT)


async def copy_database(cluster: str, template: str, prefix: str) -> MigratedDatabase:
    """A new database made from `template`, with everything in it."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(cluster)
    try:
        # FILE_COPY, not the default WAL_LOG: that one writes every page through shared
        # buffers, and each DROP DATABASE's checkpoint then flushes them (seconds per copy)
        await conn.execute(f'create database "{name}" template "{template}" strategy file_copy')
    finally:
        await conn.close()
    admin_dsn = database_url(cluster, name)
    return MigratedDatabase(
        admin_dsn, authenticator_dsn(admin_dsn, TEST_JWT_SECRET), TEST_JWT_SECRET
    )


def name_of(db: MigratedDatabase) -> str:
    """The database name in a URL of ours."""
    return urlsplit(db.admin_dsn).path.lstrip("/")


@pytest.fixture(scope="session")
async def audit_template(postgres_cluster: str) -> AsyncIterator[str]:
    """The name of a migrated database holding the template's trail."""
    name = f"gptdesk_audit_tpl_{secrets.token_hex(4)}"
    admin_dsn = await ensure_database(postgres_cluster, name)
    try:
        await prepare(admin_dsn, TEST_JWT_SECRET)
        conn = await asyncpg.connect(admin_dsn)
        try:
            await write_trail(conn)
        finally:
            await conn.close()
        yield name
    finally:
        await drop_database(postgres_cluster, name)


@pytest.fixture
async def trail_db(postgres_cluster: str, audit_template: str) -> AsyncIterator[MigratedDatabase]:
    """A copy of the template for one test alone: tamper with it, purge it, count its rows."""
    db = await copy_database(postgres_cluster, audit_template, "gptdesk_audit_copy")
    try:
        yield db
    finally:
        await drop_database(postgres_cluster, name_of(db))


@pytest.fixture
async def trail_conn(trail_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    """The owner's connection to the test's own copy."""
    conn = await asyncpg.connect(trail_db.admin_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def audit_db(postgres_cluster: str, audit_template: str) -> AsyncIterator[MigratedDatabase]:
    """The HTTP tests' copy of the template; `audit_world` loads the RLS world into it."""
    db = await copy_database(postgres_cluster, audit_template, "gptdesk_audit_http")
    try:
        yield db
    finally:
        await drop_database(postgres_cluster, name_of(db))


@pytest.fixture(scope="session")
async def audit_tokens(audit_db: MigratedDatabase) -> dict[str, str]:
    """tests/rls/world.sql loaded into audit_db, and an access token per world user."""
    return await load_world(audit_db)


@pytest.fixture(scope="session")
def audit_world(audit_db: MigratedDatabase, audit_tokens: dict[str, str]) -> Iterator[World]:
    """A server of audit_db alone, with the world's tokens for it."""
    with running_server(audit_db) as live:
        yield World(live, audit_tokens)


@pytest.fixture(scope="session")
async def audit_scope(audit_db: MigratedDatabase) -> AsyncIterator[Scope]:
    """The request scope over audit_db, logged in as the authenticator."""
    pool = await create_pool(audit_db.app_dsn, min_size=1, max_size=4)
    try:
        yield Scope(pool)
    finally:
        await pool.close()


@pytest.fixture
async def audit_owner(audit_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    """The owner's connection to audit_db."""
    conn = await asyncpg.connect(audit_db.admin_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def cli_data_dir() -> Iterator[Path]:
    """The data dir the `gptdesk audit` commands are given."""
    path = scratch_dir("gptdesk-audit-cli-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def gptdesk_audit(
    db: MigratedDatabase, data_dir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run `gptdesk audit <args>` against `db` as its owner."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTDESK_")}
    env |= {
        "GPTDESK_DATABASE_URL": db.admin_dsn,
        "GPTDESK_DATA_DIR": str(data_dir),
        "GPTDESK_LOG_LEVEL": "warning",
    }
    return subprocess.run(
        gptdesk_command("audit", *args), env=env, capture_output=True, text=True, timeout=60
    )


async def chain_rows(conn: asyncpg.Connection, where: str = "true", *args: Any) -> list[Any]:
    """Audit rows as the owner reads them, in chain order."""
    return list(
        await conn.fetch(f"select * from public.audit_logs where {where} order by seq", *args)
    )


async def problems(conn: asyncpg.Connection) -> list[Problem]:
    """What verify finds in the chain of `conn`'s database (the owner's)."""
    return (await verify(conn)).problems


def new_kind() -> str:
    """A resource type no other test writes, to find one test's rows."""
    return f"probe_{uuid.uuid4().hex[:12]}"
