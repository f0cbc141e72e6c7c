"""Which provider answers a model: pure rules over the configured providers.

In order: an enabled provider that lists the model (the oldest, when several do); the
enabled default provider; the environment's provider (OPENAI_API_KEY / OPENAI_BASE_URL);
the built-in offline model when the fallback is on; otherwise none. A provider answered by
the offline model is priced as the offline model (free): its tokens are not the asked
model's.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gptdesk.llm.providers import offline

Kind = Literal["openai", "offline"]


@dataclass(frozen=True)
class ProviderConfig:
    """One provider as configured (a row of llm_providers, or the environment's)."""

    id: str
    name: str
    kind: Kind
    base_url: str | None
    models: tuple[str, ...]
    is_default: bool
    enabled: bool
    timeout_seconds: float
    max_retries: int
    pace_ms: int
    api_key: str | None
    created_at: datetime | None = None
    key_error: str | None = None  # the sealed key did not open


# The providers that exist without configuration.
ENVIRONMENT_ID = "environment"
FALLBACK_ID = "offline-fallback"


@dataclass(frozen=True)
class Route:
    """Where a model's request goes, and the model its usage is priced as."""

    provider: ProviderConfig
    priced_model: str


def choose(
    configured: Sequence[ProviderConfig],
    model: str,
    *,
    environment: ProviderConfig | None,
    fallback: ProviderConfig | None,
) -> Route | None:
    """The route for `model`, or None when nothing serves it."""
    enabled = [p for p in configured if p.enabled]
    listing = sorted(
        (p for p in enabled if model in p.models),
        key=lambda p: (p.created_at.timestamp() if p.created_at else 0.0, p.name),
    )
    default = next((p for p in enabled if p.is_default), None)
    provider = next(iter(listing), None) or default or environment or fallback
    if provider is None:
        return None
    return Route(provider, offline.MODEL if provider.kind == "offline" else model)
