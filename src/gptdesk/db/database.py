"""Getting hold of the database: the embedded cluster or a given URL, checked and migrated."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from gptdesk.datadir import DataDir, DataDirInUse
from gptdesk.db import migrate
from gptdesk.db.embedded import EmbeddedPostgres, running_dsn
from gptdesk.db.roles import DatabaseUrlError, authenticator_dsn, set_authenticator_password

EMBEDDED_DATABASE = "gptdesk"
CONNECT_TIMEOUT_S = 10.0


class DatabaseUnavailable(Exception):
    """The database cannot be reached or logged into; the message says what to do."""


@dataclass(frozen=True)
class Prepared:
    """What preparing the database did."""

    applied: list[str]
    server_version: str


def redact(dsn: str) -> str:
    """The URL with its password masked, for messages and logs."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def connect(dsn: str) -> asyncpg.Connection:
    """Connect as the owner, turning every way that fails into one clear message."""
    where = redact(dsn)
    try:
        return await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    except asyncpg.InvalidPasswordError:
        raise DatabaseUnavailable(f"wrong password for {where}") from None
    except asyncpg.InvalidAuthorizationSpecificationError as exc:
        raise DatabaseUnavailable(f"cannot log in to {where}: {exc}") from None
    except asyncpg.InvalidCatalogNameError:
        raise DatabaseUnavailable(f"database in {where} does not exist; create it first") from None
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot reach PostgreSQL at {where} ({reason}); is it running, and is the URL right?"
        ) from None
    except ValueError as exc:  # asyncpg's answer to a malformed URL
        raise DatabaseUrlError(f"invalid database URL {where}: {exc}") from None


async def ensure_database(maintenance_dsn: str, name: str) -> str:
    """Create database `name` in the cluster if missing; return its URL."""
    conn = await connect(maintenance_dsn)
    try:
        if not await conn.fetchval("select true from pg_database where datname = $1", name):
            await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(maintenance_dsn)._replace(path=f"/{name}"))


async def prepare(admin_dsn: str, jwt_secret: str) -> Prepared:
    """Apply pending migrations and let the authenticator log in; refuse PostgreSQL < 15."""
    conn = await connect(admin_dsn)
    try:
        version_num = int(await conn.fetchval("show server_version_num"))
        version = str(await conn.fetchval("show server_version"))
        if version_num < 150000:
            raise DatabaseUnavailable(
                f"GPT Desk needs PostgreSQL 15 or newer; {redact(admin_dsn)} runs {version}"
            )
        applied = await migrate.apply(conn, migrate.discover(migrate.migrations_dir()))
        if not await _authenticator_can_log_in(admin_dsn, jwt_secret):
            await set_authenticator_password(conn, jwt_secret)
        return Prepared(applied, version)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        code = getattr(exc, "sqlstate", None)
        raise DatabaseUnavailable(
            f"preparing {redact(admin_dsn)} failed: {exc}"
            + (f" (SQLSTATE {code})" if code else "")
            + "; the URL's user must own the database and be able to create roles"
        ) from None
    finally:
        await conn.close()


async def _authenticator_can_log_in(admin_dsn: str, jwt_secret: str) -> bool:
    """Whether the request pool's login works already (the password is only set when not).

    The role is cluster-wide: resetting its password on every start would lock out another
    deployment sharing the cluster with a different secret at each of our restarts.
    """
    try:
        conn = await asyncpg.connect(
            authenticator_dsn(admin_dsn, jwt_secret), timeout=CONNECT_TIMEOUT_S
        )
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return False
    await conn.close()
    return True


@contextmanager
def open_database(
    database_url: str | None, data_dir: DataDir, port: int = 0, max_connections: int = 200
) -> Iterator[str]:
    """Yield the owner URL: the given one, or the embedded cluster's, started and later stopped."""
    if database_url:
        yield database_url
        return
    embedded = EmbeddedPostgres(data_dir.path, port, max_connections)
    try:
        embedded.start()
        yield asyncio.run(ensure_database(embedded.dsn, EMBEDDED_DATABASE))
    finally:  # also when a signal interrupts the start: never leave it running unlocked
        embedded.stop()


@contextmanager
def database_for_tools(database_url: str | None, data_dir: DataDir, port: int = 0) -> Iterator[str]:
    """The owner URL for a CLI tool: a given URL, the running server's cluster, or our own.

    A tool may run beside `gptdesk serve` (creating the first admin while it serves): then
    it borrows the running embedded cluster instead of failing on the data dir's lock.
    """
    if database_url:
        yield database_url
        return
    try:
        data_dir.lock()
    except DataDirInUse:
        dsn = running_dsn(data_dir.path)
        if dsn is None:
            raise
        yield urlunsplit(urlsplit(dsn)._replace(path=f"/{EMBEDDED_DATABASE}"))
        return
    try:
        with open_database(None, data_dir, port) as dsn:
            yield dsn
    finally:
        data_dir.unlock()
