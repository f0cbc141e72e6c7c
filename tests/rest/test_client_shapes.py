"""Response shapes through supabase-py: single, maybe_single, csv and stripped nulls.

single() is one object, or PGRST116 (406) for no row or many; maybe_single() is None for no
row; csv() is the text PostgREST writes, with its content type; strip_nulls() drops nulls.
"""

import csv
import io

import httpx

from tests.rest.client_world import (
    ACTIVE_IN_A,
    CODE_BOT,
    DESK_WRITER,
    GPT_A_PRIVATE,
    GPT_B_PRIVATE,
    SALES_COACH,
    WRITER_DESCRIPTION,
    ClientFor,
    api_error,
    team_a_gpts,
)
from tests.rest.world import TEAM_A, World


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
