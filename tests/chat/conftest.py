"""The chat tests use the REST tests' world (the RLS world with a token per user), its
supabase-py clients, and a fake OpenAI-compatible upstream per module."""

from collections.abc import Iterator

import pytest

from tests.llm.fake_openai import FakeUpstream, fake_upstream
from tests.rest.conftest import client_for, world

__all__ = ["client_for", "upstream", "world"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    """The fake upstream, serving for one module."""
    with fake_upstream() as fake:
        yield fake
