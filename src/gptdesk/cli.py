"""The `gptdesk` command: serve, migrate, user, keys, audit."""

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import typer
from pydantic import SecretStr, ValidationError

from gptdesk.app import auth_config
from gptdesk.audit import commands as audit_commands
from gptdesk.audit.export import FORMATS, FilterError, parse_filters, parse_time
from gptdesk.auth.admin import AdminService
from gptdesk.auth.errors import AuthError
from gptdesk.auth.keys import project_keys
from gptdesk.auth.service import AuthService
from gptdesk.auth.signing import SigningKeyError
from gptdesk.config import ConfigError, Settings
from gptdesk.datadir import DataDir, DataDirError
from gptdesk.db import migrate as migrations
from gptdesk.db.database import (
    DatabaseUnavailable,
    connect,
    database_for_tools,
    prepare,
)
from gptdesk.db.embedded import EmbeddedPostgresError
from gptdesk.db.pool import create_pool
from gptdesk.db.roles import DatabaseUrlError, authenticator_dsn
from gptdesk.db.scope import RequestInfo, Scope
from gptdesk.server import PortInUse, resolve_secret, resolve_signing_key
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
    SigningKeyError,
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
        with database_for_tools(settings.database_url, folder, settings.embedded_pg_port) as dsn:
            asyncio.run(_migrate(dsn, status))
    except EXPECTED_ERRORS as exc:
        fail(str(exc))


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


user_app = typer.Typer(no_args_is_help=True, help="Manage accounts.")
app.add_typer(user_app, name="user")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Sign-in address")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[str, typer.Option(help="user, admin or super_admin")] = "user",
    team_id: Annotated[str | None, typer.Option(help="Team to join (a UUID)")] = None,
    name: Annotated[str | None, typer.Option(help="Full name")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a confirmed account, e.g. the first super admin."""
    if role not in ("user", "admin", "super_admin"):
        fail("--role must be user, admin or super_admin")
    settings = load_settings(data_dir=data_dir)
    folder = DataDir(settings.data_dir)
    attributes: dict[str, Any] = {
        "email": email,
        "password": password,
        "email_confirm": True,
        "app_metadata": {"role": role, **({"team_id": team_id} if team_id else {})},
        "user_metadata": {"full_name": name} if name else {},
    }
    try:
        folder.prepare()
        secret = resolve_secret(settings, folder)
        settings = resolve_signing_key(settings, folder)
        with database_for_tools(settings.database_url, folder, settings.embedded_pg_port) as dsn:
            user = asyncio.run(_create_user(settings, dsn, secret, attributes))
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    except AuthError as exc:
        fail(f"{exc.message} ({exc.code})")
    typer.echo(f"created {user['email']} ({role}) with id {user['id']}")
    typer.echo(f"sign in: POST {settings.base_url}/auth/v1/token?grant_type=password")


async def _create_user(
    settings: Settings, dsn: str, secret: str, attributes: dict[str, Any]
) -> dict[str, Any]:
    await prepare(dsn, secret)
    configured = settings.model_copy(update={"jwt_secret": SecretStr(secret)})
    pool = await create_pool(authenticator_dsn(dsn, secret), min_size=1, max_size=1)
    try:
        auth = AuthService(Scope(pool), auth_config(configured))
        request = RequestInfo("CLI", "gptdesk user create", {"user-agent": "gptdesk-cli"})
        return await AdminService(auth).create_user(attributes, request)
    finally:
        await pool.close()


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


audit_app = typer.Typer(no_args_is_help=True, help="Verify, export and purge the audit trail.")
app.add_typer(audit_app, name="audit")


def _owner_dsn_run(settings: Settings, work: Any) -> Any:
    folder = DataDir(settings.data_dir)
    try:
        folder.prepare()
        with database_for_tools(settings.database_url, folder, settings.embedded_pg_port) as dsn:
            return asyncio.run(work(dsn))
    except EXPECTED_ERRORS as exc:
        fail(str(exc))


@audit_app.command("verify")
def audit_verify(data_dir: DataDirOption = None) -> None:
    """Recompute the hash chain; name every row edited, deleted, inserted or moved (exit 1)."""
    settings = load_settings(data_dir=data_dir)
    if not _owner_dsn_run(settings, audit_commands.run_verify):
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    since: Annotated[str | None, typer.Option(help="From this ISO date/time")] = None,
    until: Annotated[str | None, typer.Option(help="Before this ISO date/time")] = None,
    action: Annotated[str | None, typer.Option(help="gpt.approved, or a prefix gpt.*")] = None,
    resource_type: Annotated[str | None, typer.Option(help="gpt, user, storage_object…")] = None,
    resource_id: Annotated[str | None, typer.Option(help="A resource's uuid")] = None,
    team_id: Annotated[str | None, typer.Option(help="A team's uuid")] = None,
    user_id: Annotated[str | None, typer.Option(help="The actor's uuid")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write audit rows, in chain order, to standard output."""
    if fmt not in FORMATS:
        fail("--format must be jsonl or csv")
    given = {
        "since": since,
        "until": until,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "team_id": team_id,
        "user_id": user_id,
    }
    try:
        filters = parse_filters({k: v for k, v in given.items() if v})
    except FilterError as exc:
        fail(str(exc))
    settings = load_settings(data_dir=data_dir)
    out = sys.stdout.buffer
    _owner_dsn_run(settings, lambda dsn: audit_commands.run_export(dsn, filters, fmt, out))


@audit_app.command("purge")
def audit_purge(
    before: Annotated[str, typer.Option(help="Remove rows older than this ISO date/time")],
    justification: Annotated[str, typer.Option(help="Why (recorded in the audit trail)")],
    data_dir: DataDirOption = None,
) -> None:
    """Remove old rows from the start of the chain; the purge itself is audited."""
    try:
        cutoff = parse_time("--before", before)
    except FilterError as exc:
        fail(str(exc))
    settings = load_settings(data_dir=data_dir)
    try:
        removed = _owner_dsn_run(
            settings, lambda dsn: audit_commands.run_purge(dsn, cutoff, justification)
        )
    except asyncpg.PostgresError as exc:
        fail(exc.args[0] if exc.args else str(exc))
    typer.echo(f"removed {removed} audit row(s) older than {cutoff.isoformat()}")
