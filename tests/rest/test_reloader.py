"""The schema cache follows the database: `NOTIFY pgrst, 'reload schema'` reaches a live server."""

import time

import asyncpg
import httpx

from gptdesk.db.migrate import Migration, apply
from tests.conftest import LiveServer, MigratedDatabase
from tests.helpers import owner_query


def _status(server: LiveServer, path: str) -> int:
    key = server.service_role_key
    r = httpx.get(
        f"{server.url}/rest/v1/{path}", headers={"apikey": key, "Authorization": f"Bearer {key}"}
    )
    return r.status_code


def test_a_new_table_appears_after_notify(server: LiveServer, db: MigratedDatabase) -> None:
    owner_query(db, "create table public.rest_reload_probe (id int primary key)")
    try:
        owner_query(db, "grant select on public.rest_reload_probe to service_role")
        assert _status(server, "rest_reload_probe") == 404  # not in the cache yet
        owner_query(db, "notify pgrst, 'reload schema'")
        deadline = time.monotonic() + 10
        while _status(server, "rest_reload_probe") != 200:
            assert time.monotonic() < deadline, "the server never reloaded its schema cache"
            time.sleep(0.05)
    finally:
        owner_query(db, "drop table public.rest_reload_probe")
        owner_query(db, "notify pgrst, 'reload schema'")


async def test_migrations_that_apply_something_notify(db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(db.admin_dsn)
    heard: list[str] = []
    try:
        await conn.add_listener("pgrst", lambda *args: heard.append(args[-1]))
        other = await asyncpg.connect(db.admin_dsn)
        try:
            await apply(other, [Migration("9999_probe", "select 1")])
            await other.execute("delete from public.schema_migrations where version = '9999_probe'")
        finally:
            await other.close()
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            await conn.execute("select 1")
        assert heard == ["reload schema"]
    finally:
        await conn.close()
