"""Delivering budget alerts to their budgets' webhooks.

Alerts are queued by the database (budget_alerts.webhook_status = pending) in the
transaction that recorded the usage crossing a threshold; every worker polls for due
deliveries, claims them (skip locked, so each is sent by one worker), POSTs the JSON and
reports the outcome, which schedules retries. Addresses on private, loopback or link-local
networks are refused unless GPTDESK_WEBHOOK_ALLOW_PRIVATE_NETWORKS is on: a team admin
must not be able to make the server call the internal network.
"""

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import structlog

from gptdesk import __version__
from gptdesk.db.scope import Scope

POLL_SECONDS = 2.0
BATCH = 20
log = structlog.get_logger(__name__)


class WebhookRefused(Exception):
    """A webhook address the server will not call."""


async def check_address(url: str, allow_private: bool) -> None:
    """Refuse URLs that resolve to private, loopback, link-local or reserved addresses."""
    host = urlsplit(url).hostname
    if not host:
        raise WebhookRefused("the URL has no host")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookRefused(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise WebhookRefused(f"{host} resolves to a non-public address ({address})")


class BudgetWebhooks:
    """Polls for due budget webhooks and delivers them."""

    def __init__(self, scope: Scope, *, timeout: float, allow_private: bool) -> None:
        self.scope = scope
        self.timeout = timeout
        self.allow_private = allow_private

    async def run(self) -> None:
        """Deliver due webhooks until cancelled."""
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            while True:
                try:
                    await self.deliver_due(client)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("budget webhooks: could not poll", error=str(exc))
                await asyncio.sleep(POLL_SECONDS)

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Claim and send the due deliveries; how many were claimed."""
        async with self.scope.as_gateway() as conn:
            claimed = await conn.fetch("select analytics.claim_budget_webhooks($1) as d", BATCH)
        await asyncio.gather(*(self._deliver(client, row["d"]) for row in claimed))
        return len(claimed)

    async def _deliver(self, client: httpx.AsyncClient, delivery: dict[str, Any]) -> None:
        error: str | None = None
        try:
            await check_address(delivery["url"], self.allow_private)
            response = await client.post(
                delivery["url"],
                json=delivery["payload"],
                headers={
                    "User-Agent": f"GPTDesk-Webhooks/{__version__}",
                    "X-GPTDesk-Event": "budget.threshold_reached",
                    "X-GPTDesk-Delivery": str(delivery["alert_id"]),
                },
            )
            if not response.is_success:
                error = f"HTTP {response.status_code}"
        except WebhookRefused as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log.info(
            "budget webhook",
            alert_id=delivery["alert_id"],
            attempt=delivery["attempt"],
            delivered=error is None,
            error=error,
        )
        async with self.scope.as_gateway() as conn:
            await conn.execute(
                "select analytics.finish_budget_webhook($1::uuid, $2, $3)",
                delivery["alert_id"],
                error is None,
                error,
            )
