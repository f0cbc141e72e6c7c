"""The request scope: role switch and claims in one statement, commit/rollback, no leaks."""

import asyncio
import uuid

import asyncpg
import orjson
import pytest

from gptdesk.db.pool import create_pool
from gptdesk.db.scope import RequestInfo, Scope, ScopeError, preamble, quote_literal
from tests.conftest import MigratedDatabase

USER = "00000000-0000-4000-8000-00000000aaaa"


class Discard(Exception):
    """Raised inside a scope to roll it back."""


def test_quote_literal_doubles_quotes() -> None:
    assert quote_literal("it's") == "'it''s'"
    assert quote_literal("back\\slash") == "'back\\slash'"


def test_quote_literal_refuses_nul() -> None:
    with pytest.raises(ScopeError):
        quote_literal("a\x00b")


def test_preamble_is_one_statement_list_with_role_and_claims() -> None:
    sql = preamble(
        {"role": "authenticated", "sub": USER, "email": "o'brien@example.com"},
        RequestInfo("GET", "/rest/v1/gpts", {"User-Agent": "ua", "Authorization": "Bearer x"}),
    )
    assert sql.startswith("begin; select set_config('role', 'authenticated', true)")
    assert "o''brien@example.com" in sql
    assert "user-agent" in sql and "Bearer" not in sql  # credentials never reach SQL
    assert "request.method', 'GET'" in sql


def test_preamble_read_only() -> None:
    assert preamble(None, read_only=True).startswith("begin read only;")


@pytest.mark.parametrize("role", ["postgres", "authenticator", "pg_read_all_data", "admin"])
def test_preamble_refuses_roles_outside_the_api_roles(role: str) -> None:
    with pytest.raises(ScopeError, match="not one a request may take"):
        preamble({"role": role})


def test_missing_role_means_anon() -> None:
    assert "set_config('role', 'anon', true)" in preamble({})
    assert "set_config('role', 'anon', true)" in preamble(None)


async def test_scope_runs_as_the_claims_role(scope: Scope) -> None:
    claims = {"role": "authenticated", "sub": USER, "aal": "aal1"}
    async with scope.as_claims(
        claims, request=RequestInfo("POST", "/x", {"x-real-ip": "1.2.3.4"})
    ) as conn:
        row = await conn.fetchrow(
            "select current_user, auth.uid() as uid, auth.role() as role, "
            "auth.jwt() ->> 'aal' as aal, current_setting('request.method') as method, "
            "current_setting('request.headers')::jsonb ->> 'x-real-ip' as ip"
        )
    assert dict(row) == {
        "current_user": "authenticated",
        "uid": uuid.UUID(USER),
        "role": "authenticated",
        "aal": "aal1",
        "method": "POST",
        "ip": "1.2.3.4",
    }


async def test_anon_and_service_role(scope: Scope) -> None:
    async with scope.as_claims(None) as conn:
        assert await conn.fetchval("select current_user") == "anon"
        assert await conn.fetchval("select auth.uid()") is None
    async with scope.as_claims({"role": "service_role"}) as conn:
        assert await conn.fetchval("select current_user") == "service_role"


async def test_settings_do_not_leak_to_the_next_request(db: MigratedDatabase) -> None:
    pool = await create_pool(db.app_dsn, min_size=1, max_size=1)  # same connection twice
    try:
        scope = Scope(pool)
        async with scope.as_claims({"role": "authenticated", "sub": USER}) as conn:
            first_pid = conn.get_server_pid()
        async with scope.as_claims(None) as conn:
            assert conn.get_server_pid() == first_pid
            assert await conn.fetchval("select current_user") == "anon"
            assert await conn.fetchval("select auth.uid()") is None
            claims = await conn.fetchval("select current_setting('request.jwt.claims')")
            assert orjson.loads(claims) == {"role": "anon"}
        async with pool.acquire() as conn:  # outside a scope: back to the bare authenticator
            assert await conn.fetchval("select current_user") == "authenticator"
    finally:
        await pool.close()


async def test_exception_rolls_back(scope: Scope, admin_conn: asyncpg.Connection) -> None:
    await admin_conn.execute("create table if not exists scope_probe (v text)")
    await admin_conn.execute("grant all on scope_probe to service_role")
    with pytest.raises(Discard):
        async with scope.as_claims({"role": "service_role"}) as conn:
            await conn.execute("insert into scope_probe values ('rolled back')")
            raise Discard
    async with scope.as_claims({"role": "service_role"}) as conn:
        await conn.execute("insert into scope_probe values ('committed')")
    values = [r["v"] for r in await admin_conn.fetch("select v from scope_probe")]
    assert values == ["committed"]
    await admin_conn.execute("drop table scope_probe")


async def test_a_swallowed_error_does_not_pass_for_a_commit(scope: Scope) -> None:
    with pytest.raises(ScopeError, match="rolled back"):
        async with scope.as_claims({"role": "service_role"}) as conn:
            with pytest.raises(asyncpg.DivisionByZeroError):
                await conn.execute("select 1/0")


async def test_read_only_scope_refuses_writes(scope: Scope) -> None:
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        async with scope.as_claims({"role": "service_role"}, read_only=True) as conn:
            await conn.execute("create temp table nope (id int)")


async def test_cancelled_request_returns_a_clean_connection(db: MigratedDatabase) -> None:
    pool = await create_pool(db.app_dsn, min_size=1, max_size=1)
    try:
        scope = Scope(pool)

        async def slow() -> None:
            async with scope.as_claims({"role": "authenticated", "sub": USER}) as conn:
                await conn.execute("select pg_sleep(5)")

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with scope.as_claims(None) as conn:
            assert await conn.fetchval("select current_user") == "anon"
    finally:
        await pool.close()


def test_a_nul_in_the_request_path_is_stored_not_refused() -> None:
    sql = preamble(None, RequestInfo("GET", "/x\x00y", {"x-h": "a\x00b"}, "10.0.0.1"))
    assert "\x00" not in sql and "/x\ufffdy" in sql
    assert "set_config('request.client_ip', '10.0.0.1', true)" in sql


@pytest.mark.parametrize("role", [["authenticated"], {"r": 1}, 1, True])
def test_a_role_that_is_not_a_string_is_refused(role: object) -> None:
    with pytest.raises(ScopeError):
        preamble({"role": role})


def test_claims_with_nul_are_refused() -> None:
    with pytest.raises(ScopeError, match="NUL"):
        preamble({"role": "authenticated", "email": "a\x00@example.com"})


async def test_request_facts_reach_sql(scope: Scope) -> None:
    info = RequestInfo("GET", "/p\x00q", {"user-agent": "probe/1"}, "192.0.2.7")
    async with scope.as_claims(None, request=info) as conn:
        row = await conn.fetchrow(
            "select current_setting('request.client_ip') as ip, "
            "current_setting('request.path') as path, "
            "current_setting('request.headers')::jsonb ->> 'user-agent' as ua"
        )
    assert dict(row) == {"ip": "192.0.2.7", "path": "/p\ufffdq", "ua": "probe/1"}


async def test_ending_the_transaction_inside_the_scope_is_an_error(scope: Scope) -> None:
    with pytest.raises(ScopeError, match="ended inside its scope"):
        async with scope.as_claims({"role": "service_role"}) as conn:
            await conn.execute("commit")
