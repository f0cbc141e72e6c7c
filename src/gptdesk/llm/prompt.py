"""The prompt sent for a chat turn: the GPT's instructions, then as much history as fits.

Pure. A model's context window holds the prompt and the answer, so the prompt's budget is
the window less the GPT's max_tokens. The system message and the new user message always
go; older messages are added newest first while they fit, so a long conversation keeps its
latest turns. Without the model's tokenizer here, tokens are estimated generously (a token
per 3 characters, plus a few per message for the chat format), so a prompt estimated to fit
does fit.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from gptdesk.llm.providers.base import Message

DEFAULT_CONTEXT_WINDOW = 8_192
# Context windows (tokens) of common models; any other model gets DEFAULT_CONTEXT_WINDOW.
CONTEXT_WINDOWS = {
    "gpt-4o": 128_000, "gpt-4o-mini": 128_000, "gpt-4.1": 1_047_576, "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576, "gpt-4-turbo": 128_000, "gpt-4": 8_192, "gpt-3.5-turbo": 16_385,
    "o1": 200_000, "o3-mini": 200_000, "o4-mini": 200_000, "claude-3-5-sonnet": 200_000,
    "claude-3-5-haiku": 200_000, "claude-3-opus": 200_000, "gemini-1.5-pro": 2_097_152,
    "gemini-1.5-flash": 1_048_576, "offline": 8_192,
}  # fmt: skip
_CHARS_PER_TOKEN = 3
_TOKENS_PER_MESSAGE = 4


class PromptTooLong(Exception):
    """The new message alone does not fit the model's context with room for the answer."""


@dataclass(frozen=True)
class Prompt:
    """The messages to send and how many history messages were left out."""

    messages: tuple[Message, ...]
    dropped: int


def estimate_tokens(message: Message) -> int:
    """An upper estimate of the tokens `message` takes in a chat prompt."""
    return _TOKENS_PER_MESSAGE + -(-len(message.content) // _CHARS_PER_TOKEN)


def build_prompt(
    *,
    model: str,
    instructions: str | None,
    history: Sequence[Message],
    question: str,
    max_tokens: int,
) -> Prompt:
    """The prompt for `question` after `history` (oldest first), within the model's budget."""
    budget = CONTEXT_WINDOWS.get(model, DEFAULT_CONTEXT_WINDOW) - max_tokens
    system = (Message("system", instructions),) if instructions and instructions.strip() else ()
    asked = Message("user", question)
    used = sum(estimate_tokens(m) for m in (*system, asked))
    if used > budget:
        raise PromptTooLong(
            f"the message needs about {used} tokens; {model} has room for {budget} "
            f"besides the {max_tokens} of its answer"
        )
    kept: list[Message] = []
    for message in reversed(history):
        cost = estimate_tokens(message)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    return Prompt((*system, *kept, asked), len(history) - len(kept))
