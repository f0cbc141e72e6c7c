"""PostgREST's errors over raw HTTP: codes, statuses, bodies and headers, nothing written."""

import time

import httpx
import jwt
import pytest

from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.world import TEAM_A, World

GPT_A_PRIVATE = "30000000-0000-4000-8000-0000000000a1"


def check(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    """The error has PostgREST's status, body keys and Proxy-Status header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "details", "hint", "message"}
    assert body["code"] == code, body
    assert response.headers["proxy-status"] == f"PostgREST; error={code}"
    return body


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/nope", 404, "PGRST205"),
        ("/gpts?select=nope", 400, "42703"),
        ("/gpts?nope=eq.1", 400, "42703"),
        ("/gpts?order=nope.desc", 400, "42703"),
        ("/gpts?id=zz.1", 400, "PGRST100"),
        ("/gpts?id=eq", 400, "PGRST100"),
        ("/gpts?select=id,(", 400, "PGRST100"),
        ("/gpts?or=(id.eq.1", 400, "PGRST100"),
        ("/gpts?limit=-1", 400, "PGRST100"),
        ("/gpts?id=eq.not-a-uuid", 400, "22P02"),
        ("/gpts?status=eq.bogus", 400, "22P02"),
        ("/gpts?select=id,owners(*)", 400, "PGRST200"),
        ("/gpts?select=id&owners.id=eq.1", 400, "PGRST108"),
        ("/gpts?select=id::nosuchtype", 400, "42704"),
        ("/chat_messages?content=fts(klingon).x", 400, "42704"),
        ("/gpts?select=name,...chat_sessions(id)", 400, "PGRST119"),
        ("/gpts?select=id,chat_sessions(id)&order=chat_sessions(id)", 400, "PGRST118"),
        ("/rpc/nope", 404, "PGRST202"),
        ("/a/b", 404, "PGRST125"),
    ],
)
def test_bad_reads(rest: httpx.Client, world: World, path: str, status: int, code: str) -> None:
    check(rest.get(path, headers=world.headers("user_a")), status, code)


def test_a_huge_limit_is_capped_not_refused(rest: httpx.Client, world: World) -> None:
    r = rest.get("/gpts?select=id&limit=999999999999", headers=world.headers("user_a"))
    assert r.status_code == 200


def test_head_errors_carry_the_code_in_proxy_status(rest: httpx.Client, world: World) -> None:
    r = rest.head("/nope", headers=world.headers("user_a"))
    assert r.status_code == 404 and r.content == b""
    assert r.headers["proxy-status"] == "PostgREST; error=PGRST205"


def test_jwt_errors(rest: httpx.Client, world: World, db: MigratedDatabase) -> None:
    anon = world.server.anon_key
    expired = jwt.encode(
        {"role": "authenticated", "sub": "x", "exp": int(time.time()) - 60}, db.jwt_secret
    )
    r = rest.get("/gpts", headers={"apikey": anon, "Authorization": f"Bearer {expired}"})
    check(r, 401, "PGRST303")
    assert r.json()["message"] == "JWT expired"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    forged = jwt.encode({"role": "service_role", "exp": int(time.time()) + 60}, "wrong" * 8)
    r = rest.get("/gpts", headers={"apikey": anon, "Authorization": f"Bearer {forged}"})
    check(r, 401, "PGRST301")
    r = rest.get("/gpts", headers={"apikey": anon, "Authorization": "Bearer not.a.jwt"})
    check(r, 401, "PGRST301")


def test_no_api_key_is_the_gateway_refusal(rest: httpx.Client) -> None:
    r = rest.get("/gpts")
    assert r.status_code == 401
    assert r.json()["message"] == "No API key found in request"


def test_anon_refusals_are_401(rest: httpx.Client, world: World) -> None:
    assert rest.get("/gpts", headers=world.headers("anon")).json() == []  # RLS: nothing
    r = rest.post("/gpts", headers=world.headers("anon"), json={"name": "x"})
    check(r, 401, "42501")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("PATCH", "/gpts", {"name": "all"}, 400, "21000"),
        ("DELETE", "/gpts", None, 400, "21000"),
        ("POST", "/gpts", {"nope": 1}, 400, "PGRST204"),
        ("POST", "/gpts", [{"name": "a"}, {"description": "b"}], 400, "PGRST102"),
        ("POST", "/gpts", "{not json", 400, "PGRST102"),
        ("POST", "/gpts", 5, 400, "PGRST102"),
        ("PATCH", f"/gpts?id=eq.{GPT_A_PRIVATE}", [{"name": "x"}], 400, "PGRST102"),
        ("POST", "/gpts", {"name": "x", "team_id": "not-a-uuid"}, 400, "22P02"),
        ("POST", "/gpts", {"name": "x", "team_id": TEAM_A, "temperature": 9}, 400, "23514"),
        ("POST", "/gpts?on_conflict=nope", {"name": "x"}, 400, "PGRST204"),
        ("PUT", "/gpts", {"name": "x"}, 405, "PGRST117"),
        ("PATCH", "/rpc/rate_gpt", {}, 405, "PGRST101"),
        ("DELETE", f"/gpts?id=eq.{GPT_A_PRIVATE}&limit=1", None, 400, "PGRST127"),
    ],
)
def test_bad_writes_change_nothing(
    rest: httpx.Client,
    world: World,
    db: MigratedDatabase,
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
) -> None:
    before = owner_query(db, "select count(*), max(updated_at) from public.gpts")
    content = body if isinstance(body, str) else None
    r = rest.request(
        method,
        path,
        headers={**world.headers("admin_a"), "Content-Type": "application/json"},
        content=content,
        json=None if content is not None or body is None else body,
    )
    check(r, status, code)
    assert owner_query(db, "select count(*), max(updated_at) from public.gpts") == before


def test_rls_refusal_of_an_insert_is_403(rest: httpx.Client, world: World) -> None:
    r = rest.post(
        "/teams",
        headers=world.headers("user_a"),
        json={"name": "Sneaky team"},
    )
    body = check(r, 403, "42501")
    assert "row-level security" in str(body["message"])


def test_duplicate_key_is_409(rest: httpx.Client, world: World, db: MigratedDatabase) -> None:
    r = rest.post(
        "/gpts",
        headers={**world.headers("admin_a"), "Prefer": "return=minimal"},
        json={"id": GPT_A_PRIVATE, "name": "dup", "team_id": TEAM_A},
    )
    body = check(r, 409, "23505")
    # PostgreSQL leaves the key out of the detail when the table has RLS on.
    assert "duplicate key" in str(body["message"])


def test_strict_preferences(rest: httpx.Client, world: World) -> None:
    r = rest.get("/gpts", headers={**world.headers("user_a"), "Prefer": "handling=strict, bogus=1"})
    check(r, 400, "PGRST122")
    lenient = rest.get("/gpts", headers={**world.headers("user_a"), "Prefer": "bogus=1"})
    assert lenient.status_code == 200
