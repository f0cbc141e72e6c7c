"""Embeds through supabase-py: resource embedding answers as PostgREST's does, under RLS.

Many-to-one, one-to-many, nested and many-to-many (through gpt_ratings) embeds with aliases,
hints and spreads; !inner, and filters, order and limits on embedded resources; a row RLS
hides stays hidden inside an embed; an ambiguous or unknown relationship is PGRST201 or
PGRST200.
"""

import httpx
import pytest
from postgrest.types import CountMethod

from tests.rest.client_world import (
    ALL_IN_A,
    ANSWER,
    B_DESK_BOT,
    CODE_BOT,
    DESK_HELPER,
    DESK_WRITER,
    GPT_A_PRIVATE,
    QUESTION,
    SALES_COACH,
    SESSION_A,
    ClientFor,
    api_error,
    names,
    team_a_gpts,
)
from tests.rest.world import TEAM_A, World


def test_embed_many_to_one_with_alias(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"), "name, owner:users!creator_id(email, full_name)")
        .in_("id", [DESK_HELPER, DESK_WRITER])
        .order("name")
        .execute()
        .data
    )
    assert rows == [
        {"name": "Desk Helper", "owner": {"email": "admin_a@team-a.test", "full_name": "Admin A"}},
        {"name": "Desk Writer", "owner": {"email": "user_a@team-a.test", "full_name": "User A"}},
    ]


def test_embed_many_to_one_hidden_by_rls_is_null(catalog: World, client_for: ClientFor) -> None:
    # user_b's profile is not visible to user_a; the public GPT is.
    seen_by_a = (
        client_for("user_a")
        .table("gpts")
        .select("name, owner:users!creator_id(email)")
        .eq("id", B_DESK_BOT)
        .execute()
        .data
    )
    assert seen_by_a == [{"name": "Team B Desk Bot", "owner": None}]
    seen_by_b = (
        client_for("user_b")
        .table("gpts")
        .select("name, owner:users!creator_id(email)")
        .eq("id", B_DESK_BOT)
        .execute()
        .data
    )
    assert seen_by_b == [{"name": "Team B Desk Bot", "owner": {"email": "user_b@team-b.test"}}]


@pytest.mark.parametrize(
    "embed",
    [
        "creator:users!creator_id(email)",  # hint: the foreign key column
        "creator:users!gpts_creator_id_fkey(email)",  # hint: the constraint
        "creator:creator_id(email)",  # the foreign key column as the target
        "creator:gpts_creator_id_fkey(email)",  # the constraint as the target
    ],
)
def test_embed_many_to_one_disambiguated(catalog: World, client_for: ClientFor, embed: str) -> None:
    rows = client_for("user_a").table("gpts").select(f"name, {embed}").eq("id", CODE_BOT).execute()
    assert rows.data == [{"name": "Code Bot", "creator": {"email": "user_a@team-a.test"}}]


def test_embed_users_without_hint_is_ambiguous(catalog: World, rest: httpx.Client) -> None:
    # gpts -> users is many-to-one through creator_id and many-to-many through gpt_ratings
    # (whose primary key is made of its two foreign keys): PostgREST refuses to guess.
    answer = rest.get(
        "/gpts",
        params={"select": "name,owner:users(email)", "id": f"eq.{CODE_BOT}"},
        headers=catalog.headers("user_a"),
    )
    assert answer.status_code == 300, answer.text
    body = answer.json()
    assert body["code"] == "PGRST201"
    assert body["message"] == (
        "Could not embed because more than one relationship was found for 'gpts' and 'users'"
    )
    assert "'users!gpts_creator_id_fkey'" in body["hint"]
    assert "'users!gpt_ratings'" in body["hint"]


def test_embed_many_to_many_through_ratings(scratch: World, client_for: ClientFor) -> None:
    # user_a rated the private GPT (world.sql); user_a sees their own profile.
    rows = (
        client_for("user_a")
        .table("gpts")
        .select("name, raters:users!gpt_ratings(email)")
        .eq("id", GPT_A_PRIVATE)
        .execute()
        .data
    )
    assert rows == [{"name": "Team A private GPT", "raters": [{"email": "user_a@team-a.test"}]}]


def test_embed_spread(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("gpts")
        .select("name, ...users!creator_id(owner_email:email, full_name)")
        .eq("id", DESK_WRITER)
        .execute()
        .data
    )
    assert rows == [
        {"name": "Desk Writer", "owner_email": "user_a@team-a.test", "full_name": "User A"}
    ]


def test_embed_not_null_filter_keeps_parents_with_rows(
    catalog: World, client_for: ClientFor
) -> None:
    rows = (
        team_a_gpts(client_for("user_a"), "name, chat_sessions(id)")
        .not_.is_("chat_sessions", None)
        .execute()
        .data
    )
    assert names(rows) == ["Team A private GPT"]
    without = (
        team_a_gpts(client_for("user_a"), "name, chat_sessions(id)")
        .is_("chat_sessions", None)
        .execute()
        .data
    )
    assert len(without) == ALL_IN_A - 1


def test_embed_one_to_many_under_rls(catalog: World, client_for: ClientFor) -> None:
    query = "name, chat_sessions(id, title)"
    mine = client_for("user_a").table("gpts").select(query).eq("id", GPT_A_PRIVATE).execute()
    assert mine.data == [
        {
            "name": "Team A private GPT",
            "chat_sessions": [{"id": SESSION_A, "title": "User A asks the team GPT"}],
        }
    ]
    # Chats are private to their user: the team admin sees the GPT, not the chat.
    theirs = client_for("admin_a").table("gpts").select(query).eq("id", GPT_A_PRIVATE).execute()
    assert theirs.data == [{"name": "Team A private GPT", "chat_sessions": []}]


def test_embed_nested(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("chat_sessions")
        .select(
            "title, gpt:gpts(name, owner:users!gpts_creator_id_fkey(email)), chat_messages(sender)"
        )
        .eq("id", SESSION_A)
        .order("created_at", foreign_table="chat_messages")
        .execute()
        .data
    )
    assert rows == [
        {
            "title": "User A asks the team GPT",
            "gpt": {"name": "Team A private GPT", "owner": {"email": "user_a@team-a.test"}},
            "chat_messages": [{"sender": "user"}, {"sender": "gpt"}],
        }
    ]


def test_embed_inner_keeps_only_parents_with_rows(catalog: World, client_for: ClientFor) -> None:
    result = (
        client_for("user_a")
        .table("gpts")
        .select("name, chat_sessions!inner(title)", count=CountMethod.exact)
        .eq("team_id", TEAM_A)
        .execute()
    )
    assert result.data == [
        {"name": "Team A private GPT", "chat_sessions": [{"title": "User A asks the team GPT"}]}
    ]
    assert result.count == 1


def test_embed_inner_with_filter_on_the_embedded_table(
    catalog: World, client_for: ClientFor
) -> None:
    client = client_for("user_a")
    matching = (
        team_a_gpts(client, "name, chat_sessions!inner(title)")
        .eq("chat_sessions.title", "User A asks the team GPT")
        .execute()
        .data
    )
    assert names(matching) == ["Team A private GPT"]
    none = (
        team_a_gpts(client, "name, chat_sessions!inner(title)")
        .eq("chat_sessions.title", "nothing like it")
        .execute()
        .data
    )
    assert none == []


def test_embed_filter_without_inner_filters_children_only(
    catalog: World, client_for: ClientFor
) -> None:
    rows = (
        client_for("user_a")
        .table("gpts")
        .select("name, chat_sessions(title)")
        .eq("id", GPT_A_PRIVATE)
        .eq("chat_sessions.title", "nothing like it")
        .execute()
        .data
    )
    assert rows == [{"name": "Team A private GPT", "chat_sessions": []}]


@pytest.mark.parametrize("path", ["owner", "users"])
def test_embed_inner_aliased_filtered_by_alias_or_table(
    catalog: World, client_for: ClientFor, path: str
) -> None:
    rows = (
        team_a_gpts(client_for("user_a"), "name, owner:users!creator_id!inner(email)")
        .eq(f"{path}.email", "user_a@team-a.test")
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Code Bot", "Desk Writer", "Team A private GPT"]
    assert all(row["owner"] == {"email": "user_a@team-a.test"} for row in rows)


def test_embedded_order_and_limit(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("chat_sessions")
        .select("title, chat_messages(content, sender)")
        .eq("id", SESSION_A)
        .order("created_at", desc=True, foreign_table="chat_messages")
        .limit(1, foreign_table="chat_messages")
        .execute()
        .data
    )
    assert rows == [
        {
            "title": "User A asks the team GPT",
            "chat_messages": [{"content": ANSWER, "sender": "gpt"}],
        }
    ]


def test_embedded_order_limit_and_filter_by_alias(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("chat_sessions")
        .select("title, msgs:chat_messages(content)")
        .eq("id", SESSION_A)
        .order("created_at", foreign_table="msgs")
        .limit(1, foreign_table="msgs")
        .execute()
        .data
    )
    assert rows == [{"title": "User A asks the team GPT", "msgs": [{"content": QUESTION}]}]
    replies = (
        client_for("user_a")
        .table("chat_sessions")
        .select("msgs:chat_messages(content)")
        .eq("id", SESSION_A)
        .eq("msgs.sender", "gpt")
        .execute()
        .data
    )
    assert replies == [{"msgs": [{"content": ANSWER}]}]


def test_filter_on_a_nested_embed(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("gpts")
        .select("name, chat_sessions(title, chat_messages(sender))")
        .eq("id", GPT_A_PRIVATE)
        .eq("chat_sessions.chat_messages.sender", "gpt")
        .execute()
        .data
    )
    assert rows == [
        {
            "name": "Team A private GPT",
            "chat_sessions": [
                {"title": "User A asks the team GPT", "chat_messages": [{"sender": "gpt"}]}
            ],
        }
    ]


def test_embedded_range(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("chat_sessions")
        .select("chat_messages(content)")
        .eq("id", SESSION_A)
        .order("created_at", foreign_table="chat_messages")
        .range(1, 1, foreign_table="chat_messages")
        .execute()
        .data
    )
    assert rows == [{"chat_messages": [{"content": ANSWER}]}]


def test_order_by_a_to_one_embed(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"), "name, owner:users!creator_id(email)")
        .in_("id", [DESK_HELPER, DESK_WRITER, SALES_COACH, CODE_BOT])
        .order("owner(email)", desc=True)
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Code Bot", "Desk Writer", "Desk Helper", "Sales Coach"]


def test_embedding_errors(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    to_many_order = team_a_gpts(client, "name, chat_sessions(title)").order("chat_sessions(title)")
    assert api_error(to_many_order.execute).code == "PGRST118"
    not_embedded = team_a_gpts(client, "name").eq("chat_sessions.title", "x")
    error = api_error(not_embedded.execute)
    assert error.code == "PGRST108"
    assert error.message == "'chat_sessions' is not an embedded resource in this request"


def test_inner_embed_of_a_hidden_parent_row(catalog: World, client_for: ClientFor) -> None:
    # user_a sees team B's public GPT but not its creator's profile.
    rows = (
        client_for("user_a")
        .table("gpts")
        .select("name, owner:users!creator_id!inner(email)")
        .eq("id", B_DESK_BOT)
        .execute()
    )
    assert rows.data == []


def test_unknown_relationship_is_pgrst200(catalog: World, client_for: ClientFor) -> None:
    query = client_for("user_a").table("gpts").select("name, owners(email)")
    error = api_error(query.execute)
    assert error.code == "PGRST200"
    assert (
        error.message
        == "Could not find a relationship between 'gpts' and 'owners' in the schema cache"
    )
