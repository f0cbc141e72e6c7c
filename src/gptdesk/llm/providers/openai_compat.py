"""Any OpenAI-compatible HTTP API (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio, llama.cpp
server …) through the official `openai` SDK, streamed with the usage in the last chunk.

The SDK does the retries (with backoff) and the timeout; what comes back is translated into
the provider interface's deltas and finish, and its failures into ProviderError with the
status the upstream answered (504 for a timeout, 502 when it could not be reached).
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import openai
from openai.types.chat import ChatCompletion

from gptdesk.llm.prompt import estimate_tokens
from gptdesk.llm.providers.base import (
    Completion,
    CompletionRequest,
    Delta,
    Finish,
    Message,
    ProviderError,
    Usage,
)


class OpenAICompatibleProvider:
    """Chat completions from one OpenAI-compatible endpoint."""

    def __init__(
        self, *, base_url: str | None, api_key: str | None, timeout: float, max_retries: int
    ) -> None:
        self.client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",  # local servers (Ollama, vLLM) need none
            timeout=timeout,
            max_retries=max_retries,
        )

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta | Finish]:
        """The answer's deltas, then the finish with the usage the upstream reported."""
        reason, usage = None, None
        with _translated_errors():
            chunks = await self.client.chat.completions.create(
                model=request.model,
                messages=[{"role": m.role, "content": m.content} for m in request.messages],
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            try:
                async for chunk in chunks:
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    if not chunk.choices:  # the usage chunk has no choices
                        continue
                    choice = chunk.choices[0]
                    if choice.delta is not None and choice.delta.content:
                        yield Delta(choice.delta.content)
                    if choice.finish_reason:
                        reason = choice.finish_reason
            finally:
                await chunks.close()  # a cancelled answer stops the upstream's generation
        if reason is None:  # the stream ended before the model finished: not an answer
            raise ProviderError("the model provider's answer ended before it was complete", 502)
        yield Finish(reason, usage)

    async def complete(self, request: CompletionRequest) -> Completion:
        """The whole answer in one response, with the usage the upstream reported."""
        with _translated_errors():
            response = await self.client.chat.completions.create(
                model=request.model,
                messages=[{"role": m.role, "content": m.content} for m in request.messages],
                temperature=request.temperature,
                max_tokens=request.max_tokens,
            )
        if not isinstance(response, ChatCompletion):  # e.g. a web page at the base URL
            raise ProviderError("the model provider's answer is not a chat completion", 502)
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content if choice and choice.message else None) or ""
        usage = (
            Usage(response.usage.prompt_tokens, response.usage.completion_tokens)
            if response.usage is not None
            else None
        )
        return Completion(text, Finish((choice.finish_reason if choice else None) or "stop", usage))

    def estimate_usage(self, request: CompletionRequest, answer: str) -> Usage:
        """An upper estimate: the upstream's tokenizer is not known here."""
        prompt = sum(estimate_tokens(m) for m in request.messages)
        completion = estimate_tokens(Message("assistant", answer)) if answer else 0
        return Usage(prompt, completion)

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self.client.close()


@contextmanager
def _translated_errors() -> Iterator[None]:
    """The SDK's failures as ProviderError with the status to answer."""
    try:
        yield
    except openai.APITimeoutError:
        raise ProviderError("the model provider did not answer in time", 504) from None
    except openai.APIStatusError as error:
        raise ProviderError(
            f"the model provider refused: {error.message}", error.status_code
        ) from None
    except openai.APIConnectionError as error:
        raise ProviderError(f"the model provider could not be reached: {error}", 502) from None
    except openai.APIError as error:  # an error event inside a stream
        raise ProviderError(f"the model provider failed: {error.message}", 502) from None
