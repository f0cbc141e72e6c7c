"""Reads through supabase-py: the seed's getGPTs queries, paging and counts, and select=.

The seed's GPTsAPI.getGPTs queries (filters, order, range, exact and planned counts) answer
the rows, count and Content-Range PostgREST would; select= aliases, casts and JSON paths
(and JSON paths in filters and order) shape the columns as PostgREST does.
"""

import httpx
from postgrest.types import CountMethod

from tests.rest.client_world import (
    ACTIVE_IN_A,
    CODE_BOT,
    DESK_HELPER,
    DESK_WRITER,
    GPT_A_PRIVATE,
    SALES_COACH,
    USER_A,
    ClientFor,
    api_error,
    names,
    team_a_gpts,
)
from tests.rest.world import TEAM_A, TEAM_B, World

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
# select=: aliases, casts, JSON paths
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
