"""RPC and errors through supabase-py: /rpc calls, and the error codes clients depend on.

rate_gpt (one vote per user, its errors and their statuses), GET and POST /rpc of stable
functions (GET of a volatile one is read only), default arguments; and the PostgREST and
PostgreSQL codes and statuses of duplicates, unknown columns, tables, functions and schemas,
bad tokens and RLS refusals.
"""

import json

import httpx

from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.client_world import (
    ADMIN_A,
    CODE_BOT,
    GPT_A_PRIVATE,
    GPT_A_PUBLIC,
    GPT_B_PRIVATE,
    SESSION_A,
    USER_A,
    ClientFor,
    api_error,
)
from tests.rest.world import TEAM_A, TEAM_B, World

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
