"""The offline model: built in, no network, the same answer to the same conversation.

For demos and tests. It says that it is the offline model and what it was asked, word by
word at a configurable pace. Its tokens are words (runs of non-space characters): that is
its tokenizer, so its usage is exact by definition, and `max_tokens` cuts the answer with
finish reason `length` as a real model's would.
"""

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

from gptdesk.llm.providers.base import Completion, CompletionRequest, Delta, Finish, Usage

MODEL = "offline"
_QUOTE_WORDS = 40


def count_tokens(text: str) -> int:
    """The offline model's tokens in `text`: its words."""
    return len(text.split())


def answer(request: CompletionRequest) -> str:
    """The whole answer the offline model gives to `request` (before max_tokens)."""
    asked = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    words = asked.split()
    quoted = " ".join(words[:_QUOTE_WORDS]) + (" …" if len(words) > _QUOTE_WORDS else "")
    digest = hashlib.sha256(
        "\n".join(f"{m.role}:{m.content}" for m in request.messages).encode()
    ).hexdigest()[:8]
    return (
        f"This is GPT Desk's offline model ({request.model}), answering without any network. "
        f'You asked: "{quoted}". '
        f"The conversation had {len(request.messages)} messages (fingerprint {digest})."
    )


class OfflineProvider:
    """Streams `answer()` a word at a time, `pace` seconds apart."""

    def __init__(
        self, pace: float = 0.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self.pace = pace
        self.sleep = sleep

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta | Finish]:
        """Deltas of the answer, then the finish with exact usage."""
        words = answer(request).split(" ")
        limit = max(request.max_tokens, 0)
        sent = words[:limit]
        for index, word in enumerate(sent):
            if self.pace and index:
                await self.sleep(self.pace)
            yield Delta(word if index == 0 else " " + word)
        yield Finish(
            "length" if len(sent) < len(words) else "stop",
            self.estimate_usage(request, " ".join(sent)),
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        """The whole answer at once (no pace)."""
        words = answer(request).split(" ")
        sent = " ".join(words[: max(request.max_tokens, 0)])
        reason = "length" if count_tokens(sent) < len(words) else "stop"
        return Completion(sent, Finish(reason, self.estimate_usage(request, sent)))

    def estimate_usage(self, request: CompletionRequest, answer: str) -> Usage:
        """Exact: the offline model's tokens are words."""
        prompt = sum(count_tokens(m.content) for m in request.messages)
        return Usage(prompt, count_tokens(answer))
