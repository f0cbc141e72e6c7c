"""The login role requests run through (`authenticator`) and how the server reaches it.

Requests never use the migrating (owner) account: the pool logs in as `authenticator`,
which has no privileges of its own and can only switch to anon, authenticated and
service_role. Its password is derived from the JWT secret, so every worker and host of a
deployment computes the same one, and the server sets it on start.
"""

import hashlib
import hmac
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

AUTHENTICATOR = "authenticator"


class DatabaseUrlError(ValueError):
    """GPTDESK_DATABASE_URL is not a usable postgresql:// URL."""


def authenticator_password(jwt_secret: str) -> str:
    """The authenticator's password, a keyed hash of the JWT secret."""
    return hmac.new(jwt_secret.encode(), b"gptdesk-authenticator", hashlib.sha256).hexdigest()


def authenticator_dsn(admin_dsn: str, jwt_secret: str) -> str:
    """The admin URL with the user and password swapped for the authenticator's."""
    parts = urlsplit(admin_dsn)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise DatabaseUrlError(
            "the database URL must look like postgresql://user:password@host:port/database"
        )
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = f":{parts.port}" if parts.port else ""
    password = quote(authenticator_password(jwt_secret), safe="")
    netloc = f"{AUTHENTICATOR}:{password}@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


async def set_authenticator_password(conn: asyncpg.Connection, jwt_secret: str) -> None:
    """Let the authenticator log in with the password derived from `jwt_secret`."""
    password = authenticator_password(jwt_secret)  # hex digits only: safe as a literal
    await conn.execute(f"alter role {AUTHENTICATOR} with login password '{password}'")
