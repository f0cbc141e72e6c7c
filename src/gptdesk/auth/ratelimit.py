"""Rate limits on the auth endpoints, per client IP and per e-mail (the `limits` library).

Memory storage counts per process; set GPTDESK_RATE_LIMIT_STORAGE to a redis:// URL when
more than one process or host serves, so all of them share the counters.
"""

import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from gptdesk.auth.errors import AuthError


def parse_rule(text: str) -> RateLimitItem:
    """A rule like '150/5minutes' or '10 per hour'; ValueError when malformed."""
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"invalid rate limit {text!r}: {exc}") from None


def async_storage_uri(uri: str) -> str:
    """The `limits` asyncio flavour of a storage URI (memory://, redis://…)."""
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimiter:
    """Counts hits per (rule name, key) in a moving window and refuses the excess."""

    def __init__(self, storage_uri: str, rules: dict[str, str]) -> None:
        self.storage: Storage = storage_from_string(async_storage_uri(storage_uri))
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.rules = {name: parse_rule(rule) for name, rule in rules.items()}

    def close(self) -> None:
        """Drop a Redis storage's connections (limits itself offers no close)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            pool.disconnect()

    async def hit(self, name: str, key: str, *, code: str = "over_request_rate_limit") -> None:
        """Count one hit of `key` against rule `name`; 429 with Retry-After when over it."""
        rule = self.rules[name]
        if await self.strategy.hit(rule, name, key.lower()):
            return
        reset_at, _remaining = await self.strategy.get_window_stats(rule, name, key.lower())
        retry_after = max(1, int(reset_at - time.time() + 0.999))
        message = (
            "Email rate limit exceeded"
            if code == "over_email_send_rate_limit"
            else "Request rate limit reached"
        )
        raise AuthError(429, code, message, headers={"Retry-After": str(retry_after)})
