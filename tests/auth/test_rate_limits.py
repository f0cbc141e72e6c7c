"""Rate limits on sign-in and sign-up: 429, Retry-After, GoTrue's code, per IP and per e-mail."""

import secrets
from collections.abc import Iterator

import httpx
import pytest

from gptdesk.auth.errors import AuthError
from gptdesk.auth.ratelimit import RateLimiter
from tests.conftest import LiveServer, MigratedDatabase, running_server


@pytest.fixture(scope="module")
def strict_server(db: MigratedDatabase) -> Iterator[LiveServer]:
    with running_server(
        db,
        open_signup="true",
        autoconfirm="true",
        rate_limit_sign_in_email="3/minute",
        rate_limit_signup_ip="4/minute",
        rate_limit_recover_ip="3/minute",
    ) as live:
        yield live


def test_sign_in_attempts_per_address(strict_server: LiveServer) -> None:
    headers = {"apikey": strict_server.anon_key, "X-Supabase-Api-Version": "2024-01-01"}
    url = f"{strict_server.url}/auth/v1/token?grant_type=password"
    target = f"victim-{secrets.token_hex(4)}@example.com"
    answers = [
        httpx.post(url, headers=headers, json={"email": target, "password": "guess-1234"})
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    limited = answers[-1]
    assert limited.json()["code"] == "over_request_rate_limit"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Another address is not affected by the first one's counter.
    other = httpx.post(url, headers=headers, json={"email": "else@example.com", "password": "x"})
    assert other.status_code == 400


def test_sign_ups_per_ip(strict_server: LiveServer) -> None:
    headers = {"apikey": strict_server.anon_key, "X-Supabase-Api-Version": "2024-01-01"}
    url = f"{strict_server.url}/auth/v1/signup"
    codes = [
        httpx.post(
            url,
            headers=headers,
            json={"email": f"s{i}-{secrets.token_hex(3)}@example.com", "password": "s3cret-pass!"},
        ).status_code
        for i in range(5)
    ]
    assert codes == [200, 200, 200, 200, 429]


def test_recovery_requests_per_ip(strict_server: LiveServer) -> None:
    """Per address (GPTDESK_RATE_LIMIT_EMAIL) is not enough: one client may spray addresses."""
    headers = {"apikey": strict_server.anon_key, "X-Supabase-Api-Version": "2024-01-01"}
    url = f"{strict_server.url}/auth/v1/recover"
    answers = [
        httpx.post(url, headers=headers, json={"email": f"r{i}-{secrets.token_hex(3)}@example.com"})
        for i in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "over_request_rate_limit"
    assert int(answers[-1].headers["retry-after"]) >= 1


async def test_limiter_counts_per_key() -> None:
    limiter = RateLimiter("memory://", {"probe": "2/minute"})
    await limiter.hit("probe", "a")
    await limiter.hit("probe", "A")  # keys are case-insensitive (e-mail addresses)
    with pytest.raises(AuthError) as refused:
        await limiter.hit("probe", "a")
    assert refused.value.status == 429 and "Retry-After" in refused.value.headers
    await limiter.hit("probe", "b")


def test_malformed_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid rate limit"):
        RateLimiter("memory://", {"probe": "lots"})


async def test_counters_shared_through_redis() -> None:
    """Two limiters (two workers) on one Redis see each other's hits."""
    first = RateLimiter("redis://127.0.0.1:6379", {"shared": "2/minute"})
    second = RateLimiter("redis://127.0.0.1:6379", {"shared": "2/minute"})
    key = secrets.token_hex(8)
    await first.hit("shared", key)
    await second.hit("shared", key)
    try:
        with pytest.raises(AuthError):
            await first.hit("shared", key)
    finally:
        first.close()
        second.close()
