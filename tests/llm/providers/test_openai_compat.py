"""The OpenAI-compatible provider against a real HTTP fake upstream, through the real SDK:
streamed and whole answers, and the upstream's failures before and during a stream."""

from collections.abc import Iterator

import pytest

from gptdesk.llm.providers.base import (
    Completion,
    CompletionRequest,
    Delta,
    Finish,
    Message,
    ProviderError,
    Usage,
)
from gptdesk.llm.providers.openai_compat import OpenAICompatibleProvider
from tests.llm.fake_openai import ANSWER, CUT_AFTER_WORDS, FakeUpstream, fake_upstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as fake:
        yield fake


def request(model: str) -> CompletionRequest:
    return CompletionRequest(
        model, (Message("system", "Be brief."), Message("user", "Say hello")), 0.2, 50
    )


async def run(upstream: FakeUpstream, model: str, **kw: float) -> list[Delta | Finish]:
    provider = OpenAICompatibleProvider(
        base_url=upstream.base_url, api_key="sk-test",
        timeout=kw.get("timeout", 5.0), max_retries=int(kw.get("max_retries", 0)),
    )  # fmt: skip
    try:
        return [event async for event in provider.stream(request(model))]
    finally:
        await provider.close()


async def test_streams_deltas_then_the_reported_usage(upstream: FakeUpstream) -> None:
    events = await run(upstream, "gpt-4o")
    assert "".join(e.text for e in events if isinstance(e, Delta)) == ANSWER
    assert events[-1] == Finish("stop", Usage(2 + 2, len(ANSWER.split())))
    sent = upstream.requests[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50


async def test_an_upstream_error_keeps_its_status(upstream: FakeUpstream) -> None:
    with pytest.raises(ProviderError) as caught:
        await run(upstream, "fail-401")
    assert caught.value.status == 401


async def test_retries_then_gives_up(upstream: FakeUpstream) -> None:
    before = len(upstream.requests)
    with pytest.raises(ProviderError) as caught:
        await run(upstream, "fail-500", max_retries=2)
    assert caught.value.status == 500
    assert len(upstream.requests) - before == 3  # the first try and two retries


async def test_a_slow_upstream_times_out_as_504(upstream: FakeUpstream) -> None:
    with pytest.raises(ProviderError) as caught:
        await run(upstream, "slow", timeout=0.3)
    assert caught.value.status == 504


async def test_an_unreachable_upstream_is_502() -> None:
    provider = OpenAICompatibleProvider(
        base_url="http://127.0.0.1:9/v1", api_key=None, timeout=2.0, max_retries=0
    )
    with pytest.raises(ProviderError) as caught:
        [event async for event in provider.stream(request("gpt-4o"))]
    await provider.close()
    assert caught.value.status == 502


async def complete(upstream: FakeUpstream, model: str, **kw: float) -> Completion:
    provider = OpenAICompatibleProvider(
        base_url=upstream.base_url, api_key="sk-test",
        timeout=kw.get("timeout", 5.0), max_retries=0,
    )  # fmt: skip
    try:
        return await provider.complete(request(model))
    finally:
        await provider.close()


async def test_a_whole_answer_comes_with_the_reported_usage(upstream: FakeUpstream) -> None:
    upstream.usage["gpt-4o-whole"] = (321, 7)
    answer = await complete(upstream, "gpt-4o-whole")
    assert answer == Completion(ANSWER, Finish("stop", Usage(321, 7)))
    sent = upstream.requests[-1]
    assert not sent.get("stream") and upstream.headers[-1]["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize(("model", "status"), [("drop", 502), ("stall", 504)])
async def test_a_stream_failing_midway_raises_after_its_deltas(
    upstream: FakeUpstream, model: str, status: int
) -> None:
    provider = OpenAICompatibleProvider(
        base_url=upstream.base_url, api_key=None, timeout=0.5, max_retries=0
    )
    seen: list[Delta | Finish] = []
    with pytest.raises(ProviderError) as caught:
        async for event in provider.stream(request(model)):
            seen.append(event)
    await provider.close()
    assert caught.value.status == status
    assert len(seen) == CUT_AFTER_WORDS and all(isinstance(e, Delta) for e in seen)


@pytest.mark.parametrize("model", ["truncate", "garbage"])
async def test_a_stream_without_a_finish_is_an_error(upstream: FakeUpstream, model: str) -> None:
    with pytest.raises(ProviderError):
        await run(upstream, model)


async def test_a_whole_answer_that_is_not_json_is_an_error(upstream: FakeUpstream) -> None:
    with pytest.raises(ProviderError) as caught:
        await complete(upstream, "garbage")
    assert caught.value.status == 502
