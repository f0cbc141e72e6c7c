"""The seed's ChatAPI and AnalyticsAPI through supabase-py: chats, usage and audit logs.

Chat sessions and messages go from create to delete, private to their user, with message
counts kept by the database and replies written by the server only; usage analytics and
audit logs are read by the team admin alone, and usage is written by the server alone.
"""

import httpx
from postgrest.types import CountMethod

from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.client_world import (
    GPT_A_PRIVATE,
    GPT_B_PRIVATE,
    SESSION_A,
    USER_A,
    ClientFor,
    api_error,
)
from tests.rest.world import TEAM_A, World

# ---------------------------------------------------------------------------------------
# Chats, as the seed's ChatAPI uses them
# ---------------------------------------------------------------------------------------


def test_chat_session_and_messages_crud(
    scratch: World, client_for: ClientFor, db: MigratedDatabase
) -> None:
    client = client_for("user_a")
    session = (
        client.table("chat_sessions")
        .insert({"title": "tmp Expenses", "gpt_id": GPT_A_PRIVATE, "context": {"topic": "money"}})
        .execute()
        .data[0]
    )
    assert session["user_id"] == USER_A
    assert (session["status"], session["message_count"]) == ("active", 0)
    session_id = session["id"]

    sent = (
        client.table("chat_messages")
        .insert(
            [
                {"session_id": session_id, "sender": "user", "content": "tmp How do I claim?"},
                {"session_id": session_id, "sender": "user", "content": "tmp And taxis?"},
            ]
        )
        .execute()
    )
    assert [m["content"] for m in sent.data] == ["tmp How do I claim?", "tmp And taxis?"]

    sessions = (
        client.table("chat_sessions")
        .select("id, title, message_count, gpt:gpts(name)")
        .eq("user_id", USER_A)
        .order("updated_at", desc=True)
        .execute()
        .data
    )
    assert {"id": session_id, "title": "tmp Expenses", "message_count": 2,
            "gpt": {"name": "Team A private GPT"}} in sessions  # fmt: skip

    messages = (
        client.table("chat_messages")
        .select("content, sender")
        .eq("session_id", session_id)
        .order("created_at")
        .order("content")
        .execute()
        .data
    )
    assert {m["content"] for m in messages} == {"tmp How do I claim?", "tmp And taxis?"}

    renamed = (
        client.table("chat_sessions")
        .update({"title": "tmp Expense claims", "status": "completed"})
        .eq("id", session_id)
        .execute()
    )
    assert [(s["title"], s["status"]) for s in renamed.data] == [
        ("tmp Expense claims", "completed")
    ]

    edited = (
        client.table("chat_messages")
        .update({"content": "tmp How do I claim expenses?"})
        .eq("session_id", session_id)
        .eq("content", "tmp How do I claim?")
        .execute()
    )
    assert [m["content"] for m in edited.data] == ["tmp How do I claim expenses?"]

    deleted = (
        client.table("chat_sessions").delete(count=CountMethod.exact).eq("id", session_id).execute()
    )
    assert deleted.count == 1
    assert owner_query(
        db, "select count(*) from public.chat_messages where session_id = $1::uuid", session_id
    ) == [(0,)]


def test_chats_are_private(scratch: World, client_for: ClientFor) -> None:
    other = client_for("user_b")
    assert other.table("chat_sessions").select("id").eq("id", SESSION_A).execute().data == []
    assert (
        other.table("chat_messages").select("id").eq("session_id", SESSION_A).execute().data == []
    )
    intrusion = other.table("chat_messages").insert(
        {"session_id": SESSION_A, "sender": "user", "content": "tmp hello from b"}
    )
    error = api_error(intrusion.execute)
    assert error.code == "42501"
    assert error.message == 'new row violates row-level security policy for table "chat_messages"'


def test_user_cannot_write_gpt_replies(scratch: World, client_for: ClientFor) -> None:
    forged = (
        client_for("user_a")
        .table("chat_messages")
        .insert({"session_id": SESSION_A, "sender": "gpt", "content": "tmp forged reply"})
    )
    assert api_error(forged.execute).code == "42501"


def test_message_count_is_kept_by_the_database(scratch: World, client_for: ClientFor) -> None:
    forged = (
        client_for("user_a")
        .table("chat_sessions")
        .insert({"title": "tmp Forged", "gpt_id": GPT_A_PRIVATE, "message_count": 5})
    )
    error = api_error(forged.execute)
    assert error.code == "42501"
    assert error.message == "chat_sessions.message_count is maintained by the database"


def test_chat_on_an_invisible_gpt_is_refused(scratch: World, client_for: ClientFor) -> None:
    refused = (
        client_for("user_a")
        .table("chat_sessions")
        .insert({"title": "tmp Sneaky", "gpt_id": GPT_B_PRIVATE})
    )
    assert api_error(refused.execute).code == "42501"


# ---------------------------------------------------------------------------------------
# Analytics and audit, as the seed's AnalyticsAPI and logAction use them
# ---------------------------------------------------------------------------------------


def test_usage_analytics_for_the_team_admin(catalog: World, client_for: ClientFor) -> None:
    query = (
        "tokens_used, response_time_ms, cost, cost_text:cost::text, model:metrics->>model, "
        "gpt:gpts(name)"
    )
    rows = (
        client_for("admin_a")
        .table("usage_analytics")
        .select(query)
        .eq("team_id", TEAM_A)
        .gte("date", "2000-01-01")
        .order("created_at", desc=True)
        .execute()
        .data
    )
    assert rows == [
        {
            "tokens_used": 19,
            "response_time_ms": 850,
            "cost": 0.0004,
            "cost_text": "0.00040000",  # numeric(16,8) since migration 0015
            "model": "gpt-4",
            "gpt": {"name": "Team A private GPT"},
        }
    ]
    assert client_for("user_b").table("usage_analytics").select("id").execute().data == []


def test_usage_is_written_by_the_server_only(catalog: World, rest: httpx.Client) -> None:
    answer = rest.post(
        "/usage_analytics",
        json={"user_id": USER_A, "gpt_id": GPT_A_PRIVATE, "team_id": TEAM_A, "tokens_used": 1},
        headers=catalog.headers("user_a"),
    )
    assert answer.status_code == 403
    assert answer.json() == {
        "code": "42501",
        "details": None,
        "hint": None,
        "message": "permission denied for table usage_analytics",
    }


def test_audit_logs_for_the_team_admin(catalog: World, client_for: ClientFor) -> None:
    admin = client_for("admin_a")
    logged = admin.rpc(
        "log_action",
        {"action": "gpt.reviewed", "resource_type": "gpt", "resource_id": GPT_A_PRIVATE,
         "details": {"from": "pending", "to": "approved"}},
    ).execute()  # fmt: skip
    rows = (
        admin.table("audit_logs")
        .select("action, resource_type, details, ip_address, actor:users(email)")
        .eq("id", logged.data)
        .execute()
        .data
    )
    assert rows == [
        {
            "action": "gpt.reviewed",
            "resource_type": "gpt",
            "details": {"from": "pending", "to": "approved"},
            "ip_address": "127.0.0.1",
            "actor": {"email": "admin_a@team-a.test"},
        }
    ]
    assert client_for("user_a").table("audit_logs").select("id").execute().data == []
