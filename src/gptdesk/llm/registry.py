"""The providers a worker knows: loaded from llm_providers (keys unsealed), kept a few
seconds, and turned into provider clients that are reused while their settings hold.

Reads run as the gateway role (the only role that may read the sealed keys). A change made
through this worker's /api/v1/providers is seen at once (`invalidate`); one made elsewhere
within `ttl` seconds.
"""

import asyncio
import time
from typing import Any

from gptdesk.auth.sealing import SealError, unseal
from gptdesk.db.scope import Scope
from gptdesk.llm.providers.base import Provider
from gptdesk.llm.providers.offline import OfflineProvider
from gptdesk.llm.providers.openai_compat import OpenAICompatibleProvider
from gptdesk.llm.routing import ENVIRONMENT_ID, FALLBACK_ID, ProviderConfig, Route, choose

SEAL_PURPOSE = "llm-provider-key"
_LOAD = """
select p.id::text as id, p.name, p.kind, p.base_url, p.models, p.is_default, p.enabled,
       p.timeout_seconds, p.max_retries, p.pace_ms, p.created_at, p.updated_at,
       s.api_key_sealed
  from public.llm_providers p
  left join public.llm_provider_secrets s on s.provider_id = p.id
"""


def config_from_row(row: Any, secret: str) -> ProviderConfig:
    """A provider's configuration from its row, its key unsealed with the server secret."""
    api_key, key_error = None, None
    if row["api_key_sealed"]:
        try:
            api_key = unseal(secret, SEAL_PURPOSE, row["api_key_sealed"], row["id"])
        except SealError:
            key_error = "the provider's API key does not open with this server's secret"
    return ProviderConfig(
        id=row["id"], name=row["name"], kind=row["kind"], base_url=row["base_url"],
        models=tuple(row["models"]), is_default=row["is_default"], enabled=row["enabled"],
        timeout_seconds=float(row["timeout_seconds"]), max_retries=row["max_retries"],
        pace_ms=row["pace_ms"], api_key=api_key, created_at=row["created_at"],
        key_error=key_error,
    )  # fmt: skip


def build_provider(config: ProviderConfig) -> Provider:
    """The client for `config`."""
    if config.kind == "offline":
        return OfflineProvider(pace=config.pace_ms / 1000)
    return OpenAICompatibleProvider(
        base_url=config.base_url,
        api_key=config.api_key,
        timeout=config.timeout_seconds,
        max_retries=config.max_retries,
    )


class ProviderRegistry:
    """Routes models to provider clients, from the table and the environment."""

    def __init__(
        self,
        scope: Scope,
        secret: str,
        *,
        environment: ProviderConfig | None,
        fallback: ProviderConfig | None,
        ttl: float = 5.0,
    ) -> None:
        self.scope = scope
        self.secret = secret
        self.environment = environment
        self.fallback = fallback
        self.ttl = ttl
        self._configs: list[ProviderConfig] = []
        self._loaded_at = -float("inf")
        self._clients: dict[ProviderConfig, Provider] = {}
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the loaded providers: the next request reads them again."""
        self._loaded_at = -float("inf")

    async def refresh(self) -> None:
        """Reload the providers if they are older than `ttl`. The reload takes a pooled
        connection of its own: call it before opening a transaction, never inside one (a
        full pool of turns each waiting for a second connection would wait forever)."""
        if time.monotonic() - self._loaded_at > self.ttl:
            async with self._lock:
                if time.monotonic() - self._loaded_at > self.ttl:
                    await self._load()

    async def route(self, model: str) -> Route | None:
        """Where `model` goes now, or None when nothing serves it."""
        await self.refresh()
        return self.cached_route(model)

    def cached_route(self, model: str) -> Route | None:
        """Where `model` goes by the providers last loaded (no I/O)."""
        return choose(self._configs, model, environment=self.environment, fallback=self.fallback)

    def client(self, config: ProviderConfig) -> Provider:
        """The client for `config`, reused while the configuration is unchanged."""
        found = self._clients.get(config)
        if found is None:
            found = self._clients[config] = build_provider(config)
        return found

    async def _load(self) -> None:
        async with self.scope.as_gateway(read_only=True) as conn:
            rows = await conn.fetch(_LOAD)
        self._configs = [config_from_row(row, self.secret) for row in rows]
        # Clients of changed configurations are dropped, not closed: a request may still
        # be streaming through one.
        live = set(self._configs) | {c for c in (self.environment, self.fallback) if c}
        self._clients = {c: client for c, client in self._clients.items() if c in live}
        self._loaded_at = time.monotonic()

    async def close(self) -> None:
        """Close every client's connections."""
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if close is not None:
                await close()
        self._clients.clear()


def environment_provider(
    api_key: str | None, base_url: str | None, timeout: float, max_retries: int
) -> ProviderConfig | None:
    """The provider OPENAI_API_KEY / OPENAI_BASE_URL configure, if either is set."""
    if not api_key and not base_url:
        return None
    return ProviderConfig(
        id=ENVIRONMENT_ID, name="environment", kind="openai", base_url=base_url, models=(),
        is_default=False, enabled=True, timeout_seconds=timeout, max_retries=max_retries,
        pace_ms=0, api_key=api_key,
    )  # fmt: skip


def fallback_provider(pace_ms: int) -> ProviderConfig:
    """The built-in offline model that answers what no provider serves."""
    return ProviderConfig(
        id=FALLBACK_ID, name="offline", kind="offline", base_url=None, models=(),
        is_default=False, enabled=True, timeout_seconds=60, max_retries=0, pace_ms=pace_ms,
        api_key=None,
    )  # fmt: skip
