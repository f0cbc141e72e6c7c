"""Prompt building: instructions first, the newest history that fits, the question last."""

import pytest

from gptdesk.llm.prompt import PromptTooLong, build_prompt, estimate_tokens
from gptdesk.llm.providers.base import Message

HISTORY = [Message("user" if i % 2 == 0 else "assistant", f"message {i} " + "x" * 300)
           for i in range(10)]  # fmt: skip


def test_everything_fits_a_large_window() -> None:
    prompt = build_prompt(
        model="gpt-4o", instructions="Be brief.", history=HISTORY, question="Next?",
        max_tokens=1000,
    )  # fmt: skip
    assert prompt.dropped == 0
    assert prompt.messages[0] == Message("system", "Be brief.")
    assert prompt.messages[1:-1] == tuple(HISTORY)
    assert prompt.messages[-1] == Message("user", "Next?")


def test_a_small_window_keeps_the_newest_turns() -> None:
    # gpt-4 has 8,192 tokens; 7,500 go to the answer, leaving ~692 for the prompt.
    prompt = build_prompt(
        model="gpt-4", instructions="Be brief.", history=HISTORY, question="Next?",
        max_tokens=7500,
    )  # fmt: skip
    kept = prompt.messages[1:-1]
    assert 0 < len(kept) < len(HISTORY) and prompt.dropped == len(HISTORY) - len(kept)
    assert kept == tuple(HISTORY[-len(kept) :])
    total = sum(estimate_tokens(m) for m in prompt.messages)
    assert total <= 8192 - 7500


def test_a_question_that_cannot_fit_is_refused() -> None:
    with pytest.raises(PromptTooLong):
        build_prompt(
            model="offline", instructions=None, history=[], question="y" * 30_000,
            max_tokens=100,
        )  # fmt: skip


def test_no_instructions_no_system_message() -> None:
    prompt = build_prompt(
        model="unknown-model", instructions="  ", history=[], question="Hi", max_tokens=10
    )
    assert prompt.messages == (Message("user", "Hi"),)
