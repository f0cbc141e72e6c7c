"""The trail is append-only: no role may UPDATE, DELETE or TRUNCATE it (the owner included:
only the foreign keys' nulling of a deleted user or team gets through), only super admins, the
service role and the owner may purge; concurrent writers get one gapless chain; rolled-back
rows leave no gap; rows outlive the users and teams they name."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from gptdesk.db.pool import create_pool
from gptdesk.db.scope import Scope
from tests.audit.conftest import (
    ADMIN,
    GPT,
    MEMBER,
    NOTES,
    SUPER,
    TEAM,
    TRAIL_ROWS,
    chain_rows,
    problems,
)
from tests.conftest import MigratedDatabase

ACTORS: dict[str, dict[str, str]] = {
    "user": {"role": "authenticated", "sub": MEMBER},
    "admin": {"role": "authenticated", "sub": ADMIN},
    "super_admin": {"role": "authenticated", "sub": SUPER},
    "service_role": {"role": "service_role"},
}
CHANGES = {
    "update": "update public.audit_logs set details = '{}'",
    "delete": "delete from public.audit_logs",
    "truncate": "truncate public.audit_logs",
}


class _Undo(Exception):
    """Rolls back a transaction that was meant to fail but did not."""


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("actor", ACTORS)
async def test_api_roles_cannot_change_the_trail(
    audit_scope: Scope, audit_owner: asyncpg.Connection, actor: str, change: str
) -> None:
    before = await audit_owner.fetchval("select count(*) from public.audit_logs")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        async with audit_scope.as_claims(ACTORS[actor]) as conn:
            await conn.execute(CHANGES[change])
            raise _Undo
    assert await audit_owner.fetchval("select count(*) from public.audit_logs") == before


@pytest.mark.parametrize("change", CHANGES)
async def test_the_owner_cannot_change_the_trail(
    audit_owner: asyncpg.Connection, change: str
) -> None:
    before = await chain_rows(audit_owner)
    assert before
    with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
        async with audit_owner.transaction():
            await audit_owner.execute(CHANGES[change])
            raise _Undo
    assert refused.value.sqlstate == "42501"
    assert "audit rows cannot be changed or removed" in str(refused.value)
    assert await chain_rows(audit_owner) == before


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [("user", False), ("admin", False), ("super_admin", True), ("service_role", True)],
)
async def test_who_may_purge(
    audit_scope: Scope, audit_owner: asyncpg.Connection, actor: str, allowed: bool
) -> None:
    """A cutoff before every row: an allowed purge removes nothing but is still audited."""
    purged = "select count(*) from public.audit_logs where action = 'audit.purged'"
    before = await audit_owner.fetchval(purged)
    call = "select public.purge_audit_logs('2000-01-01', 'who may purge')"
    if allowed:
        async with audit_scope.as_claims(ACTORS[actor]) as conn:
            assert await conn.fetchval(call) == 0
        assert await audit_owner.fetchval(purged) == before + 1
    else:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="only super admins"):
            async with audit_scope.as_claims(ACTORS[actor]) as conn:
                await conn.fetchval(call)
        assert await audit_owner.fetchval(purged) == before


async def test_anon_may_not_call_purge(audit_scope: Scope) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        async with audit_scope.as_claims({"role": "anon"}) as conn:
            await conn.fetchval("select public.purge_audit_logs('2000-01-01', 'anon')")


@pytest.mark.parametrize(
    ("cutoff", "justification", "message"),
    [
        ("2999-01-01", "tidy", "older_than must be a time in the past"),
        (None, "tidy", "older_than must be a time in the past"),
        ("2000-01-01", "", "a justification is required"),
        ("2000-01-01", "   ", "a justification is required"),
        ("2000-01-01", None, "a justification is required"),
    ],
)
async def test_a_purge_needs_a_past_cutoff_and_a_justification(
    audit_owner: asyncpg.Connection, cutoff: str | None, justification: str | None, message: str
) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match=message):
        await audit_owner.fetchval(
            "select public.purge_audit_logs($1::text::timestamptz, $2)", cutoff, justification
        )


def details_of(row: asyncpg.Record) -> dict[str, Any]:
    """A row's details (asyncpg returns jsonb as text without a codec)."""
    return dict(json.loads(row["details"]))


@pytest.fixture
async def trail_pool(trail_db: MigratedDatabase) -> AsyncIterator[asyncpg.Pool]:
    """Owner connections to the test's own copy, for concurrent writers."""
    pool = await asyncpg.create_pool(trail_db.admin_dsn, min_size=8, max_size=8)
    assert pool is not None
    try:
        yield pool
    finally:
        await pool.close()


async def test_concurrent_writers_make_one_gapless_chain(
    trail_pool: asyncpg.Pool, trail_conn: asyncpg.Connection
) -> None:
    writers, transactions, rows_each = 8, 4, 3

    async def write(writer: int) -> None:
        async with trail_pool.acquire() as conn:
            for tx in range(transactions):
                async with conn.transaction():
                    for n in range(rows_each):
                        await conn.execute(
                            "select public.log_action('probe.concurrent', 'probe', null, "
                            "jsonb_build_object('tx', $1::text, 'n', $2::int))",
                            f"{writer}/{tx}",
                            n,
                        )
                        await asyncio.sleep(0.001)

    await asyncio.gather(*(write(w) for w in range(writers)))
    rows = await chain_rows(trail_conn)
    total = TRAIL_ROWS + writers * transactions * rows_each
    assert [row["seq"] for row in rows] == list(range(1, total + 1))
    assert [row["prev_hash"] for row in rows[1:]] == [row["hash"] for row in rows[:-1]]
    # the head's lock is held to commit: each transaction's rows are one run of the chain
    runs: dict[str, list[int]] = {}
    for row in rows[TRAIL_ROWS:]:
        runs.setdefault(details_of(row)["tx"], []).append(row["seq"])
    assert len(runs) == writers * transactions
    for seqs in runs.values():
        assert seqs == list(range(seqs[0], seqs[0] + rows_each))
    assert await problems(trail_conn) == []


async def test_a_rolled_back_transaction_leaves_no_gap(trail_conn: asyncpg.Connection) -> None:
    log = "select public.log_action('probe.rolled', 'probe')"
    with pytest.raises(_Undo):
        async with trail_conn.transaction():
            for _ in range(3):
                await trail_conn.execute(log)
            raise _Undo
    async with trail_conn.transaction():
        await trail_conn.execute(log)
        with pytest.raises(_Undo):
            async with trail_conn.transaction():  # a savepoint, rolled back alone
                await trail_conn.execute(log)
                raise _Undo
        await trail_conn.execute(log)
    rows = await chain_rows(trail_conn)
    assert [row["seq"] for row in rows] == list(range(1, TRAIL_ROWS + 3))
    assert await problems(trail_conn) == []


async def test_audited_writers_wait_for_each_other_without_deadlocking(
    trail_db: MigratedDatabase, trail_conn: asyncpg.Connection
) -> None:
    other = await trail_conn.fetchval(
        "insert into public.gpts (name, team_id) values ('Second GPT', $1) returning id", TEAM
    )
    first = await asyncpg.connect(trail_db.admin_dsn)
    second = await asyncpg.connect(trail_db.admin_dsn)

    async def second_writer() -> None:
        await second.execute("update public.gpts set name = 'Second' where id = $1", other)
        await second.execute("commit")

    async def first_writer_again() -> None:
        await asyncio.sleep(0.3)  # the second holds `other` (and waits for the chain head)
        await first.execute("update public.gpts set description = 'both' where id = $1", other)
        await first.execute("commit")

    try:
        await first.execute("begin")
        await second.execute("begin")
        await first.execute("update public.gpts set name = 'First' where id = $1", GPT)
        outcomes = await asyncio.gather(
            second_writer(), first_writer_again(), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
    finally:
        await first.close()
        await second.close()


async def test_an_insert_skipped_on_conflict_leaves_no_gap(
    trail_conn: asyncpg.Connection,
) -> None:
    insert = (
        "insert into public.audit_logs (id, action, resource_type) "
        "values ('d0000000-0000-4000-8000-000000000001', 'probe.once', 'probe') "
        "on conflict (id) do nothing"
    )
    await trail_conn.execute(insert)
    await trail_conn.execute(insert)
    await trail_conn.execute("select public.log_action('probe.after', 'probe')")
    rows = await chain_rows(trail_conn)
    assert [row["seq"] for row in rows] == list(range(1, TRAIL_ROWS + 3))
    assert await problems(trail_conn) == []


async def test_the_purge_switch_cannot_be_thrown_by_hand(
    trail_conn: asyncpg.Connection,
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with trail_conn.transaction():
            await trail_conn.execute("set local gptdesk.audit_purge = 'on'")
            await trail_conn.execute("delete from public.audit_logs where seq = 5")


async def test_rows_outlive_the_users_and_teams_they_name(
    trail_conn: asyncpg.Connection,
) -> None:
    """The foreign keys forget a deleted user or team; the recorded copies, which the hash
    covers, keep them, and nothing else about the row changes."""
    naming = "recorded_user_id = $1 or recorded_team_id = $2"
    before = await chain_rows(trail_conn, naming, ADMIN, TEAM)
    assert len(before) >= NOTES + 3  # the team, the admin's notes, the GPT made and renamed
    for row in before:
        assert (row["user_id"], row["team_id"]) == (
            row["recorded_user_id"],
            row["recorded_team_id"],
        )
    await trail_conn.execute("delete from auth.users where id = $1", ADMIN)
    await trail_conn.execute("delete from public.teams where id = $1", TEAM)
    assert await trail_conn.fetchval("select count(*) from public.users where id = $1", ADMIN) == 0
    after = await chain_rows(trail_conn, naming, ADMIN, TEAM)
    gone = {uuid.UUID(ADMIN), uuid.UUID(TEAM)}
    for old, new in zip(before, after, strict=False):
        assert dict(new) == dict(old) | {
            "user_id": None if old["user_id"] in gone else old["user_id"],
            "team_id": None if old["team_id"] in gone else old["team_id"],
        }
    assert {row["team_id"] for row in after} == {None}
    deleted = await chain_rows(trail_conn, "action = 'team.deleted' and resource_id = $1", TEAM)
    assert len(deleted) == 1
    assert json.loads(deleted[0]["details"])["before"]["id"] == TEAM
    assert await problems(trail_conn) == []


@pytest.mark.parametrize(
    "change",
    [
        f"update public.audit_logs set user_id = '{MEMBER}' where user_id = '{ADMIN}'",
        f"update public.audit_logs set team_id = null, details = '{{}}' where team_id = '{TEAM}'",
        f"update public.audit_logs set recorded_user_id = null where user_id = '{ADMIN}'",
    ],
)
async def test_the_owner_may_only_null_the_foreign_keys(
    trail_conn: asyncpg.Connection, change: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="cannot be changed"):
        await trail_conn.execute(change)
    nulled = await trail_conn.execute(
        "update public.audit_logs set user_id = null, team_id = null where user_id = $1", ADMIN
    )
    assert nulled == f"UPDATE {NOTES + 2}"
    assert await problems(trail_conn) == []


async def test_the_request_pool_may_append_but_not_rewrite(
    trail_db: MigratedDatabase, trail_conn: asyncpg.Connection
) -> None:
    """The service role writes rows directly (the server's tools do); they join the chain."""
    pool = await create_pool(trail_db.app_dsn, min_size=1, max_size=1)
    try:
        async with Scope(pool).as_claims({"role": "service_role"}) as conn:
            await conn.execute(
                "insert into public.audit_logs (action, resource_type, seq, prev_hash, hash) "
                "values ('probe.direct', 'probe', 999, 'chosen', 'chosen')"
            )
    finally:
        await pool.close()
    last = (await chain_rows(trail_conn))[-1]
    assert (last["action"], last["seq"]) == ("probe.direct", TRAIL_ROWS + 1)
    assert last["hash"] != "chosen" and last["prev_hash"] != "chosen"
    assert await problems(trail_conn) == []
