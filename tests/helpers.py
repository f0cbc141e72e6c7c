"""Helpers the live-server tests share: addresses, owner queries, GoTrue errors, mail settings.

Pure functions only; the fixtures built on them (e.g. `mailbox`) live in tests/conftest.py.
"""

import asyncio
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

from tests.conftest import LiveServer, MigratedDatabase
from tests.mailbox import Mailbox

PASSWORD = "s3cret-pass!"
SITE = "http://app.test"
VERSION = {"X-Supabase-Api-Version": "2024-01-01"}


def new_email(prefix: str) -> str:
    """A fresh address no other test uses."""
    return f"{prefix}-{secrets.token_hex(6)}@example.com"


def owner_query(db: MigratedDatabase, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Run SQL as the owner (it sees everything, RLS aside) from a synchronous test."""

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(db.admin_dsn)
        try:
            return [tuple(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def audit_actions(db: MigratedDatabase, user_id: str) -> list[str]:
    """The audit log's actions on a user, oldest first."""
    rows = owner_query(
        db,
        "select action from public.audit_logs where resource_id = $1 order by created_at",
        user_id,
    )
    return [row[0] for row in rows]


def fragment(location: str) -> dict[str, str]:
    """The parameters in a redirect's fragment (the implicit flow's session)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


def expect_auth_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check a GoTrue error answer (status, body code, X-Sb-Error-Code); return its body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert response.headers["x-sb-error-code"] == code
    return body


def confirmed_user(server: LiveServer, email: str) -> str:
    """An account made through the admin API, confirmed, with PASSWORD; returns its id."""
    made = httpx.post(
        f"{server.url}/auth/v1/admin/users",
        headers={"apikey": server.anon_key, "Authorization": f"Bearer {server.service_role_key}"},
        json={"email": email, "password": PASSWORD, "email_confirm": True},
    )
    assert made.status_code == 200, made.text
    return str(made.json()["id"])


def generous_limits(*limits: str) -> dict[str, str]:
    """Per-IP or per-address rate limits (`signup_ip`, `email`, …) no test run reaches."""
    return {f"rate_limit_{name}": "10000/hour" for name in limits}


def mail_server_settings(mailbox: Mailbox, **overrides: str) -> dict[str, str]:
    """`running_server` settings mailing over plain SMTP to `mailbox`, with SITE as the site.

    Redirects are allowed under SITE; `overrides` adds settings or replaces these.
    """
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(mailbox.port),
        "smtp_starttls": "false",
        "site_url": SITE,
        "redirect_urls": f"{SITE}/*",
        **overrides,
    }
