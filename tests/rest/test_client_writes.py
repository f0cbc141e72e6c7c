"""Writes through supabase-py: insert, upsert, update and delete, as PostgREST answers them.

Returned rows, statuses and headers, column defaults and missing keys, merging and ignoring
upserts, counts and max-affected (a refused write is rolled back), and RLS: another team's
rows and the admins' governance columns stay as they were. `scratch` removes every write.
"""

import httpx
from postgrest.types import CountMethod, ReturnMethod

from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.client_world import (
    GPT_A_PUBLIC,
    USER_A,
    ClientFor,
    api_error,
    names,
)
from tests.rest.world import TEAM_A, TEAM_B, World


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
    assert error.hint is not None and "approve_gpt" in error.hint
    admin = client_for("admin_a")
    assert (
        api_error(
            admin.table("gpts").update({"approval_status": "approved"}).eq("id", gpt_id).execute
        ).code
        == "42501"
    )
    approved = admin.rpc("approve_gpt", {"gpt_id": gpt_id, "comment": "fine"}).execute()
    assert approved.data["approval_status"] == "approved"
    assert approved.data["approved_version"] == 1


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
