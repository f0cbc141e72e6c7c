"""`gptdesk serve`: lock the data dir, bring up the database, migrate, print the keys, serve."""

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys

import structlog
import uvicorn

from gptdesk import __version__
from gptdesk.auth.keys import project_keys
from gptdesk.auth.signing import SYMMETRIC, SigningKeys, generate_private_key, write_private_key
from gptdesk.config import ConfigError, Settings
from gptdesk.datadir import DataDir
from gptdesk.db.database import open_database, prepare, redact
from gptdesk.db.embedded import free_port
from gptdesk.log import configure_logging

log = structlog.get_logger("gptdesk.server")


class ShutdownRequested(BaseException):
    """SIGINT or SIGTERM arrived outside uvicorn's own handling (or was re-raised by it)."""


def _request_shutdown(signum: int, _frame: object) -> None:
    raise ShutdownRequested(signum)


class PortInUse(Exception):
    """The HTTP port is taken."""


def check_port(host: str, port: int) -> None:
    """Fail before anything starts when the HTTP port cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} on {host} is already in use; stop what uses it or choose "
                    "another with --port (GPTDESK_PORT)"
                ) from None
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def resolve_secret(settings: Settings, data_dir: DataDir) -> str:
    """The JWT secret: GPTDESK_JWT_SECRET, else the one kept in the data dir."""
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
        if len(secret) < 32:
            raise ConfigError("GPTDESK_JWT_SECRET must be at least 32 characters long")
        return secret
    return data_dir.jwt_secret()


def resolve_signing_key(settings: Settings, data_dir: DataDir) -> Settings:
    """Settings with a signing key file when tokens are signed asymmetrically.

    Without GPTDESK_JWT_SIGNING_KEY_FILE a key is generated once into the data dir (0600), so
    every worker and every restart signs with the same key; hosts of one deployment must be
    given the same file.
    """
    if settings.jwt_algorithm == SYMMETRIC or settings.jwt_signing_key_file is not None:
        return settings
    path = data_dir.path / f"jwt_signing_key.{settings.jwt_algorithm.lower()}.pem"
    if not path.exists():
        # Another process may have made it a moment ago.
        with contextlib.suppress(FileExistsError):
            write_private_key(path, generate_private_key(settings.jwt_algorithm))
    return settings.model_copy(update={"jwt_signing_key_file": path})


def banner(settings: Settings, secret: str, database: str) -> str:
    """What a person needs to start using the server."""
    keys = project_keys(secret)
    return "\n".join(
        [
            f"GPT Desk {__version__} is serving at {settings.base_url}",
            f"  database          {database}",
            f"  anon key          {keys.anon_key}",
            f"  service_role key  {keys.service_role_key}",
            "  clients: create_client(URL, ANON_KEY); `gptdesk keys --json` prints these",
            "  first admin: .venv/bin/gptdesk user create --email you@example.com "
            "--role super_admin",
            f"  sign in: POST {settings.base_url}/auth/v1/token?grant_type=password "
            "(supabase: auth.sign_in_with_password)",
        ]
    )


def serve(settings: Settings) -> None:
    """Run GPT Desk until SIGINT/SIGTERM, then stop the embedded PostgreSQL cleanly."""
    configure_logging(settings.log_level, settings.log_format)
    # uvicorn handles both signals while it serves and re-raises them once it has stopped;
    # before and after that they unwind through the cleanup below and end in a clean exit.
    signal.signal(signal.SIGTERM, _request_shutdown)
    signal.signal(signal.SIGINT, _request_shutdown)
    if settings.port == 0:
        settings = settings.model_copy(update={"port": free_port()})
    data_dir = DataDir(settings.data_dir)
    data_dir.prepare()
    data_dir.lock()
    try:
        check_port(settings.host, settings.port)
        secret = resolve_secret(settings, data_dir)
        settings = resolve_signing_key(settings, data_dir)
        SigningKeys.load(secret, settings.jwt_algorithm, settings.jwt_signing_key_file)
        # Room for every worker's pool, plus the owner's and a psql or two.
        max_connections = max(100, settings.workers * settings.db_pool_max + 20)
        with open_database(
            settings.database_url, data_dir, settings.embedded_pg_port, max_connections
        ) as dsn:
            prepared = asyncio.run(prepare(dsn, secret))
            if prepared.applied:
                log.info("migrations applied", versions=prepared.applied)
            where = (
                f"{redact(dsn)}"
                if settings.database_url
                else f"embedded PostgreSQL {prepared.server_version} in {data_dir.path}"
            )
            print(banner(settings, secret, where), file=sys.stdout, flush=True)
            os.environ.update(
                GPTDESK_DATABASE_URL=dsn,
                GPTDESK_JWT_SECRET=secret,
                GPTDESK_DATA_DIR=str(data_dir.path),
            )
            if settings.jwt_signing_key_file is not None:
                os.environ["GPTDESK_JWT_SIGNING_KEY_FILE"] = str(settings.jwt_signing_key_file)
            uvicorn.run(
                "gptdesk.app:create_app",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                log_config=None,
                proxy_headers=True,
                server_header=False,
            )
    except ShutdownRequested:
        log.info("stopped")
    finally:
        data_dir.unlock()
