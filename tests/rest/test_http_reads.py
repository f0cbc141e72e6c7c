"""Reads over raw HTTP: the whole request/response pairs the clients hide."""

import httpx

from tests.rest.conftest import TEAM_A, World

GPT_A_PRIVATE = "30000000-0000-4000-8000-0000000000a1"


def test_smoke(rest: httpx.Client, world: World) -> None:
    r = rest.get("/gpts", params={"select": "id,name,owner:users(email),chat_sessions(id)", "team_id": f"eq.{TEAM_A}", "order": "name.asc"}, headers={**world.headers("user_a"), "Prefer": "count=exact"})
    print(r.status_code, r.headers, r.text)
    assert r.status_code == 200
