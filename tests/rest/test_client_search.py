"""Full-text search through supabase-py: text_search on chat_messages.content.

The tsquery, plain, phrase and websearch forms, with and without a configuration, alone or
with an !inner embed, see only the messages RLS shows; an unknown configuration is 42704.
"""

from typing import Any

from supabase import Client

from tests.rest.client_world import (
    ANSWER,
    GPT_A_PRIVATE,
    QUESTION,
    ClientFor,
    api_error,
)
from tests.rest.world import World


def _search(client: Client, query: str, options: dict[str, Any] | None = None) -> list[str]:
    rows = (
        client.table("chat_messages")
        .select("content")
        .text_search("content", query, options)
        .order("created_at")
        .execute()
        .data
    )
    return [row["content"] for row in rows]


def test_text_search_tsquery_with_config(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert _search(client, "'travel' & 'policy'", {"config": "english"}) == [QUESTION]
    assert _search(client, "receipt & economy", {"config": "english"}) == [ANSWER]
    assert _search(client, "travel | receipts", {"config": "english"}) == [QUESTION, ANSWER]


def test_text_search_without_config(catalog: World, client_for: ClientFor) -> None:
    assert _search(client_for("user_a"), "receipts") == [ANSWER]


def test_text_search_plain(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    # plainto_tsquery ANDs the words; the english config stems policies to polici.
    assert _search(client, "travel policies", {"type": "plain", "config": "english"}) == [QUESTION]
    assert _search(client, "travel receipts", {"type": "plain", "config": "english"}) == []


def test_text_search_phrase(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert _search(client, "file receipts", {"type": "phrase", "config": "english"}) == [ANSWER]
    assert _search(client, "receipts file", {"type": "phrase", "config": "english"}) == []


def test_text_search_websearch(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    options = {"type": "web_search", "config": "english"}
    assert _search(client, '"book economy" -travel', options) == [ANSWER]
    assert _search(client, "travel or receipts", options) == [QUESTION, ANSWER]


def test_search_messages_with_their_session(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("chat_messages")
        .select("content, sender, session:chat_sessions!inner(title, gpt_id)")
        .text_search("content", "receipts", {"type": "web_search", "config": "english"})
        .eq("session.gpt_id", GPT_A_PRIVATE)
        .order("created_at", desc=True)
        .limit(20)
        .execute()
        .data
    )
    assert rows == [
        {
            "content": ANSWER,
            "sender": "gpt",
            "session": {"title": "User A asks the team GPT", "gpt_id": GPT_A_PRIVATE},
        }
    ]


def test_text_search_is_under_rls(catalog: World, client_for: ClientFor) -> None:
    options = {"type": "plain", "config": "english"}
    assert _search(client_for("user_b"), "travel policy", options) == []
    assert _search(client_for("admin_a"), "travel policy", options) == []


def test_text_search_unknown_config(catalog: World, client_for: ClientFor) -> None:
    query = (
        client_for("user_a")
        .table("chat_messages")
        .select("content")
        .text_search("content", "travel", {"config": "klingon"})
    )
    error = api_error(query.execute)
    assert error.code == "42704"
    assert error.message == 'text search configuration "klingon" does not exist'
