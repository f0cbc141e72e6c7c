"""Review findings, pinned: a new password ends other sessions; NUL input is a 400, not a 500;
a soft-deleted address can be registered again; concurrent sign-ups of one address."""

import asyncio
import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer

PASSWORD = "s3cret-pass!"
VERSION = {"X-Supabase-Api-Version": "2024-01-01"}


@pytest.fixture
def http(open_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{open_server.url}/auth/v1",
        headers={"apikey": open_server.anon_key, **VERSION},
    ) as client:
        yield client


def new_email() -> str:
    return f"hard-{secrets.token_hex(5)}@example.com"


def test_a_new_password_ends_the_other_sessions(http: httpx.Client) -> None:
    email = new_email()
    http.post("/signup", json={"email": email, "password": PASSWORD})
    sign_in = {"email": email, "password": PASSWORD}
    mine = http.post("/token?grant_type=password", json=sign_in).json()
    stolen = http.post("/token?grant_type=password", json=sign_in).json()
    changed = http.put(
        "/user",
        json={"password": "n3w-secret-pass"},
        headers={"Authorization": f"Bearer {mine['access_token']}"},
    )
    assert changed.status_code == 200
    refreshed = http.post(
        "/token?grant_type=refresh_token", json={"refresh_token": stolen["refresh_token"]}
    )
    assert refreshed.status_code == 400
    gone = http.get("/user", headers={"Authorization": f"Bearer {stolen['access_token']}"})
    assert gone.json()["code"] == "session_not_found"
    still = http.get("/user", headers={"Authorization": f"Bearer {mine['access_token']}"})
    assert still.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (
            "/token?grant_type=password",
            {"email": "a\u0000@b.io", "password": "x"},
            "email_address_invalid",
        ),
        (
            "/signup",
            {"email": "nul@b.io", "password": PASSWORD, "data": {"n": "\u0000"}},
            "validation_failed",
        ),
        ("/signup", {"email": "nul2@b.io", "password": "pass\u0000word1"}, "validation_failed"),
    ],
)
def test_nul_characters_are_refused_cleanly(
    http: httpx.Client, path: str, body: dict[str, object], code: str
) -> None:
    response = http.post(path, json=body)
    assert response.status_code == 400 and response.json()["code"] == code


def test_a_soft_deleted_address_can_register_again(server: LiveServer) -> None:
    headers = {
        "apikey": server.service_role_key,
        "Authorization": f"Bearer {server.service_role_key}",
        **VERSION,
    }
    email = new_email()
    body = {"email": email, "password": PASSWORD, "email_confirm": True}
    with httpx.Client(base_url=f"{server.url}/auth/v1/admin", headers=headers) as admin:
        first = admin.post("/users", json=body).json()
        admin.request("DELETE", f"/users/{first['id']}", json={"should_soft_delete": True})
        again = admin.post("/users", json=body)
        assert again.status_code == 200 and again.json()["id"] != first["id"]


async def test_concurrent_sign_ups_of_one_address(open_server: LiveServer) -> None:
    email = new_email()
    async with httpx.AsyncClient(
        base_url=f"{open_server.url}/auth/v1",
        headers={"apikey": open_server.anon_key, **VERSION},
    ) as client:
        answers = await asyncio.gather(
            *(client.post("/signup", json={"email": email, "password": PASSWORD}) for _ in range(4))
        )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 1 and all(code == 422 for code in codes[1:]), codes
