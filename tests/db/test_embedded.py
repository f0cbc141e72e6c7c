"""The embedded PostgreSQL: first start, reuse, and the clear refusals."""

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from gptdesk.db.embedded import (
    EmbeddedPostgres,
    EmbeddedPostgresError,
    binaries_major,
    check_reachable,
    unprivileged_account,
)
from tests.conftest import scratch_dir


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = scratch_dir("gptdesk-embedded-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def test_first_start_creates_a_cluster_and_the_next_reuses_it(data_dir: Path) -> None:
    first = EmbeddedPostgres(data_dir)
    dsn = first.start()
    try:
        assert (data_dir / "postgres" / "PG_VERSION").read_text().strip() == str(binaries_major())
        assert (data_dir / "postgres.password").stat().st_mode & 0o777 == 0o600
        conn = await asyncpg.connect(dsn)
        await conn.execute("create table survives (id int)")
        await conn.close()
    finally:
        first.stop()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # stopped cleanly

    second = EmbeddedPostgres(data_dir)
    dsn = second.start()
    try:
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("select to_regclass('survives') is not null")
        await conn.close()
    finally:
        second.stop()


async def test_the_cluster_refuses_a_wrong_password(data_dir: Path) -> None:
    cluster = EmbeddedPostgres(data_dir)
    dsn = cluster.start()
    try:
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(dsn.replace(cluster.password_file.read_text().strip(), "wrong"))
    finally:
        cluster.stop()


def test_a_cluster_of_another_major_version_is_refused(data_dir: Path) -> None:
    (data_dir / "postgres").mkdir()
    (data_dir / "postgres" / "PG_VERSION").write_text("16\n")
    with pytest.raises(EmbeddedPostgresError, match="holds a PostgreSQL 16 cluster"):
        EmbeddedPostgres(data_dir).start()


def test_a_taken_port_is_named(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedPostgresError, match=f"port {port} .* already in use"):
            EmbeddedPostgres(data_dir, port=port).start()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops to an unprivileged account")
def test_root_needs_a_searchable_path(data_dir: Path) -> None:
    hidden = data_dir / "hidden"
    (hidden / "inner").mkdir(parents=True)
    hidden.chmod(0o700)
    with pytest.raises(EmbeddedPostgresError, match=r"hidden is mode 700"):
        check_reachable(hidden / "inner", unprivileged_account())
