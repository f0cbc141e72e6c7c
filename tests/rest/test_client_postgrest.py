"""/rest/v1 through the official supabase-py client: the seed's queries and each PostgREST feature.

Runs against the RLS world (tests/rls/world.sql) plus a catalog of GPTs the owner adds for
this module (`catalog`), so ordering, paging, search and array/JSON filters have rows to
work on. Every row a test writes is named or titled `tmp …` (or is a rating of the world's
public GPT) and is removed by the `scratch` fixture after the test, so no test sees
another's writes. Where the client hides the status or headers, the same request is made
over raw HTTP (`rest`).
"""

import asyncio
import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from postgrest.exceptions import APIError
from postgrest.types import CountMethod, ReturnMethod
from supabase import Client

from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.conftest import TEAM_A, TEAM_B, USERS, World

ClientFor = Callable[[str], Client]

USER_A = USERS["user_a"]
ADMIN_A = USERS["admin_a"]
USER_B = USERS["user_b"]
GPT_A_PRIVATE = "30000000-0000-4000-8000-0000000000a1"
GPT_A_PUBLIC = "30000000-0000-4000-8000-0000000000a2"
GPT_B_PRIVATE = "30000000-0000-4000-8000-0000000000b1"
SESSION_A = "40000000-0000-4000-8000-0000000000a1"
QUESTION = "What is our travel policy?"
ANSWER = "Book economy and file receipts within 30 days."

DESK_HELPER = "31000000-0000-4000-8000-000000000001"
DESK_WRITER = "31000000-0000-4000-8000-000000000002"
CODE_BOT = "31000000-0000-4000-8000-000000000003"
SALES_COACH = "31000000-0000-4000-8000-000000000004"
LEGAL_REVIEWER = "31000000-0000-4000-8000-000000000005"
B_DESK_BOT = "31000000-0000-4000-8000-000000000021"
WRITER_DESCRIPTION = 'Drafts replies, "politely"'
ACTIVE_IN_A = 14  # the world's two GPTs, four catalog GPTs and eight fillers (usage 11 … 18)
ALL_IN_A = 15  # and the inactive Legal Reviewer

_CATALOG = f"""
insert into public.gpts
  (id, name, description, category, status, team_id, creator_id, usage_count, tags,
   settings, is_public, approval_status)
values
  ('{DESK_HELPER}', 'Desk Helper', 'Answers helpdesk tickets', 'support', 'active',
   '{TEAM_A}', '{ADMIN_A}', 50, '{{support,email,"customer care"}}',
   '{{"model": "gpt-4o", "voice": {{"tone": "formal"}}, "languages": ["en", "fr"]}}', false,
   'approved'),
  ('{DESK_WRITER}', 'Desk Writer', $${WRITER_DESCRIPTION}$$, 'writing', 'active',
   '{TEAM_A}', '{USER_A}', 40, '{{writing,email}}', '{{"model": "gpt-4"}}', false, 'approved'),
  ('{CODE_BOT}', 'Code Bot', 'Reviews pull requests for the desk team', 'engineering',
   'active', '{TEAM_A}', '{USER_A}', 30, '{{code}}', '{{"model": "gpt-4o"}}', false,
   'approved'),
  ('{SALES_COACH}', 'Sales Coach', null, 'sales', 'active',
   '{TEAM_A}', '{ADMIN_A}', 25, '{{}}', '{{}}', false, 'approved'),
  ('{LEGAL_REVIEWER}', 'Legal Reviewer', 'Checks contracts', 'legal', 'inactive',
   '{TEAM_A}', '{ADMIN_A}', 100, '{{legal}}', '{{}}', false, 'approved'),
  ('{B_DESK_BOT}', 'Team B Desk Bot', 'Public desk bot of team B', 'support', 'active',
   '{TEAM_B}', '{USER_B}', 999, '{{support}}', '{{}}', true, 'approved');
insert into public.gpts
  (id, name, description, category, status, team_id, creator_id, usage_count, approval_status)
select ('31000000-0000-4000-8000-0000000001' || lpad(n::text, 2, '0'))::uuid,
       'Filler ' || lpad(n::text, 2, '0'), 'Filler', 'misc', 'active',
       '{TEAM_A}', '{ADMIN_A}', 10 + n, 'approved'
from generate_series(1, 8) n;
"""

_UNCATALOG = "delete from public.gpts where id::text like '31000000-%'"

# Everything a test may have written: `tmp …` GPTs and chats (messages cascade), ratings of
# the world's public GPT (its rating is recomputed to 0), user_a's preferences.
_SCRATCH_CLEANUP = f"""
delete from public.gpts where name like 'tmp %';
delete from public.chat_sessions where title like 'tmp %';
delete from public.gpt_ratings where gpt_id = '{GPT_A_PUBLIC}';
update public.users set preferences = '{{}}' where id = '{USER_A}';
"""


def owner_execute(db: MigratedDatabase, sql: str) -> None:
    """Run SQL (several statements, no parameters) as the owner."""

    async def run() -> None:
        conn = await asyncpg.connect(db.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def catalog(world: World, db: MigratedDatabase) -> Iterator[World]:
    """The world plus the catalog GPTs (team A, and one public GPT of team B)."""
    owner_execute(db, _UNCATALOG)
    owner_execute(db, _CATALOG)
    try:
        yield world
    finally:
        owner_execute(db, _UNCATALOG)


@pytest.fixture
def scratch(catalog: World, db: MigratedDatabase) -> Iterator[World]:
    """The catalog world; whatever the test wrote is removed afterwards."""
    try:
        yield catalog
    finally:
        owner_execute(db, _SCRATCH_CLEANUP)


def names(rows: list[Any]) -> list[str]:
    """The `name` of each row, in order."""
    return [row["name"] for row in rows]


def team_a_gpts(client: Client, columns: str = "name") -> Any:
    """A select of team A's GPTs (the start of most filter tests)."""
    return client.table("gpts").select(columns).eq("team_id", TEAM_A)


def api_error(call: Callable[[], object]) -> APIError:
    """The APIError a client call raises."""
    with pytest.raises(APIError) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------------------------------
# The seed's GPTsAPI.getGPTs
# ---------------------------------------------------------------------------------------


def test_get_gpts_top_ten_of_a_team(catalog: World, client_for: ClientFor) -> None:
    result = (
        client_for("user_a")
        .table("gpts")
        .select("id, name, description, usage_count")
        .eq("team_id", TEAM_A)
        .eq("status", "active")
        .order("usage_count", desc=True)
        .limit(10)
        .execute()
    )
    assert names(result.data) == [
        "Desk Helper", "Desk Writer", "Code Bot", "Sales Coach",
        "Filler 08", "Filler 07", "Filler 06", "Filler 05", "Filler 04", "Filler 03",
    ]  # fmt: skip
    assert result.data[0] == {
        "id": DESK_HELPER,
        "name": "Desk Helper",
        "description": "Answers helpdesk tickets",
        "usage_count": 50,
    }
    assert result.count is None


def test_get_gpts_of_another_team_shows_only_public_ones(
    catalog: World, client_for: ClientFor
) -> None:
    query = client_for("user_a").table("gpts").select("name").eq("team_id", TEAM_B)
    assert names(query.order("name").execute().data) == ["Team B Desk Bot"]  # public only
    everything = client_for("super_admin").table("gpts").select("name").eq("team_id", TEAM_B)
    assert names(everything.order("name").execute().data) == [
        "Team B Desk Bot",
        "Team B private GPT",
    ]


def test_get_gpts_by_category(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .eq("status", "active")
        .eq("category", "support")
        .order("usage_count", desc=True)
        .execute()
        .data
    )
    assert names(rows) == ["Desk Helper"]


def test_get_gpts_search_by_name(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .ilike("name", "%desk%")
        .order("usage_count", desc=True)
        .execute()
        .data
    )
    assert names(rows) == ["Desk Helper", "Desk Writer"]


def test_get_gpts_search_by_name_or_description(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .eq("status", "active")
        .or_("name.ilike.%desk%,description.ilike.%desk%")
        .order("usage_count", desc=True)
        .execute()
        .data
    )
    assert names(rows) == ["Desk Helper", "Desk Writer", "Code Bot"]


def test_get_gpts_search_with_star_wildcards(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .or_("name.ilike.*DESK*,description.ilike.*pull*")
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Code Bot", "Desk Helper", "Desk Writer"]


def test_get_gpts_page_with_exact_count(catalog: World, client_for: ClientFor) -> None:
    result = (
        client_for("user_a")
        .table("gpts")
        .select("id, name", count=CountMethod.exact)
        .eq("team_id", TEAM_A)
        .eq("status", "active")
        .order("usage_count", desc=True)
        .range(2, 5)
        .execute()
    )
    assert names(result.data) == ["Code Bot", "Sales Coach", "Filler 08", "Filler 07"]
    assert result.count == ACTIVE_IN_A


def test_get_gpts_page_status_and_content_range(catalog: World, rest: httpx.Client) -> None:
    params = {
        "select": "id,name",
        "team_id": f"eq.{TEAM_A}",
        "status": "eq.active",
        "order": "usage_count.desc",
        "offset": "2",
        "limit": "4",
    }
    headers = catalog.headers("user_a")
    counted = rest.get("/gpts", params=params, headers={**headers, "Prefer": "count=exact"})
    assert counted.status_code == 206, counted.text
    assert counted.headers["content-range"] == f"2-5/{ACTIVE_IN_A}"
    uncounted = rest.get("/gpts", params=params, headers=headers)
    assert uncounted.status_code == 200
    assert uncounted.headers["content-range"] == "2-5/*"
    whole = rest.get(
        "/gpts",
        params={"select": "id", "team_id": f"eq.{TEAM_A}", "status": "eq.active"},
        headers={**headers, "Prefer": "count=exact"},
    )
    assert whole.status_code == 200
    assert whole.headers["content-range"] == f"0-{ACTIVE_IN_A - 1}/{ACTIVE_IN_A}"


def test_get_gpts_last_page_and_past_the_end(catalog: World, client_for: ClientFor) -> None:
    query = client_for("user_a").table("gpts").select("name", count=CountMethod.exact)
    last = (
        query.eq("team_id", TEAM_A)
        .eq("status", "active")
        .order("usage_count", desc=True)
        .range(12, 21)
        .execute()
    )
    assert names(last.data) == ["Team A private GPT", "Team A public GPT"]
    assert last.count == ACTIVE_IN_A
    beyond = (
        client_for("user_a")
        .table("gpts")
        .select("name", count=CountMethod.exact)
        .eq("team_id", TEAM_A)
        .range(100, 109)
    )
    assert api_error(beyond.execute).code == "PGRST103"


def test_count_only_with_head(catalog: World, client_for: ClientFor) -> None:
    result = (
        client_for("user_a")
        .table("gpts")
        .select("*", count=CountMethod.exact, head=True)
        .eq("team_id", TEAM_A)
        .eq("status", "active")
        .execute()
    )
    assert result.count == ACTIVE_IN_A
    assert result.data == []


def test_planned_count_is_a_number(catalog: World, client_for: ClientFor) -> None:
    result = (
        client_for("user_a")
        .table("gpts")
        .select("id", count=CountMethod.planned)
        .eq("team_id", TEAM_A)
        .limit(1)
        .execute()
    )
    assert isinstance(result.count, int)
    assert len(result.data) == 1


# ---------------------------------------------------------------------------------------
# select=: aliases, casts, JSON paths, embeds
# ---------------------------------------------------------------------------------------


def test_select_aliases(catalog: World, client_for: ClientFor) -> None:
    row = (
        client_for("user_a")
        .table("gpts")
        .select("gpt_name:name, uses:usage_count, id")
        .eq("id", DESK_HELPER)
        .execute()
        .data[0]
    )
    assert row == {"gpt_name": "Desk Helper", "uses": 50, "id": DESK_HELPER}


def test_select_casts(catalog: World, client_for: ClientFor) -> None:
    row = (
        client_for("user_a")
        .table("gpts")
        .select("usage_count::text, stars:rating::text, temperature::float8")
        .eq("id", GPT_A_PRIVATE)
        .execute()
        .data[0]
    )
    assert row == {"usage_count": "1", "stars": "5.00", "temperature": 0.7}


def test_select_json_paths(catalog: World, client_for: ClientFor) -> None:
    row = (
        client_for("user_a")
        .table("gpts")
        .select("name, settings->>model, settings->voice->>tone, voice:settings->voice")
        .eq("id", DESK_HELPER)
        .execute()
        .data[0]
    )
    assert row == {
        "name": "Desk Helper",
        "model": "gpt-4o",
        "tone": "formal",
        "voice": {"tone": "formal"},
    }


def test_select_json_array_elements(catalog: World, client_for: ClientFor) -> None:
    row = (
        client_for("user_a")
        .table("gpts")
        .select("first:settings->languages->0, second:settings->languages->>1, settings->languages")
        .eq("id", DESK_HELPER)
        .execute()
        .data[0]
    )
    assert row == {"first": "en", "second": "fr", "languages": ["en", "fr"]}
    filtered = team_a_gpts(client_for("user_a")).eq("settings->languages->>1", "fr").execute()
    assert names(filtered.data) == ["Desk Helper"]


def test_select_json_path_of_a_missing_key_is_null(catalog: World, client_for: ClientFor) -> None:
    row = (
        client_for("user_a")
        .table("gpts")
        .select("name, model:settings->>model")
        .eq("id", SALES_COACH)
        .execute()
        .data[0]
    )
    assert row == {"name": "Sales Coach", "model": None}


def test_filter_and_order_on_json_paths(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .eq("settings->>model", "gpt-4o")
        .order("name", desc=True)
        .execute()
        .data
    )
    assert names(rows) == ["Desk Helper", "Code Bot"]
    ordered = (
        team_a_gpts(client_for("user_a"), "name, model:settings->>model")
        .in_("id", [DESK_HELPER, DESK_WRITER, CODE_BOT])
        .order("settings->>model", desc=True)
        .order("name")
        .execute()
        .data
    )
    assert [(r["model"], r["name"]) for r in ordered] == [
        ("gpt-4o", "Code Bot"),
        ("gpt-4o", "Desk Helper"),
        ("gpt-4", "Desk Writer"),
    ]


def test_filter_on_a_json_path_as_jsonb(catalog: World, client_for: ClientFor) -> None:
    rows = team_a_gpts(client_for("user_a")).eq("settings->voice", '{"tone": "formal"}').execute()
    assert names(rows.data) == ["Desk Helper"]
    quoted = team_a_gpts(client_for("user_a")).eq("settings->model", '"gpt-4"').execute()
    assert names(quoted.data) == ["Desk Writer"]


def test_json_column_of_users_preferences(scratch: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    updated = (
        client.table("users")
        .update({"preferences": {"theme": "dark", "notifications": {"email": False}}})
        .eq("id", USER_A)
        .execute()
    )
    assert updated.data[0]["preferences"] == {"theme": "dark", "notifications": {"email": False}}
    row = (
        client.table("users")
        .select("email, theme:preferences->>theme, by_mail:preferences->notifications->email")
        .eq("preferences->>theme", "dark")
        .execute()
        .data
    )
    assert row == [{"email": "user_a@team-a.test", "theme": "dark", "by_mail": False}]


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


# ---------------------------------------------------------------------------------------
# Horizontal filters
# ---------------------------------------------------------------------------------------


def test_eq_and_neq(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert names(team_a_gpts(client).eq("category", "engineering").execute().data) == ["Code Bot"]
    assert names(team_a_gpts(client).neq("status", "active").execute().data) == ["Legal Reviewer"]


def test_comparisons(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")

    def by_usage(query: Any) -> list[str]:
        return names(query.order("usage_count").execute().data)

    assert by_usage(team_a_gpts(client).gt("usage_count", 40)) == ["Desk Helper", "Legal Reviewer"]
    assert by_usage(team_a_gpts(client).gte("usage_count", 40)) == [
        "Desk Writer",
        "Desk Helper",
        "Legal Reviewer",
    ]
    assert by_usage(team_a_gpts(client).lt("usage_count", 11)) == [
        "Team A public GPT",
        "Team A private GPT",
    ]
    assert by_usage(team_a_gpts(client).lte("usage_count", 11)) == [
        "Team A public GPT",
        "Team A private GPT",
        "Filler 01",
    ]
    assert by_usage(team_a_gpts(client).gt("usage_count", 12).lt("usage_count", 15)) == [
        "Filler 03",
        "Filler 04",
    ]


def test_comparisons_on_timestamps_and_numerics(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    rated = team_a_gpts(client).gte("rating", "4.5").execute().data
    assert names(rated) == ["Team A private GPT"]
    old = team_a_gpts(client).lt("created_at", "2000-01-01T00:00:00+00:00").execute().data
    assert old == []


def test_like_and_ilike(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert names(team_a_gpts(client).like("name", "Desk%").order("name").execute().data) == [
        "Desk Helper",
        "Desk Writer",
    ]
    assert team_a_gpts(client).like("name", "desk%").execute().data == []
    assert names(team_a_gpts(client).like("name", "*Bot").execute().data) == ["Code Bot"]
    assert names(team_a_gpts(client).ilike("name", "%WRITER").execute().data) == ["Desk Writer"]


def test_match_and_imatch(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    matched = team_a_gpts(client).filter("name", "match", "^Desk (H|W)").order("name").execute()
    assert names(matched.data) == ["Desk Helper", "Desk Writer"]
    imatched = team_a_gpts(client).filter("name", "imatch", "bot$").execute()
    assert names(imatched.data) == ["Code Bot"]


def test_like_and_ilike_any_and_all_of(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    any_of = team_a_gpts(client).ilike_any_of("name", "%coach,%bot").order("name").execute()
    assert names(any_of.data) == ["Code Bot", "Sales Coach"]
    all_of = team_a_gpts(client).like_all_of("name", "Desk%,%er").order("name").execute()
    assert names(all_of.data) == ["Desk Helper", "Desk Writer"]


def test_in(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    rows = team_a_gpts(client).in_("name", ["Code Bot", "Sales Coach", "Nobody"]).order("name")
    assert names(rows.execute().data) == ["Code Bot", "Sales Coach"]
    statuses = team_a_gpts(client).in_("status", ["inactive", "suspended"]).execute()
    assert names(statuses.data) == ["Legal Reviewer"]
    assert team_a_gpts(client).in_("name", []).execute().data == []


def test_in_with_reserved_characters(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .in_("description", [WRITER_DESCRIPTION, "Checks contracts"])
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Desk Writer", "Legal Reviewer"]


def test_is(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert names(team_a_gpts(client).is_("description", None).execute().data) == ["Sales Coach"]
    assert names(team_a_gpts(client).is_("is_public", True).execute().data) == ["Team A public GPT"]
    not_public = team_a_gpts(client).is_("is_public", False).execute().data
    assert len(not_public) == ALL_IN_A - 1


def test_is_distinct(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .filter("category", "isdistinct", "misc")
        .neq("category", "support")
        .order("name")
        .execute()
    )
    # Unlike neq, IS DISTINCT FROM keeps the rows whose category is null; neq drops them.
    assert names(rows.data) == [
        "Code Bot", "Desk Writer", "Legal Reviewer", "Sales Coach"
    ]  # fmt: skip
    with_nulls = (
        team_a_gpts(client_for("user_a"))
        .filter("category", "isdistinct", "misc")
        .is_("category", None)
        .order("name")
        .execute()
    )
    assert names(with_nulls.data) == ["Team A private GPT", "Team A public GPT"]


def test_not(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    assert names(team_a_gpts(client).not_.eq("status", "active").execute().data) == [
        "Legal Reviewer"
    ]
    described = team_a_gpts(client).not_.is_("description", None).execute().data
    assert "Sales Coach" not in names(described)
    assert len(described) == ALL_IN_A - 1
    outside = (
        team_a_gpts(client)
        .not_.in_("category", ["misc", "support", "writing", "engineering"])
        .order("name")
        .execute()
    )
    # NOT IN leaves out rows whose category is null, as SQL does.
    assert names(outside.data) == ["Legal Reviewer", "Sales Coach"]
    assert names(team_a_gpts(client).not_.like("name", "*e*").execute().data) == []


def test_or_nested_with_and(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .eq("status", "active")
        .or_("usage_count.gte.40,and(category.eq.engineering,usage_count.lt.35)")
        .order("usage_count", desc=True)
        .execute()
        .data
    )
    assert names(rows) == ["Desk Helper", "Desk Writer", "Code Bot"]


def test_or_with_negations_and_nested_or(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .or_(
            "and(category.eq.misc,usage_count.not.lt.18),"
            "and(status.eq.active,or(name.eq.Sales Coach,description.is.null))"
        )
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Filler 08", "Sales Coach"]
    negated_tree = (
        team_a_gpts(client_for("user_a"))
        .eq("category", "misc")
        .or_("not.and(usage_count.gte.12,usage_count.lte.17),name.eq.Nobody")
        .order("name")
        .execute()
        .data
    )
    assert names(negated_tree) == ["Filler 01", "Filler 08"]


def test_or_with_quoted_values(catalog: World, client_for: ClientFor) -> None:
    # Inside a logic tree a value may be double-quoted (a backslash escapes the next
    # character), so it can hold the tree's own separators.
    plain = team_a_gpts(client_for("user_a")).or_('name.eq."Code Bot",name.eq.x').execute()
    assert names(plain.data) == ["Code Bot"]
    rows = (
        team_a_gpts(client_for("user_a"))
        .or_('description.eq."Drafts replies, \\"politely\\"",category.eq.legal')
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Desk Writer", "Legal Reviewer"]


def test_or_with_in_lists(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .or_('name.in.("Code Bot","Sales Coach"),category.in.(legal)')
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Code Bot", "Legal Reviewer", "Sales Coach"]


def test_top_level_value_is_taken_literally(catalog: World, client_for: ClientFor) -> None:
    rows = team_a_gpts(client_for("user_a")).eq("description", WRITER_DESCRIPTION).execute()
    assert names(rows.data) == ["Desk Writer"]


def test_negation_inside_a_tree_goes_after_the_column(
    catalog: World, client_for: ClientFor
) -> None:
    # PostgREST's grammar: `col.not.op.value`; `not.col.op.value` does not parse.
    query = team_a_gpts(client_for("user_a")).or_("not.usage_count.lt.18,name.eq.x")
    assert api_error(query.execute).code == "PGRST100"


def test_order_with_nulls(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    first = team_a_gpts(client).order("category", nullsfirst=True).order("name").limit(2)
    assert names(first.execute().data) == ["Team A private GPT", "Team A public GPT"]
    last = team_a_gpts(client).order("category", desc=True, nullsfirst=False).limit(1)
    assert names(last.execute().data) == ["Desk Writer"]
    # Descending puts nulls first unless told otherwise, as in PostgreSQL.
    described = team_a_gpts(client).order("description", desc=True).limit(1)
    assert names(described.execute().data) == ["Sales Coach"]


def test_not_or(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .not_.or_("category.eq.misc,usage_count.lt.25")
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == [
        "Code Bot",
        "Desk Helper",
        "Desk Writer",
        "Legal Reviewer",
        "Sales Coach",
    ]


def test_or_on_an_embedded_resource(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("chat_sessions")
        .select("title, chat_messages(sender)")
        .eq("id", SESSION_A)
        .or_("sender.eq.gpt,tokens_used.gt.100", reference_table="chat_messages")
        .execute()
        .data
    )
    assert rows == [{"title": "User A asks the team GPT", "chat_messages": [{"sender": "gpt"}]}]


def test_match(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("gpts")
        .select("name")
        .match({"team_id": TEAM_A, "category": "writing", "status": "active"})
        .execute()
        .data
    )
    assert names(rows) == ["Desk Writer"]


def test_array_contains(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    email = team_a_gpts(client).contains("tags", ["email"]).order("name").execute()
    assert names(email.data) == ["Desk Helper", "Desk Writer"]
    both = team_a_gpts(client).contains("tags", ["email", "customer care"]).execute()
    assert names(both.data) == ["Desk Helper"]


def test_array_contained_by(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .contained_by("tags", ["code", "legal", "writing", "email"])
        .neq("category", "misc")
        .order("name")
        .execute()
        .data
    )
    # An empty array (Sales Coach's) is contained by every array.
    assert names(rows) == ["Code Bot", "Desk Writer", "Legal Reviewer", "Sales Coach"]


def test_array_overlaps(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"))
        .overlaps("tags", ["code", "legal", "nothing"])
        .order("name")
        .execute()
        .data
    )
    assert names(rows) == ["Code Bot", "Legal Reviewer"]


def test_jsonb_contains(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    rows = team_a_gpts(client).contains("settings", {"model": "gpt-4o"}).order("name").execute()
    assert names(rows.data) == ["Code Bot", "Desk Helper"]
    nested = team_a_gpts(client).contains("settings", {"voice": {"tone": "formal"}}).execute()
    assert names(nested.data) == ["Desk Helper"]
    within = (
        team_a_gpts(client)
        .contained_by("settings", {"model": "gpt-4", "extra": 1})
        .in_("id", [DESK_WRITER, DESK_HELPER, SALES_COACH])
        .order("name")
        .execute()
    )
    assert names(within.data) == ["Desk Writer", "Sales Coach"]


def test_filter_on_a_column_not_selected(catalog: World, client_for: ClientFor) -> None:
    rows = (
        client_for("user_a")
        .table("gpts")
        .select("id")
        .eq("name", "Code Bot")
        .eq("team_id", TEAM_A)
        .execute()
        .data
    )
    assert rows == [{"id": CODE_BOT}]


def test_bad_value_for_the_column_type(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    error = api_error(client.table("gpts").select("id").eq("id", "abc").execute)
    assert error.code == "22P02"
    assert error.message == 'invalid input syntax for type uuid: "abc"'
    enum = api_error(client.table("gpts").select("id").eq("status", "bogus").execute)
    assert enum.code == "22P02"
    assert "gpt_status" in (enum.message or "")
    number = api_error(client.table("gpts").select("id").gt("usage_count", "many").execute)
    assert number.code == "22P02"


def test_head_error_code_comes_from_proxy_status(catalog: World, client_for: ClientFor) -> None:
    query = (
        client_for("user_a")
        .table("gpts")
        .select("id", count=CountMethod.exact, head=True)
        .eq("id", "abc")
    )
    assert api_error(query.execute).code == "22P02"


def test_bad_value_status_is_400(catalog: World, rest: httpx.Client) -> None:
    answer = rest.get(
        "/gpts", params={"select": "id", "id": "eq.abc"}, headers=catalog.headers("user_a")
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "code": "22P02",
        "details": None,
        "hint": None,
        "message": 'invalid input syntax for type uuid: "abc"',
    }


# ---------------------------------------------------------------------------------------
# Full-text search on chat_messages.content
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# single, maybe_single, csv
# ---------------------------------------------------------------------------------------


def test_single_one_row(catalog: World, client_for: ClientFor) -> None:
    result = (
        client_for("user_a")
        .table("gpts")
        .select("id, name, owner:users!creator_id(email)")
        .eq("id", GPT_A_PRIVATE)
        .single()
        .execute()
    )
    assert result.data == {
        "id": GPT_A_PRIVATE,
        "name": "Team A private GPT",
        "owner": {"email": "user_a@team-a.test"},
    }


def test_single_no_rows_is_pgrst116(catalog: World, client_for: ClientFor) -> None:
    # Team B's private GPT exists but user_a may not see it: 0 rows, as for a missing one.
    query = client_for("user_a").table("gpts").select("id").eq("id", GPT_B_PRIVATE).single()
    error = api_error(query.execute)
    assert error.code == "PGRST116"
    assert error.message == "Cannot coerce the result to a single JSON object"
    assert error.details == "The result contains 0 rows"


def test_single_many_rows_is_pgrst116(catalog: World, client_for: ClientFor) -> None:
    query = (
        client_for("user_a")
        .table("gpts")
        .select("id")
        .eq("team_id", TEAM_A)
        .eq("status", "active")
        .single()
    )
    error = api_error(query.execute)
    assert error.code == "PGRST116"
    assert error.details == f"The result contains {ACTIVE_IN_A} rows"


def test_single_status_and_content_type(catalog: World, rest: httpx.Client) -> None:
    object_json = "application/vnd.pgrst.object+json"
    headers = {**catalog.headers("user_a"), "Accept": object_json}
    one = rest.get("/gpts", params={"select": "name", "id": f"eq.{GPT_A_PRIVATE}"}, headers=headers)
    assert one.status_code == 200
    assert one.headers["content-type"] == f"{object_json}; charset=utf-8"
    assert one.json() == {"name": "Team A private GPT"}
    none = rest.get(
        "/gpts", params={"select": "name", "id": f"eq.{GPT_B_PRIVATE}"}, headers=headers
    )
    assert none.status_code == 406
    assert none.json()["code"] == "PGRST116"


def test_maybe_single(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    one = client.table("gpts").select("name").eq("id", CODE_BOT).maybe_single().execute()
    assert one is not None
    assert one.data == {"name": "Code Bot"}
    none = client.table("gpts").select("name").eq("id", GPT_B_PRIVATE).maybe_single().execute()
    assert none is None
    many = client.table("gpts").select("name").eq("team_id", TEAM_A).maybe_single()
    assert api_error(many.execute).code == "406"  # made by the client, as PostgREST-js does


def test_csv(catalog: World, client_for: ClientFor) -> None:
    result = (
        team_a_gpts(client_for("user_a"), "name,usage_count,description")
        .in_("id", [DESK_WRITER, SALES_COACH, CODE_BOT])
        .order("name")
        .csv()
        .execute()
    )
    assert isinstance(result.data, str)
    assert list(csv.reader(io.StringIO(result.data))) == [
        ["name", "usage_count", "description"],
        ["Code Bot", "30", "Reviews pull requests for the desk team"],
        ["Desk Writer", "40", WRITER_DESCRIPTION],
        ["Sales Coach", "25", ""],
    ]


def test_csv_cells_as_postgrest_writes_them(catalog: World, client_for: ClientFor) -> None:
    result = (
        team_a_gpts(client_for("user_a"), "name,usage_count,is_public,description")
        .in_("id", [DESK_WRITER, SALES_COACH, CODE_BOT])
        .order("name")
        .csv()
        .execute()
    )
    assert result.data == (
        "name,usage_count,is_public,description\n"
        '"Code Bot",30,f,"Reviews pull requests for the desk team"\n'
        '"Desk Writer",40,f,"Drafts replies, ""politely"""\n'
        '"Sales Coach",25,f,'
    )


def test_csv_of_no_rows(catalog: World, rest: httpx.Client) -> None:
    answer = rest.get(
        "/gpts",
        params={"select": "id", "id": f"eq.{GPT_B_PRIVATE}"},
        headers={**catalog.headers("user_a"), "Accept": "text/csv"},
    )
    assert answer.status_code == 200
    assert answer.text == "\n"  # PostgREST: header (none without rows) + newline + body


def test_csv_content_type(catalog: World, rest: httpx.Client) -> None:
    answer = rest.get(
        "/gpts",
        params={"select": "id,usage_count", "id": f"eq.{CODE_BOT}"},
        headers={**catalog.headers("user_a"), "Accept": "text/csv"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.text == f"id,usage_count\n{CODE_BOT},30"


def test_strip_nulls(catalog: World, client_for: ClientFor) -> None:
    rows = (
        team_a_gpts(client_for("user_a"), "name, description")
        .eq("id", SALES_COACH)
        .strip_nulls()
        .execute()
        .data
    )
    assert rows == [{"name": "Sales Coach"}]


# ---------------------------------------------------------------------------------------
# Writes: insert, upsert, update, delete
# ---------------------------------------------------------------------------------------


def test_insert_one_returns_the_row(scratch: World, client_for: ClientFor) -> None:
    result = (
        client_for("user_a")
        .table("gpts")
        .insert(
            {
                "name": "tmp Onboarding Buddy",
                "team_id": TEAM_A,
                "category": "hr",
                "tags": ["onboarding", "hr"],
                "settings": {"model": "gpt-4o-mini", "voice": {"tone": "warm"}},
                "temperature": 0.3,
                "approval_status": "approved",  # not the user's to set: back to pending
            }
        )
        .execute()
    )
    [row] = result.data
    assert row["name"] == "tmp Onboarding Buddy"
    assert row["creator_id"] == USER_A  # column default auth.uid()
    assert row["team_id"] == TEAM_A
    assert row["tags"] == ["onboarding", "hr"]
    assert row["settings"] == {"model": "gpt-4o-mini", "voice": {"tone": "warm"}}
    assert row["temperature"] == 0.3
    assert row["approval_status"] == "pending"
    assert row["status"] == "active"
    assert row["model"] == "gpt-4"
    assert len(row["id"]) == 36


def test_insert_status_and_headers(scratch: World, rest: httpx.Client) -> None:
    headers = {**scratch.headers("user_a"), "Prefer": "return=representation"}
    made = rest.post(
        "/gpts",
        params={"select": "name,creator_id"},
        json={"name": "tmp Raw", "team_id": TEAM_A},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json() == [{"name": "tmp Raw", "creator_id": USER_A}]
    minimal = rest.post(
        "/gpts",
        json={"name": "tmp Raw minimal", "team_id": TEAM_A},
        headers=scratch.headers("user_a"),
    )
    assert minimal.status_code == 201
    assert minimal.content == b""


def test_insert_with_select_and_embed(scratch: World, client_for: ClientFor) -> None:
    result = (
        client_for("user_a")
        .table("gpts")
        .insert({"name": "tmp Embedded", "team_id": TEAM_A})
        .select("name, owner:users!creator_id(email)")
        .execute()
    )
    assert result.data == [{"name": "tmp Embedded", "owner": {"email": "user_a@team-a.test"}}]


def test_insert_single_object_response(scratch: World, client_for: ClientFor) -> None:
    result = (
        client_for("user_a")
        .table("gpts")
        .insert({"name": "tmp Single", "team_id": TEAM_A})
        .single()
        .execute()
    )
    assert isinstance(result.data, dict)
    assert result.data["name"] == "tmp Single"


def test_bulk_insert_minimal(scratch: World, client_for: ClientFor, db: MigratedDatabase) -> None:
    client = client_for("user_a")
    result = (
        client.table("gpts")
        .insert(
            [
                {"name": "tmp Bulk 1", "team_id": TEAM_A, "category": "bulk"},
                {"name": "tmp Bulk 2", "team_id": TEAM_A, "category": "bulk"},
                {"name": "tmp Bulk 3", "team_id": TEAM_A, "category": "bulk"},
            ],
            returning=ReturnMethod.minimal,
            count=CountMethod.exact,
        )
        .execute()
    )
    assert result.data == []
    assert result.count == 3
    made = owner_query(
        db, "select name, creator_id::text from public.gpts where category = 'bulk' order by name"
    )
    assert made == [("tmp Bulk 1", USER_A), ("tmp Bulk 2", USER_A), ("tmp Bulk 3", USER_A)]


def test_bulk_insert_representation_keeps_order(scratch: World, client_for: ClientFor) -> None:
    rows = [{"name": f"tmp Ordered {n}", "team_id": TEAM_A, "usage_count": 0} for n in (3, 1, 2)]
    result = client_for("user_a").table("gpts").insert(rows).execute()
    assert names(result.data) == ["tmp Ordered 3", "tmp Ordered 1", "tmp Ordered 2"]


def test_bulk_insert_missing_keys_are_null_or_default(
    scratch: World, client_for: ClientFor
) -> None:
    client = client_for("user_a")
    rows = [
        {"name": "tmp Mixed 1", "team_id": TEAM_A, "model": "gpt-4o-mini"},
        {"name": "tmp Mixed 2", "team_id": TEAM_A},
    ]
    # Missing keys are null by default: model is NOT NULL.
    error = api_error(client.table("gpts").insert(rows).execute)
    assert error.code == "23502"
    made = client.table("gpts").insert(rows, default_to_null=False).execute()
    assert [(r["name"], r["model"]) for r in made.data] == [
        ("tmp Mixed 1", "gpt-4o-mini"),
        ("tmp Mixed 2", "gpt-4"),
    ]


def test_upsert_merges_on_conflict(
    scratch: World, client_for: ClientFor, db: MigratedDatabase
) -> None:
    client = client_for("user_a")
    rating = {"gpt_id": GPT_A_PUBLIC, "user_id": USER_A, "rating": 4}
    first = client.table("gpt_ratings").upsert(rating, on_conflict="gpt_id,user_id").execute()
    assert [(r["gpt_id"], r["rating"]) for r in first.data] == [(GPT_A_PUBLIC, 4)]
    again = (
        client.table("gpt_ratings")
        .upsert({**rating, "rating": 2}, on_conflict="gpt_id,user_id")
        .execute()
    )
    assert [r["rating"] for r in again.data] == [2]
    assert owner_query(
        db, "select count(*), min(rating) from public.gpt_ratings where gpt_id = $1::uuid",
        GPT_A_PUBLIC,
    ) == [(1, 2)]  # fmt: skip
    average = client.table("gpts").select("rating").eq("id", GPT_A_PUBLIC).single().execute()
    assert average.data == {"rating": 2.0}


def test_upsert_ignore_duplicates(
    scratch: World, client_for: ClientFor, db: MigratedDatabase
) -> None:
    client = client_for("user_a")
    rating = {"gpt_id": GPT_A_PUBLIC, "user_id": USER_A, "rating": 3}
    made = (
        client.table("gpt_ratings")
        .upsert(rating, on_conflict="gpt_id,user_id", ignore_duplicates=True)
        .execute()
    )
    assert [r["rating"] for r in made.data] == [3]
    ignored = (
        client.table("gpt_ratings")
        .upsert({**rating, "rating": 5}, on_conflict="gpt_id,user_id", ignore_duplicates=True)
        .execute()
    )
    assert ignored.data == []
    assert owner_query(
        db, "select rating from public.gpt_ratings where gpt_id = $1::uuid", GPT_A_PUBLIC
    ) == [(3,)]


def test_upsert_by_primary_key(scratch: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    made = client.table("gpts").insert({"name": "tmp Upsert", "team_id": TEAM_A}).execute()
    gpt_id = made.data[0]["id"]
    merged = (
        client.table("gpts")
        .upsert({"id": gpt_id, "name": "tmp Upserted", "team_id": TEAM_A, "category": "x"})
        .execute()
    )
    assert [(r["id"], r["name"], r["category"]) for r in merged.data] == [
        (gpt_id, "tmp Upserted", "x")
    ]
    fresh = (
        client.table("gpts")
        .upsert([{"name": "tmp Upsert new", "team_id": TEAM_A}], default_to_null=False)
        .execute()
    )
    assert names(fresh.data) == ["tmp Upsert new"]


def test_upsert_merge_status(scratch: World, rest: httpx.Client) -> None:
    headers = {
        **scratch.headers("user_a"),
        "Prefer": "return=representation,resolution=merge-duplicates",
    }
    body = {"gpt_id": GPT_A_PUBLIC, "user_id": USER_A, "rating": 4}
    params = {"on_conflict": "gpt_id,user_id"}
    created = rest.post("/gpt_ratings", params=params, json=body, headers=headers)
    assert created.status_code == 201, created.text
    merged = rest.post("/gpt_ratings", params=params, json={**body, "rating": 1}, headers=headers)
    assert merged.status_code == 200, merged.text  # nothing newly inserted
    assert [r["rating"] for r in merged.json()] == [1]


def test_update(scratch: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    gpt_id = client.table("gpts").insert({"name": "tmp Editable", "team_id": TEAM_A}).execute()
    gpt_id = gpt_id.data[0]["id"]
    updated = (
        client.table("gpts")
        .update({"description": "tmp edited", "tags": ["a", "b"], "settings": {"k": 1}})
        .eq("id", gpt_id)
        .execute()
    )
    [row] = updated.data
    assert (row["id"], row["description"], row["tags"], row["settings"]) == (
        gpt_id,
        "tmp edited",
        ["a", "b"],
        {"k": 1},
    )
    assert row["updated_at"] >= row["created_at"]
    embedded = (
        client.table("gpts")
        .update({"description": "tmp again"})
        .eq("id", gpt_id)
        .select("description, owner:users!creator_id(email)")
        .execute()
    )
    assert embedded.data == [{"description": "tmp again", "owner": {"email": "user_a@team-a.test"}}]
    # The team admin may edit it too; user_b cannot see it, so changes nothing.
    by_admin = (
        client_for("admin_a").table("gpts").update({"category": "a"}).eq("id", gpt_id).execute()
    )
    assert [r["category"] for r in by_admin.data] == ["a"]
    by_b = client_for("user_b").table("gpts").update({"category": "b"}).eq("id", gpt_id).execute()
    assert by_b.data == []
    after = client.table("gpts").select("category").eq("id", gpt_id).single().execute()
    assert after.data == {"category": "a"}


def test_update_into_another_team_is_refused(scratch: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    made = client.table("gpts").insert({"name": "tmp Mover", "team_id": TEAM_A}).execute()
    move = client.table("gpts").update({"team_id": TEAM_B}).eq("id", made.data[0]["id"])
    error = api_error(move.execute)
    assert error.code == "42501"
    assert error.message == 'new row violates row-level security policy for table "gpts"'


def test_update_with_count_and_filters(scratch: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    rows = [{"name": f"tmp Many {n}", "team_id": TEAM_A, "category": "many"} for n in range(3)]
    client.table("gpts").insert(rows, returning=ReturnMethod.minimal).execute()
    updated = (
        client.table("gpts")
        .update({"status": "inactive"}, count=CountMethod.exact)
        .eq("category", "many")
        .neq("name", "tmp Many 0")
        .execute()
    )
    assert sorted(names(updated.data)) == ["tmp Many 1", "tmp Many 2"]
    assert updated.count == 2


def test_update_max_affected(scratch: World, client_for: ClientFor, db: MigratedDatabase) -> None:
    client = client_for("user_a")
    rows = [{"name": f"tmp Capped {n}", "team_id": TEAM_A, "category": "capped"} for n in range(3)]
    client.table("gpts").insert(rows, returning=ReturnMethod.minimal).execute()
    capped = (
        client.table("gpts")
        .update({"category": "capped-x"})
        .eq("category", "capped")
        .max_affected(2)
    )
    assert api_error(capped.execute).code == "PGRST124"
    assert owner_query(db, "select count(*) from public.gpts where category = 'capped'") == [
        (3,)
    ]  # rolled back


def test_insert_of_two_rows_as_one_object_is_rolled_back(
    scratch: World, client_for: ClientFor, db: MigratedDatabase
) -> None:
    pair = [{"name": f"tmp Pair {n}", "team_id": TEAM_A} for n in (1, 2)]
    insert = client_for("user_a").table("gpts").insert(pair).single()
    error = api_error(insert.execute)
    assert error.code == "PGRST116"
    assert error.details == "The result contains 2 rows"
    assert owner_query(db, "select count(*) from public.gpts where name like 'tmp Pair %'") == [
        (0,)
    ]


def test_update_status_codes(scratch: World, rest: httpx.Client) -> None:
    headers = scratch.headers("user_a")
    made = rest.post(
        "/gpts",
        json={"name": "tmp Patch", "team_id": TEAM_A},
        headers={**headers, "Prefer": "return=representation"},
    )
    gpt_id = made.json()[0]["id"]
    minimal = rest.patch(
        "/gpts", params={"id": f"eq.{gpt_id}"}, json={"category": "p"}, headers=headers
    )
    assert minimal.status_code == 204
    assert minimal.content == b""
    full = rest.patch(
        "/gpts",
        params={"id": f"eq.{gpt_id}", "select": "category"},
        json={"category": "q"},
        headers={**headers, "Prefer": "return=representation"},
    )
    assert full.status_code == 200
    assert full.json() == [{"category": "q"}]


def test_update_of_a_governance_column_is_refused(scratch: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    made = client.table("gpts").insert({"name": "tmp Governed", "team_id": TEAM_A}).execute()
    gpt_id = made.data[0]["id"]
    refused = client.table("gpts").update({"approval_status": "approved"}).eq("id", gpt_id)
    error = api_error(refused.execute)
    assert error.code == "42501"
    assert error.hint == "Ask a team admin to review the GPT."
    approved = (
        client_for("admin_a")
        .table("gpts")
        .update({"approval_status": "approved"})
        .eq("id", gpt_id)
        .execute()
    )
    assert [r["approval_status"] for r in approved.data] == ["approved"]


def test_delete_with_exact_count(
    scratch: World, client_for: ClientFor, db: MigratedDatabase
) -> None:
    client = client_for("user_a")
    made = client.table("gpts").insert({"name": "tmp Doomed", "team_id": TEAM_A}).execute()
    gpt_id = made.data[0]["id"]
    hidden = (
        client_for("user_b")
        .table("gpts")
        .delete(count=CountMethod.exact)
        .eq("id", gpt_id)
        .execute()
    )
    assert (hidden.data, hidden.count) == ([], 0)
    deleted = client.table("gpts").delete(count=CountMethod.exact).eq("id", gpt_id).execute()
    assert deleted.count == 1
    assert [(r["id"], r["name"]) for r in deleted.data] == [(gpt_id, "tmp Doomed")]
    assert owner_query(db, "select count(*) from public.gpts where id = $1::uuid", gpt_id) == [(0,)]


def test_delete_status_codes(scratch: World, rest: httpx.Client) -> None:
    headers = scratch.headers("user_a")
    made = rest.post(
        "/gpts",
        json={"name": "tmp Raw doomed", "team_id": TEAM_A},
        headers={**headers, "Prefer": "return=representation"},
    )
    gpt_id = made.json()[0]["id"]
    gone = rest.delete(
        "/gpts", params={"id": f"eq.{gpt_id}"}, headers={**headers, "Prefer": "count=exact"}
    )
    assert gone.status_code == 204
    assert gone.content == b""


def test_delete_content_range_has_no_range(scratch: World, rest: httpx.Client) -> None:
    headers = scratch.headers("user_a")
    made = rest.post(
        "/gpts",
        json=[
            {"name": "tmp Raw doomed 1", "team_id": TEAM_A},
            {"name": "tmp Raw doomed 2", "team_id": TEAM_A},
        ],
        headers={**headers, "Prefer": "return=representation"},
    )
    assert made.status_code == 201, made.text
    params = {"name": "like.tmp Raw doomed*"}
    counted = rest.delete("/gpts", params=params, headers={**headers, "Prefer": "count=exact"})
    assert counted.status_code == 204
    assert counted.headers["content-range"] == "*/2"


def test_delete_without_filters_is_refused(catalog: World, client_for: ClientFor) -> None:
    # user_b has no ratings: were the refusal missing, nothing would be lost.
    error = api_error(client_for("user_b").table("gpt_ratings").delete().execute)
    assert error.code == "21000"


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
            "cost_text": "0.0004",
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
    rows = (
        client_for("admin_a")
        .table("audit_logs")
        .select("action, resource_type, details, ip_address, actor:users(email)")
        .eq("action", "gpt.approved")
        .execute()
        .data
    )
    assert rows == [
        {
            "action": "gpt.approved",
            "resource_type": "gpt",
            "details": {"from": "pending", "to": "approved"},
            "ip_address": "192.0.2.10",
            "actor": {"email": "admin_a@team-a.test"},
        }
    ]
    assert client_for("user_a").table("audit_logs").select("id").execute().data == []


# ---------------------------------------------------------------------------------------
# RPC
# ---------------------------------------------------------------------------------------


def test_rate_gpt_one_vote_per_user(
    scratch: World, client_for: ClientFor, db: MigratedDatabase
) -> None:
    user_a, admin_a = client_for("user_a"), client_for("admin_a")
    assert user_a.rpc("rate_gpt", {"gpt_id": GPT_A_PUBLIC, "rating": 4}).execute().data == 4
    assert admin_a.rpc("rate_gpt", {"gpt_id": GPT_A_PUBLIC, "rating": 1}).execute().data == 2.5
    # A second vote replaces the first.
    assert user_a.rpc("rate_gpt", {"gpt_id": GPT_A_PUBLIC, "rating": 2}).execute().data == 1.5
    assert owner_query(
        db, "select count(*) from public.gpt_ratings where gpt_id = $1::uuid", GPT_A_PUBLIC
    ) == [(2,)]
    seen = user_a.table("gpts").select("rating").eq("id", GPT_A_PUBLIC).single().execute()
    assert seen.data == {"rating": 1.5}


def test_rate_gpt_raw_response(scratch: World, rest: httpx.Client) -> None:
    answer = rest.post(
        "/rpc/rate_gpt",
        json={"gpt_id": GPT_A_PUBLIC, "rating": 3},
        headers=scratch.headers("user_b"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(answer.content) == 3


def test_rate_gpt_errors(scratch: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    out_of_range = api_error(client.rpc("rate_gpt", {"gpt_id": GPT_A_PUBLIC, "rating": 9}).execute)
    assert out_of_range.code == "22023"
    assert out_of_range.message == "rating must be between 1 and 5"
    hidden = api_error(client.rpc("rate_gpt", {"gpt_id": GPT_B_PRIVATE, "rating": 3}).execute)
    assert hidden.code == "PT404"
    assert hidden.hint == "The GPT does not exist or you may not see it."
    not_a_number = api_error(
        client.rpc("rate_gpt", {"gpt_id": GPT_A_PUBLIC, "rating": "five"}).execute
    )
    assert not_a_number.code == "22P02"
    missing = api_error(client.rpc("rate_gpt", {"gpt_id": GPT_A_PUBLIC}).execute)
    assert missing.code == "PGRST202"
    assert missing.message == (
        "Could not find the function public.rate_gpt(gpt_id) in the schema cache"
    )
    anonymous = api_error(
        client_for("anon").rpc("rate_gpt", {"gpt_id": GPT_A_PUBLIC, "rating": 3}).execute
    )
    assert anonymous.code == "42501"


def test_rate_gpt_error_statuses(scratch: World, rest: httpx.Client) -> None:
    body = {"gpt_id": GPT_B_PRIVATE, "rating": 3}
    hidden = rest.post("/rpc/rate_gpt", json=body, headers=scratch.headers("user_a"))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "PT404"
    anonymous = rest.post("/rpc/rate_gpt", json=body, headers=scratch.headers("anon"))
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "42501"


def test_get_rpc_of_a_stable_function(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    team = client.rpc("get_user_team_id", {"user_uuid": USER_A}, get=True).execute()
    assert team.data == TEAM_A
    role = client.rpc("get_user_role", {"user_uuid": ADMIN_A}, get=True).execute()
    assert role.data == "admin"


def test_rpc_returning_null_is_json_null(catalog: World, rest: httpx.Client) -> None:
    nobody = "20000000-0000-4000-8000-00000000dead"
    answer = rest.get(
        "/rpc/get_user_team_id", params={"user_uuid": nobody}, headers=catalog.headers("user_a")
    )
    assert answer.status_code == 200
    assert answer.text == "null"


def test_post_rpc_of_a_stable_function(catalog: World, client_for: ClientFor) -> None:
    result = client_for("user_b").rpc("is_admin_or_super", {"user_uuid": ADMIN_A}).execute()
    assert result.data is True


def test_rpc_with_default_arguments_records_the_request(
    catalog: World, client_for: ClientFor, db: MigratedDatabase
) -> None:
    call = client_for("user_a").rpc(
        "log_action", {"action": "gpt.viewed", "resource_type": "gpt", "resource_id": CODE_BOT}
    )
    audit_id = call.execute().data
    [(user_id, team_id, details, ip, agent)] = owner_query(
        db,
        "select user_id::text, team_id::text, details::text, host(ip_address), user_agent"
        " from public.audit_logs where id = $1::uuid",
        audit_id,
    )
    assert (user_id, team_id, details, ip) == (USER_A, TEAM_A, "{}", "127.0.0.1")
    assert agent.startswith("python-httpx/")


def test_get_rpc_of_a_volatile_function_is_read_only(scratch: World, client_for: ClientFor) -> None:
    call = client_for("user_a").rpc("rate_gpt", {"gpt_id": GPT_A_PUBLIC, "rating": 3}, get=True)
    error = api_error(call.execute)
    assert error.code == "25006"


def test_unknown_function_is_pgrst202(catalog: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    error = api_error(client.rpc("no_such_function", {"x": 1}).execute)
    assert error.code == "PGRST202"
    assert (
        error.message
        == "Could not find the function public.no_such_function(x) in the schema cache"
    )
    wrong_names = api_error(client.rpc("rate_gpt", {"gpt": GPT_A_PUBLIC, "stars": 3}).execute)
    assert wrong_names.code == "PGRST202"


def test_unknown_function_status(catalog: World, rest: httpx.Client) -> None:
    answer = rest.post("/rpc/no_such_function", json={}, headers=catalog.headers("user_a"))
    assert answer.status_code == 404
    assert answer.json()["code"] == "PGRST202"


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_duplicate_key_is_23505(scratch: World, client_for: ClientFor) -> None:
    rating = {"gpt_id": GPT_A_PRIVATE, "user_id": USER_A, "rating": 3}
    error = api_error(client_for("user_a").table("gpt_ratings").insert(rating).execute)
    assert error.code == "23505"
    assert error.message == 'duplicate key value violates unique constraint "gpt_ratings_pkey"'
    # PostgreSQL leaves the key out of the detail when row-level security applies.
    assert error.details is None
    bypassing = api_error(client_for("service_role").table("gpt_ratings").insert(rating).execute)
    assert bypassing.code == "23505"
    assert bypassing.details == (
        f"Key (gpt_id, user_id)=({GPT_A_PRIVATE}, {USER_A}) already exists."
    )


def test_duplicate_key_status(scratch: World, rest: httpx.Client) -> None:
    answer = rest.post(
        "/gpt_ratings",
        json={"gpt_id": GPT_A_PRIVATE, "user_id": USER_A, "rating": 3},
        headers=scratch.headers("user_a"),
    )
    assert answer.status_code == 409
    assert answer.headers["proxy-status"] == "PostgREST; error=23505"


def test_unknown_column_on_insert_is_pgrst204(scratch: World, client_for: ClientFor) -> None:
    insert = (
        client_for("user_a")
        .table("gpts")
        .insert({"name": "tmp Unknown", "team_id": TEAM_A, "foo": 1})
    )
    error = api_error(insert.execute)
    assert error.code == "PGRST204"
    assert error.message == "Could not find the 'foo' column of 'gpts' in the schema cache"


def test_unknown_column_in_select_is_42703(catalog: World, client_for: ClientFor) -> None:
    error = api_error(client_for("user_a").table("gpts").select("id, nope").execute)
    assert error.code == "42703"
    assert error.message == "column gpts.nope does not exist"


def test_unknown_column_in_filter_order_or_update(scratch: World, client_for: ClientFor) -> None:
    client = client_for("user_a")
    in_filter = api_error(client.table("gpts").select("id").eq("nope", 1).execute)
    assert (in_filter.code, in_filter.message) == ("42703", "column gpts.nope does not exist")
    in_order = api_error(client.table("gpts").select("id").order("nope").execute)
    assert in_order.code == "42703"
    in_update = api_error(client.table("gpts").update({"nope": 1}).eq("id", CODE_BOT).execute)
    assert in_update.code == "PGRST204"
    assert in_update.message == "Could not find the 'nope' column of 'gpts' in the schema cache"


def test_unexposed_schema_is_pgrst106(catalog: World, client_for: ClientFor) -> None:
    query = client_for("user_a").schema("private").from_("gpts").select("id")
    error = api_error(query.execute)
    assert error.code == "PGRST106"
    assert error.message == "The schema must be one of the following: public"


def test_insert_of_an_empty_array(scratch: World, client_for: ClientFor) -> None:
    assert client_for("user_a").table("gpts").insert([]).execute().data == []


def test_upsert_on_columns_without_a_unique_constraint(
    scratch: World, client_for: ClientFor
) -> None:
    upsert = (
        client_for("user_a")
        .table("gpts")
        .upsert({"name": "tmp Conflict", "team_id": TEAM_A}, on_conflict="name")
    )
    assert api_error(upsert.execute).code == "42P10"


def test_malformed_array_value(scratch: World, client_for: ClientFor) -> None:
    insert = (
        client_for("user_a")
        .table("gpts")
        .insert({"name": "tmp Bad tags", "team_id": TEAM_A, "tags": "not an array"})
    )
    assert api_error(insert.execute).code == "22P02"


def test_unknown_operator_is_pgrst100(catalog: World, client_for: ClientFor) -> None:
    query = client_for("user_a").table("gpts").select("id").filter("name", "resembles", "x")
    assert api_error(query.execute).code == "PGRST100"


def test_undecodable_token_is_pgrst301(catalog: World, client_for: ClientFor) -> None:
    client = client_for("anon")
    client.postgrest.auth("not-a-jwt")
    error = api_error(client.table("gpts").select("id").execute)
    assert error.code == "PGRST301"


def test_unknown_table_is_pgrst205(catalog: World, client_for: ClientFor) -> None:
    error = api_error(client_for("user_a").table("nope").select("*").execute)
    assert error.code == "PGRST205"
    assert error.message == "Could not find the table 'public.nope' in the schema cache"


def test_rls_refusal_is_42501(scratch: World, client_for: ClientFor) -> None:
    other_team = (
        client_for("user_a").table("gpts").insert({"name": "tmp Intruder", "team_id": TEAM_B})
    )
    error = api_error(other_team.execute)
    assert error.code == "42501"
    assert error.message == 'new row violates row-level security policy for table "gpts"'


def test_rls_refusal_status_depends_on_the_role(scratch: World, rest: httpx.Client) -> None:
    body = {"name": "tmp Intruder", "team_id": TEAM_B}
    signed_in = rest.post("/gpts", json=body, headers=scratch.headers("user_a"))
    assert signed_in.status_code == 403
    assert signed_in.json()["code"] == "42501"
    anonymous = rest.post("/gpts", json=body, headers=scratch.headers("anon"))
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "42501"


def test_anon_reads_nothing(catalog: World, client_for: ClientFor) -> None:
    assert client_for("anon").table("gpts").select("id").execute().data == []


def test_service_role_bypasses_rls(catalog: World, client_for: ClientFor) -> None:
    result = (
        client_for("service_role")
        .table("chat_sessions")
        .select("title")
        .eq("id", SESSION_A)
        .execute()
    )
    assert result.data == [{"title": "User A asks the team GPT"}]
