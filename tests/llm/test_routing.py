"""Which provider answers a model, pure: a listing provider (the oldest), the default, the
environment's, the offline fallback, or none; offline answers are priced as offline."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gptdesk.llm.registry import environment_provider, fallback_provider
from gptdesk.llm.routing import ENVIRONMENT_ID, FALLBACK_ID, ProviderConfig, Route, choose

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def config(name: str, *models: str, **fields: object) -> ProviderConfig:
    base = ProviderConfig(
        id=name, name=name, kind="openai", base_url="http://models.test/v1", models=models,
        is_default=False, enabled=True, timeout_seconds=60, max_retries=2, pace_ms=0,
        api_key=None, created_at=T0,
    )  # fmt: skip
    return replace(base, **fields)  # type: ignore[arg-type]


ENV = environment_provider("sk-env", None, 30.0, 1)
FALLBACK = fallback_provider(0)


def route(
    configured: list[ProviderConfig], model: str, **kw: ProviderConfig | None
) -> Route | None:
    return choose(
        configured,
        model,
        environment=kw.get("environment", ENV),
        fallback=kw.get("fallback", FALLBACK),
    )


def test_a_provider_listing_the_model_answers_it() -> None:
    listing = config("listing", "gpt-4o", "gpt-4o-mini")
    default = config("default", is_default=True)
    found = route([default, listing], "gpt-4o-mini")
    assert found == Route(listing, "gpt-4o-mini")


def test_the_oldest_listing_provider_wins_then_the_name() -> None:
    older = config("zeta", "m", created_at=T0)
    newer = config("alpha", "m", created_at=T0 + timedelta(seconds=1))
    assert route([newer, older], "m") == Route(older, "m")
    same_a, same_b = config("a", "m"), config("b", "m")
    assert route([same_b, same_a], "m") == Route(same_a, "m")


def test_a_disabled_provider_is_skipped() -> None:
    disabled = config("off", "m", enabled=False, created_at=T0 - timedelta(days=1))
    enabled = config("on", "m")
    assert route([disabled, enabled], "m") == Route(enabled, "m")
    assert route([disabled], "m") == Route(ENV, "m")
    disabled_default = config("default", is_default=True, enabled=False)
    assert route([disabled_default], "m") == Route(ENV, "m")


def test_a_model_no_provider_lists_goes_to_the_default() -> None:
    default = config("default", is_default=True)
    assert route([config("other", "x"), default], "m") == Route(default, "m")


def test_then_to_the_environment_then_offline_then_nowhere() -> None:
    assert route([config("other", "x")], "m") == Route(ENV, "m")
    assert route([], "m", environment=None) == Route(FALLBACK, "offline")
    assert route([], "m", environment=None, fallback=None) is None


def test_an_offline_provider_is_priced_as_the_offline_model() -> None:
    paced = config("paced", "gpt-4", kind="offline", base_url=None, pace_ms=200)
    assert route([paced], "gpt-4") == Route(paced, "offline")
    default = config("default", kind="offline", base_url=None, is_default=True)
    assert route([default], "claude-3-opus") == Route(default, "offline")


def test_a_provider_without_a_creation_time_counts_as_oldest() -> None:
    unknown = config("unknown", "m", created_at=None)
    assert route([config("known", "m"), unknown], "m") == Route(unknown, "m")


@pytest.mark.parametrize(
    ("key", "url", "expected"),
    [(None, None, None), ("sk-x", None, ("sk-x", None)),
     (None, "http://local:11434/v1", (None, "http://local:11434/v1"))],
)  # fmt: skip
def test_the_environment_provider_exists_when_a_key_or_a_url_is_set(
    key: str | None, url: str | None, expected: tuple[str | None, str | None] | None
) -> None:
    env = environment_provider(key, url, 12.5, 3)
    if expected is None:
        assert env is None
        return
    assert env is not None
    assert (env.api_key, env.base_url) == expected
    assert (env.id, env.kind, env.models, env.is_default, env.enabled) == (
        ENVIRONMENT_ID, "openai", (), False, True,
    )  # fmt: skip
    assert (env.timeout_seconds, env.max_retries) == (12.5, 3)


def test_the_fallback_is_the_offline_model_at_its_pace() -> None:
    fallback = fallback_provider(250)
    assert (fallback.id, fallback.kind, fallback.pace_ms, fallback.api_key) == (
        FALLBACK_ID, "offline", 250, None,
    )  # fmt: skip
