"""The `gptdesk` command: serve, migrate, keys."""

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from gptdesk.auth.keys import project_keys
from gptdesk.config import ConfigError, Settings
from gptdesk.datadir import DataDir, DataDirError
from gptdesk.db import migrate as migrations
from gptdesk.db.database import DatabaseUnavailable, connect, open_database
from gptdesk.db.embedded import EmbeddedPostgresError
from gptdesk.db.roles import DatabaseUrlError
from gptdesk.server import PortInUse, resolve_secret
from gptdesk.server import serve as run_server

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="GPT Desk server and tools.",
)

# Failures a person can fix: printed as one line, exit code 1, no traceback.
EXPECTED_ERRORS = (
    ConfigError,
    DataDirError,
    EmbeddedPostgresError,
    DatabaseUnavailable,
    DatabaseUrlError,
    migrations.MigrationError,
    PortInUse,
)

DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Data folder [env: GPTDESK_DATA_DIR]")
]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command-line options that were given on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        fail(f"invalid settings: {problems}")


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env: GPTDESK_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port [env: GPTDESK_PORT]")] = None,
    data_dir: DataDirOption = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes [env: GPTDESK_WORKERS]")
    ] = None,
) -> None:
    """Start GPT Desk: database (embedded unless GPTDESK_DATABASE_URL), migrations, HTTP."""
    settings = load_settings(host=host, port=port, data_dir=data_dir, workers=workers)
    try:
        run_server(settings)
    except EXPECTED_ERRORS as exc:
        fail(str(exc))


@app.command()
def migrate(
    status: Annotated[bool, typer.Option("--status", help="List migrations, apply none")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Apply pending migrations (or show which are applied with --status)."""
    settings = load_settings(data_dir=data_dir)
    folder = DataDir(settings.data_dir)
    try:
        folder.prepare()
        folder.lock()
        with open_database(settings.database_url, folder, settings.embedded_pg_port) as dsn:
            asyncio.run(_migrate(dsn, status))
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    finally:
        folder.unlock()


async def _migrate(dsn: str, only_status: bool) -> None:
    known = migrations.discover(migrations.migrations_dir())
    conn = await connect(dsn)
    try:
        if only_status:
            for state in await migrations.status(conn, known):
                when = state.applied_at.isoformat() if state.applied_at else "pending"
                typer.echo(f"{state.version:40} {when}")
            return
        applied = await migrations.apply(conn, known)
        typer.echo(
            f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
        )
    finally:
        await conn.close()


@app.command()
def keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Print the URL, anon key and service-role key clients use."""
    settings = load_settings(data_dir=data_dir)
    folder = DataDir(settings.data_dir)
    try:
        folder.prepare()
        secret = resolve_secret(settings, folder)
    except (DataDirError, ConfigError) as exc:
        fail(str(exc))
    pair = project_keys(secret)
    info = {
        "url": settings.base_url,
        "anon_key": pair.anon_key,
        "service_role_key": pair.service_role_key,
    }
    if as_json:
        typer.echo(json.dumps(info))
    else:
        for name, value in info.items():
            typer.echo(f"{name:17} {value}")
