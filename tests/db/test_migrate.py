"""Migrations: discovery rules, apply-once under concurrency, all-or-nothing per file."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from gptdesk.db import migrate
from gptdesk.db.database import ensure_database
from tests.conftest import drop_database


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


@pytest.fixture
async def empty_db(postgres_cluster: str) -> AsyncIterator[str]:
    """A brand-new database with no migrations applied."""
    name = f"gptdesk_mig_{secrets.token_hex(4)}"
    dsn = await ensure_database(postgres_cluster, name)
    try:
        yield dsn
    finally:
        await drop_database(postgres_cluster, name)


def test_discover_orders_by_number(tmp_path: Path) -> None:
    write(tmp_path, {"0002_b.sql": "select 2", "0001_a.sql": "select 1", "0010_c.sql": "select 3"})
    assert [m.version for m in migrate.discover(tmp_path)] == ["0001_a", "0002_b", "0010_c"]


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql", "abcd_x.sql"])
def test_discover_refuses_misnamed_files(tmp_path: Path, name: str) -> None:
    write(tmp_path, {name: "select 1"})
    with pytest.raises(ValueError, match=r"not named NNNN_name\.sql"):
        migrate.discover(tmp_path)


def test_discover_refuses_duplicate_numbers(tmp_path: Path) -> None:
    write(tmp_path, {"0001_a.sql": "select 1", "0001_b.sql": "select 1"})
    with pytest.raises(ValueError, match="share 0001"):
        migrate.discover(tmp_path)


def test_the_shipped_migrations_are_well_formed() -> None:
    shipped = migrate.discover(migrate.migrations_dir())
    assert shipped, "no migrations found"
    for migration in shipped:
        assert "set local lock_timeout" in migration.sql, migration.version


async def test_apply_records_each_version_once(empty_db: str, tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {"0001_t.sql": "create table t (id int)", "0002_row.sql": "insert into t values (1)"},
    )
    conn = await asyncpg.connect(empty_db)
    try:
        assert await migrate.apply(conn, migrate.discover(folder)) == ["0001_t", "0002_row"]
        assert await migrate.apply(conn, migrate.discover(folder)) == []
        assert await conn.fetchval("select count(*) from t") == 1
        states = await migrate.status(conn, migrate.discover(folder))
        assert [s.version for s in states] == ["0001_t", "0002_row"]
        assert all(s.applied_at is not None for s in states)
    finally:
        await conn.close()


async def test_status_lists_pending_before_apply(empty_db: str, tmp_path: Path) -> None:
    folder = write(tmp_path, {"0001_t.sql": "create table t (id int)"})
    conn = await asyncpg.connect(empty_db)
    try:
        states = await migrate.status(conn, migrate.discover(folder))
        assert [(s.version, s.applied_at) for s in states] == [("0001_t", None)]
    finally:
        await conn.close()


async def test_a_failing_file_leaves_the_database_as_before_it(
    empty_db: str, tmp_path: Path
) -> None:
    folder = write(
        tmp_path,
        {
            "0001_ok.sql": "create table kept (id int)",
            "0002_bad.sql": "create table half (id int); insert into nowhere values (1)",
            "0003_later.sql": "create table later (id int)",
        },
    )
    conn = await asyncpg.connect(empty_db)
    try:
        with pytest.raises(migrate.MigrationError) as failure:
            await migrate.apply(conn, migrate.discover(folder))
        assert failure.value.version == "0002_bad"
        assert "nowhere" in str(failure.value) and "42P01" in str(failure.value)
        tables = {
            r["relname"]
            for r in await conn.fetch(
                "select relname from pg_class where relname in ('kept', 'half', 'later')"
            )
        }
        assert tables == {"kept"}
        versions = await conn.fetch("select version from schema_migrations")
        assert [r["version"] for r in versions] == ["0001_ok"]
    finally:
        await conn.close()


async def test_concurrent_appliers_apply_each_file_exactly_once(
    empty_db: str, tmp_path: Path
) -> None:
    # Not re-runnable on purpose: a second application would fail or double the row.
    folder = write(
        tmp_path,
        {
            "0001_t.sql": "create table t (id int); select pg_sleep(0.2)",
            "0002_row.sql": "insert into t values (1)",
        },
    )
    migrations = migrate.discover(folder)

    async def one_worker() -> list[str]:
        conn = await asyncpg.connect(empty_db)
        try:
            return await migrate.apply(conn, migrations)
        finally:
            await conn.close()

    results = await asyncio.gather(*(one_worker() for _ in range(4)))
    assert sorted(v for applied in results for v in applied) == ["0001_t", "0002_row"]
    conn = await asyncpg.connect(empty_db)
    try:
        assert await conn.fetchval("select count(*) from t") == 1
    finally:
        await conn.close()


async def test_shipped_migrations_are_rerunnable(
    db: object, admin_conn: asyncpg.Connection
) -> None:
    """STYLE.md habit 13: running every file again on a migrated database changes nothing."""
    for migration in migrate.discover(migrate.migrations_dir()):
        async with admin_conn.transaction():
            await admin_conn.execute(migration.sql)
