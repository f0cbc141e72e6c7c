"""What every provider takes and yields: a chat request in, text deltas and a finish out."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One message of the conversation sent to the model."""

    role: Role
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    """A chat completion: the model, the conversation and the sampling settings."""

    model: str
    messages: tuple[Message, ...]
    temperature: float = 0.7
    max_tokens: int = 2000


@dataclass(frozen=True)
class Usage:
    """Tokens as the provider counted (and will charge) them."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Delta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True)
class Finish:
    """The end of an answer: why it stopped and, when the provider reported it, the usage."""

    reason: str  # stop, length, content_filter …
    usage: Usage | None


class ProviderError(Exception):
    """The provider failed (unreachable, refused, timed out); `status` as it answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Completion:
    """A whole answer: its text and its finish."""

    text: str
    finish: Finish


class Provider(Protocol):
    """Answers a completion request, streamed (deltas, then exactly one Finish) or whole."""

    def stream(self, request: CompletionRequest) -> AsyncIterator[Delta | Finish]: ...

    async def complete(self, request: CompletionRequest) -> Completion: ...

    def estimate_usage(self, request: CompletionRequest, answer: str) -> Usage:
        """The usage of an answer cut short (the provider reported none): exact where the
        provider's tokenizer is known, otherwise an upper estimate."""
        ...
