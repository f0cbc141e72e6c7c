"""Writes and RPC over raw HTTP: statuses, Prefer, Location, Content-Range, rollbacks."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.world import TEAM_A, World

GPT_A_PRIVATE = "30000000-0000-4000-8000-0000000000a1"
GPT_A_PUBLIC = "30000000-0000-4000-8000-0000000000a2"


@pytest.fixture
def gpt_prefix(db: MigratedDatabase) -> Iterator[str]:
    """A name prefix for GPTs a test makes; they are removed afterwards."""
    prefix = "rest-write-test"
    yield prefix
    owner_query(db, "delete from public.gpts where name like $1", f"{prefix}%")


def send(
    rest: httpx.Client,
    world: World,
    method: str,
    path: str,
    actor: str = "admin_a",
    *,
    json: object = None,
    prefer: str | None = None,
    **headers: str,
) -> httpx.Response:
    extra = {"Prefer": prefer} if prefer else {}
    return rest.request(
        method, path, headers={**world.headers(actor), **extra, **headers}, json=json
    )


def test_insert_minimal_is_201_without_body(
    rest: httpx.Client, world: World, gpt_prefix: str
) -> None:
    r = send(rest, world, "POST", "/gpts", json={"name": f"{gpt_prefix} 1", "team_id": TEAM_A})
    assert r.status_code == 201 and r.content == b""
    assert r.headers["content-range"] == "*/*"


def test_insert_representation_with_embed_and_count(
    rest: httpx.Client, world: World, gpt_prefix: str
) -> None:
    r = send(
        rest, world, "POST", "/gpts?select=name,owner:users!creator_id(email)",
        json=[{"name": f"{gpt_prefix} a", "team_id": TEAM_A},
              {"name": f"{gpt_prefix} b", "team_id": TEAM_A}],
        prefer="return=representation,count=exact",
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.headers["content-range"] == "*/2"
    assert r.json() == [
        {"name": f"{gpt_prefix} a", "owner": {"email": "admin_a@team-a.test"}},
        {"name": f"{gpt_prefix} b", "owner": {"email": "admin_a@team-a.test"}},
    ]
    assert "return=representation" in r.headers["preference-applied"]


def test_headers_only_gives_the_location(rest: httpx.Client, world: World, gpt_prefix: str) -> None:
    r = send(
        rest, world, "POST", "/gpts", json={"name": f"{gpt_prefix} h", "team_id": TEAM_A},
        prefer="return=headers-only",
    )  # fmt: skip
    assert r.status_code == 201 and r.content == b""
    location = r.headers["location"]
    assert location.startswith("/gpts?id=eq.")
    found = send(rest, world, "GET", location + "&select=name")
    assert found.json() == [{"name": f"{gpt_prefix} h"}]


def test_columns_and_missing_default(
    rest: httpx.Client, world: World, gpt_prefix: str, db: MigratedDatabase
) -> None:
    rows = [{"name": f"{gpt_prefix} c", "team_id": TEAM_A, "model": "ignored-by-columns"}]
    r = send(rest, world, "POST", '/gpts?columns="name","team_id"', json=rows)
    assert r.status_code == 201, r.text
    [(model,)] = owner_query(db, "select model from public.gpts where name = $1", f"{gpt_prefix} c")
    assert model == "gpt-4"  # not in columns: the default
    mixed = [
        {"name": f"{gpt_prefix} d", "team_id": TEAM_A, "model": "m-1"},
        {"name": f"{gpt_prefix} e", "team_id": TEAM_A},
    ]
    r = send(rest, world, "POST", '/gpts?columns="name","team_id","model"', json=mixed,
             prefer="missing=default")  # fmt: skip
    assert r.status_code == 201, r.text
    models = owner_query(
        db,
        "select name, model from public.gpts where name like $1 order by name",
        f"{gpt_prefix} %",
    )
    assert (f"{gpt_prefix} d", "m-1") in models and (f"{gpt_prefix} e", "gpt-4") in models


def test_upsert_merge_and_ignore(rest: httpx.Client, world: World, db: MigratedDatabase) -> None:
    r = send(
        rest, world, "POST", "/gpt_ratings?on_conflict=gpt_id,user_id", "user_a",
        json={"gpt_id": GPT_A_PUBLIC, "rating": 4},
        prefer="return=representation,resolution=merge-duplicates",
    )  # fmt: skip
    assert r.status_code == 201, r.text
    again = send(
        rest, world, "POST", "/gpt_ratings", "user_a",
        json={"gpt_id": GPT_A_PUBLIC, "rating": 2},
        prefer="return=representation,resolution=merge-duplicates",
    )  # fmt: skip
    assert again.status_code == 200, again.text  # merged, nothing inserted
    assert again.json()[0]["rating"] == 2
    ignored = send(
        rest, world, "POST", "/gpt_ratings", "user_a",
        json={"gpt_id": GPT_A_PUBLIC, "rating": 5},
        prefer="return=representation,resolution=ignore-duplicates",
    )  # fmt: skip
    assert ignored.status_code == 201 and ignored.json() == []
    user_a = "20000000-0000-4000-8000-0000000000a1"
    [(rating,)] = owner_query(
        db, "select rating from public.gpt_ratings where gpt_id = $1 and user_id = $2",
        uuid.UUID(GPT_A_PUBLIC), uuid.UUID(user_a),
    )  # fmt: skip
    assert rating == 2
    send(rest, world, "DELETE", f"/gpt_ratings?gpt_id=eq.{GPT_A_PUBLIC}", "user_a")


def test_update_and_delete(rest: httpx.Client, world: World, gpt_prefix: str) -> None:
    send(rest, world, "POST", "/gpts", json={"name": f"{gpt_prefix} u", "team_id": TEAM_A})
    r = send(rest, world, "PATCH", f"/gpts?name=eq.{gpt_prefix} u", json={"description": "new"})
    assert r.status_code == 204 and r.headers["content-range"] == "0-0/*"
    r = send(
        rest, world, "PATCH", f"/gpts?name=eq.{gpt_prefix} u&select=description",
        json={"description": "newer"}, prefer="return=representation",
    )  # fmt: skip
    assert r.status_code == 200 and r.json() == [{"description": "newer"}]
    r = send(rest, world, "DELETE", f"/gpts?name=eq.{gpt_prefix} u", prefer="count=exact")
    assert r.status_code == 204 and r.headers["content-range"] == "*/1"
    r = send(rest, world, "DELETE", f"/gpts?name=eq.{gpt_prefix} u", prefer="count=exact")
    assert r.status_code == 204 and r.headers["content-range"] == "*/0"


def test_singular_write_of_many_rows_rolls_back(
    rest: httpx.Client, world: World, gpt_prefix: str, db: MigratedDatabase
) -> None:
    for n in (1, 2):
        send(rest, world, "POST", "/gpts", json={"name": f"{gpt_prefix} s{n}", "team_id": TEAM_A})
    r = send(
        rest, world, "PATCH", f"/gpts?name=like.{gpt_prefix} s*", json={"description": "both"},
        prefer="return=representation", Accept="application/vnd.pgrst.object+json",
    )  # fmt: skip
    assert r.status_code == 406 and r.json()["code"] == "PGRST116"
    rows = owner_query(
        db, "select description from public.gpts where name like $1", f"{gpt_prefix} s%"
    )
    assert rows == [(None,), (None,)]


def test_max_affected_with_strict_handling_rolls_back(
    rest: httpx.Client, world: World, gpt_prefix: str, db: MigratedDatabase
) -> None:
    for n in (1, 2):
        send(rest, world, "POST", "/gpts", json={"name": f"{gpt_prefix} m{n}", "team_id": TEAM_A})
    r = send(
        rest, world, "DELETE", f"/gpts?name=like.{gpt_prefix} m*",
        prefer="handling=strict, max-affected=1",
    )  # fmt: skip
    assert r.status_code == 400 and r.json()["code"] == "PGRST124"
    assert (
        len(owner_query(db, "select 1 from public.gpts where name like $1", f"{gpt_prefix} m%"))
        == 2
    )


def test_rate_gpt(rest: httpx.Client, world: World, db: MigratedDatabase) -> None:
    r = send(
        rest, world, "POST", "/rpc/rate_gpt", "user_a", json={"gpt_id": GPT_A_PUBLIC, "rating": 5}
    )
    assert r.status_code == 200, r.text
    assert float(r.json()) == 5.0
    r = send(
        rest, world, "POST", "/rpc/rate_gpt", "admin_a", json={"gpt_id": GPT_A_PUBLIC, "rating": 2}
    )
    assert float(r.json()) == 3.5
    r = send(
        rest, world, "POST", "/rpc/rate_gpt", "user_a", json={"gpt_id": GPT_A_PUBLIC, "rating": 3}
    )
    assert float(r.json()) == 2.5  # one vote per user: user_a's vote changed
    bad = send(
        rest, world, "POST", "/rpc/rate_gpt", "user_a", json={"gpt_id": GPT_A_PUBLIC, "rating": 9}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "22023"
    other = "30000000-0000-4000-8000-0000000000b1"
    hidden = send(
        rest, world, "POST", "/rpc/rate_gpt", "user_a", json={"gpt_id": other, "rating": 1}
    )
    assert hidden.status_code == 404 and hidden.json()["code"] == "PT404"
    anon = send(
        rest, world, "POST", "/rpc/rate_gpt", "anon", json={"gpt_id": GPT_A_PUBLIC, "rating": 1}
    )
    assert anon.status_code == 401
    owner_query(
        db,
        "delete from public.gpt_ratings where gpt_id = $1",
        uuid.UUID(GPT_A_PUBLIC),
    )


def test_rpc_get_of_a_stable_function(rest: httpx.Client, world: World) -> None:
    user_a = "20000000-0000-4000-8000-0000000000a1"
    r = send(rest, world, "GET", f"/rpc/get_user_team_id?user_uuid={user_a}", "user_a")
    assert r.status_code == 200, r.text
    assert r.json() == TEAM_A
    missing = send(rest, world, "GET", "/rpc/get_user_team_id?nope=1", "user_a")
    assert missing.status_code == 404 and missing.json()["code"] == "PGRST202"
