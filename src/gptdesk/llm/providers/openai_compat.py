"""Any OpenAI-compatible HTTP API (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio, llama.cpp
server …) through the official `openai` SDK, streamed with the usage in the last chunk.

The SDK does the retries (with backoff) and the timeout; what comes back is translated into
the provider interface's deltas and finish, and its failures into ProviderError with the
status the upstream answered (504 for a timeout, 502 when it could not be reached).
"""

from collections.abc import AsyncIterator

import openai

from gptdesk.llm.providers.base import CompletionRequest, Delta, Finish, ProviderError, Usage


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
        try:
            chunks = await self.client.chat.completions.create(
                model=request.model,
                messages=[{"role": m.role, "content": m.content} for m in request.messages],
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
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
        except openai.APITimeoutError:
            raise ProviderError("the model provider did not answer in time", 504) from None
        except openai.APIStatusError as error:
            raise ProviderError(
                f"the model provider refused: {error.message}", error.status_code
            ) from None
        except openai.APIConnectionError as error:
            raise ProviderError(f"the model provider could not be reached: {error}", 502) from None
        yield Finish(reason or "stop", usage)

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self.client.close()
