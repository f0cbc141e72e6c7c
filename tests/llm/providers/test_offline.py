"""The offline provider: deterministic, self-describing, exact usage, max_tokens honoured."""

from gptdesk.llm.providers.base import CompletionRequest, Delta, Finish, Message, Usage
from gptdesk.llm.providers.offline import OfflineProvider, answer, count_tokens

REQUEST = CompletionRequest(
    "offline",
    (Message("system", "You are helpful."), Message("user", "What is our leave policy?")),
)


async def collect(provider: OfflineProvider, request: CompletionRequest) -> list[Delta | Finish]:
    return [event async for event in provider.stream(request)]


async def test_the_same_conversation_gets_the_same_answer() -> None:
    first = await collect(OfflineProvider(), REQUEST)
    second = await collect(OfflineProvider(), REQUEST)
    assert first == second
    text = "".join(e.text for e in first if isinstance(e, Delta))
    assert text == answer(REQUEST)
    assert "offline model" in text and "What is our leave policy?" in text


async def test_usage_is_exact_in_its_own_tokens() -> None:
    events = await collect(OfflineProvider(), REQUEST)
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.reason == "stop"
    text = "".join(e.text for e in events if isinstance(e, Delta))
    # "You are helpful." is 3 words, "What is our leave policy?" 5.
    assert finish.usage == Usage(3 + 5, count_tokens(text))


async def test_max_tokens_cuts_the_answer_with_length() -> None:
    short = CompletionRequest(REQUEST.model, REQUEST.messages, max_tokens=4)
    events = await collect(OfflineProvider(), short)
    deltas = [e for e in events if isinstance(e, Delta)]
    assert len(deltas) == 4
    finish = events[-1]
    assert isinstance(finish, Finish)
    assert finish.reason == "length" and finish.usage is not None
    assert finish.usage.completion_tokens == 4


async def test_it_waits_its_pace_between_words() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    short = CompletionRequest(REQUEST.model, REQUEST.messages, max_tokens=5)
    await collect(OfflineProvider(pace=0.02, sleep=sleep), short)
    assert waits == [0.02] * 4  # between the 5 words, not before the first
