"""Reads over raw HTTP: the whole request/response pairs the official clients hide.

Status codes, Content-Range, Preference-Applied, singular and CSV bodies, Server-Timing,
the profile headers and the OpenAPI document, against the RLS world of tests/rls.
"""

import csv
import io

import httpx
import orjson

from tests.rest.world import TEAM_A, World

GPT_A_PRIVATE = "30000000-0000-4000-8000-0000000000a1"
GPT_A_PUBLIC = "30000000-0000-4000-8000-0000000000a2"
GPT_B_PRIVATE = "30000000-0000-4000-8000-0000000000b1"


def get(rest: httpx.Client, world: World, path: str, actor: str = "user_a", **headers: str):
    return rest.get(path, headers={**world.headers(actor), **headers})


def test_a_read_is_a_json_array_with_its_range(rest: httpx.Client, world: World) -> None:
    r = get(rest, world, f"/gpts?select=id,name&team_id=eq.{TEAM_A}&order=name.asc")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["content-range"] == "0-1/*"
    assert r.json() == [
        {"id": GPT_A_PRIVATE, "name": "Team A private GPT"},
        {"id": GPT_A_PUBLIC, "name": "Team A public GPT"},
    ]


def test_server_timing_names_each_stage(rest: httpx.Client, world: World) -> None:
    r = get(rest, world, "/gpts?select=id")
    stages = [part.split(";")[0].strip() for part in r.headers["server-timing"].split(",")]
    assert stages == ["jwt", "parse", "plan", "transaction", "response"]


def test_a_counted_partial_page_is_206(rest: httpx.Client, world: World) -> None:
    r = get(rest, world, "/gpts?select=id&order=name&limit=1", Prefer="count=exact")
    assert r.status_code == 206
    assert r.headers["content-range"] == "0-0/2"  # user_a sees team A's two GPTs only
    assert r.headers["preference-applied"] == "count=exact"
    whole = get(rest, world, "/gpts?select=id", Prefer="count=exact")
    assert whole.status_code == 200 and whole.headers["content-range"] == "0-1/2"


def test_range_header_and_offset_past_the_end(rest: httpx.Client, world: World) -> None:
    r = get(rest, world, "/gpts?select=id&order=name", Range="1-1")
    assert r.status_code == 200 and r.headers["content-range"] == "1-1/*"
    assert r.json() == [{"id": GPT_A_PUBLIC}]
    past = get(rest, world, "/gpts?select=id&offset=5", Prefer="count=exact")
    assert past.status_code == 416
    assert past.json()["code"] == "PGRST103"
    bad = get(rest, world, "/gpts", Range="5-1")
    assert bad.status_code == 416 and bad.json()["code"] == "PGRST103"


def test_planned_and_estimated_counts(rest: httpx.Client, world: World) -> None:
    planned = get(rest, world, "/gpts?select=id", Prefer="count=planned")
    total = planned.headers["content-range"].split("/")[1]
    assert total.isdigit()
    estimated = get(rest, world, "/gpts?select=id", Prefer="count=estimated")
    assert estimated.headers["content-range"] == "0-1/2"  # small: counted exactly


def test_head_has_headers_and_no_body(rest: httpx.Client, world: World) -> None:
    r = rest.head("/gpts", headers={**world.headers("user_a"), "Prefer": "count=exact"})
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-range"] == "0-1/2"


def test_singular_object_and_pgrst116(rest: httpx.Client, world: World) -> None:
    object_type = "application/vnd.pgrst.object+json"
    one = get(rest, world, f"/gpts?select=id,name&id=eq.{GPT_A_PRIVATE}", Accept=object_type)
    assert one.status_code == 200
    assert one.headers["content-type"] == f"{object_type}; charset=utf-8"
    assert one.json() == {"id": GPT_A_PRIVATE, "name": "Team A private GPT"}
    none = get(rest, world, f"/gpts?id=eq.{GPT_B_PRIVATE}", Accept=object_type)
    assert none.status_code == 406
    assert none.json() == {
        "code": "PGRST116",
        "details": "The result contains 0 rows",
        "hint": None,
        "message": "Cannot coerce the result to a single JSON object",
    }
    many = get(rest, world, "/gpts", Accept=object_type)
    assert many.status_code == 406 and many.json()["details"] == "The result contains 2 rows"


def test_csv(rest: httpx.Client, world: World) -> None:
    r = get(rest, world, "/gpts?select=id,name,tags&order=name", Accept="text/csv")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["id", "name", "tags"]
    assert [row[0] for row in rows[1:]] == [GPT_A_PRIVATE, GPT_A_PUBLIC]


def test_nulls_stripped(rest: httpx.Client, world: World) -> None:
    accept = "application/vnd.pgrst.array+json;nulls=stripped"
    r = get(rest, world, f"/gpts?select=id,category&id=eq.{GPT_A_PRIVATE}", Accept=accept)
    assert r.status_code == 200
    body = r.json()
    assert body[0]["id"] == GPT_A_PRIVATE
    assert all(value is not None for value in body[0].values())


def test_unsupported_media_type_is_pgrst107(rest: httpx.Client, world: World) -> None:
    r = get(rest, world, "/gpts", Accept="application/xml")
    assert r.status_code == 406 and r.json()["code"] == "PGRST107"


def test_embeds_filters_and_order_inside_them(rest: httpx.Client, world: World) -> None:
    r = get(
        rest,
        world,
        "/gpts?select=id,owner:users!creator_id(email),chat_sessions(id)"
        f"&id=eq.{GPT_A_PRIVATE}&chat_sessions.order=created_at.desc&chat_sessions.limit=1",
    )
    assert r.status_code == 200, r.text
    [gpt] = r.json()
    assert gpt["owner"] == {"email": "user_a@team-a.test"}
    assert len(gpt["chat_sessions"]) == 1
    inner = get(rest, world, "/gpts?select=id,chat_sessions!inner(id)")
    assert [row["id"] for row in inner.json()] == [GPT_A_PRIVATE]  # the one with a session
    not_null = get(rest, world, "/gpts?select=id,chat_sessions(id)&chat_sessions=not.is.null")
    assert [row["id"] for row in not_null.json()] == [GPT_A_PRIVATE]


def test_related_order_and_spread(rest: httpx.Client, world: World) -> None:
    r = get(rest, world, "/gpts?select=name,owner:users!creator_id(email)&order=owner(email).desc")
    assert [row["owner"]["email"] for row in r.json()] == [
        "user_a@team-a.test",
        "admin_a@team-a.test",
    ]
    spread = get(rest, world, f"/gpts?select=name,...users!creator_id(email)&id=eq.{GPT_A_PRIVATE}")
    assert spread.json() == [{"name": "Team A private GPT", "email": "user_a@team-a.test"}]


def test_json_paths_and_casts(rest: httpx.Client, world: World) -> None:
    r = get(
        rest,
        world,
        f"/gpts?select=id,usage:usage_count::text,settings->>theme&id=eq.{GPT_A_PRIVATE}",
    )
    assert r.status_code == 200, r.text
    [row] = r.json()
    assert isinstance(row["usage"], str)
    assert row["theme"] is None  # the world sets no settings


def test_logic_trees(rest: httpx.Client, world: World) -> None:
    r = get(
        rest,
        world,
        "/gpts?select=id&or=(name.ilike.*private*,and(is_public.is.true,status.eq.active))"
        "&order=id",
    )
    assert [row["id"] for row in r.json()] == [GPT_A_PRIVATE, GPT_A_PUBLIC]
    negated = get(rest, world, "/gpts?select=id&not.or=(is_public.is.true)")
    assert [row["id"] for row in negated.json()] == [GPT_A_PRIVATE]


def test_rls_hides_other_teams(rest: httpx.Client, world: World) -> None:
    r = get(rest, world, f"/gpts?id=eq.{GPT_B_PRIVATE}")
    assert r.status_code == 200 and r.json() == []


def test_the_profile_must_be_public(rest: httpx.Client, world: World) -> None:
    ok = get(rest, world, "/gpts?select=id", **{"Accept-Profile": "public"})
    assert ok.status_code == 200
    r = get(rest, world, "/gpts", **{"Accept-Profile": "auth"})
    assert r.status_code == 406
    assert r.json()["code"] == "PGRST106"


def test_openapi_document(rest: httpx.Client, world: World) -> None:
    r = get(rest, world, "/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openapi+json")
    document = orjson.loads(r.content)
    assert document["swagger"] == "2.0"
    assert "/gpts" in document["paths"] and "/rpc/rate_gpt" in document["paths"]
    assert "schema_migrations" not in document["definitions"]


def test_many_to_many_through_a_junction(rest: httpx.Client, world: World) -> None:
    ambiguous = get(rest, world, "/gpts?select=id,users(email)")
    assert ambiguous.status_code == 300 and ambiguous.json()["code"] == "PGRST201"
    r = get(rest, world, f"/gpts?select=id,raters:users!gpt_ratings(email)&id=eq.{GPT_A_PUBLIC}")
    assert r.status_code == 200, r.text
    [row] = r.json()
    assert isinstance(row["raters"], list)  # user_a sees only their own rating's rater
