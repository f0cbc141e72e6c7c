"""Migrations: numbered SQL files applied in order, once each, under an advisory lock.

Each file runs in its own transaction and is recorded in `schema_migrations`, so a failing
file leaves the database as it was before it, and many workers starting at once apply each
file exactly once.
"""

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

# Any fixed 64-bit number: the key of the advisory lock all migrating processes share.
LOCK_KEY = 0x67707464_65736B01
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CREATE_TABLE = """
create table if not exists public.schema_migrations (
    version varchar(255) primary key,
    applied_at timestamp with time zone default now()
)
"""
# The ledger sits in `public` as the seed has it, so it is fenced off from API roles.
_FENCE_TABLE = """
alter table public.schema_migrations enable row level security;
revoke all on public.schema_migrations from public;
do $$ begin
  if exists (select from pg_roles where rolname = 'anon') then
    revoke all on public.schema_migrations from anon, authenticated;
    grant select on public.schema_migrations to service_role;
  end if;
end $$;
"""


class MigrationError(Exception):
    """A migration file failed; the database is as it was before that file."""

    def __init__(self, version: str, message: str) -> None:
        super().__init__(f"migration {version} failed: {message}")
        self.version = version


@dataclass(frozen=True)
class Migration:
    """One SQL file: its version (the file name without .sql) and its text."""

    version: str
    sql: str


@dataclass(frozen=True)
class MigrationState:
    """A migration and when it was applied (None while pending)."""

    version: str
    applied_at: datetime | None


def migrations_dir() -> Path:
    """The packaged migrations, or the repository's `migrations/` in a source checkout."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "migrations", here.parents[3] / "migrations"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no migrations folder found beside the gptdesk package")


def discover(folder: Path) -> list[Migration]:
    """Read the migration files of `folder` in order; refuse misnamed or duplicate numbers."""
    found: dict[str, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} is not named NNNN_name.sql")
        number = match.group(1)
        if number in found:
            raise ValueError(f"migrations {found[number].version} and {path.stem} share {number}")
        found[number] = Migration(path.stem, path.read_text())
    return list(found.values())


async def status(conn: asyncpg.Connection, migrations: list[Migration]) -> list[MigrationState]:
    """Each known migration with its applied time, plus applied ones no longer on disk."""
    exists = await conn.fetchval("select to_regclass('public.schema_migrations') is not null")
    applied: dict[str, datetime] = {}
    if exists:
        rows = await conn.fetch("select version, applied_at from public.schema_migrations")
        applied = {row["version"]: row["applied_at"] for row in rows}
    states = [MigrationState(m.version, applied.pop(m.version, None)) for m in migrations]
    states += [MigrationState(version, at) for version, at in sorted(applied.items())]
    return states


async def apply(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply the pending migrations in order; return the versions applied now."""
    await conn.execute("select pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE)
        done = {r["version"] for r in await conn.fetch("select version from schema_migrations")}
        applied_now: list[str] = []
        for migration in migrations:
            if migration.version in done:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "insert into public.schema_migrations (version) values ($1)",
                        migration.version,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(migration.version, _describe(exc)) from exc
            applied_now.append(migration.version)
        await conn.execute(_FENCE_TABLE)
        if applied_now:  # running servers reload their REST schema cache, as PostgREST does
            await conn.execute("notify pgrst, 'reload schema'")
        return applied_now
    finally:
        if not conn.is_closed():  # a dropped connection has released the lock already
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await conn.execute("select pg_advisory_unlock($1)", LOCK_KEY)


def _describe(exc: asyncpg.PostgresError) -> str:
    parts = [f"{exc.sqlstate}: {exc}"]
    detail = getattr(exc, "detail", None)
    if detail:
        parts.append(f"detail: {detail}")
    position = getattr(exc, "position", None)
    if position:
        parts.append(f"at character {position}")
    return "; ".join(parts)
