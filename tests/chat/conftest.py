"""The chat tests use the REST tests' world (the RLS world with a token per user)."""

from tests.rest.conftest import world

__all__ = ["world"]
