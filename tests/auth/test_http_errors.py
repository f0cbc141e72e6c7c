"""Every error the auth surface answers, as whole HTTP exchanges (wire spec §1.3)."""

import secrets
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.conftest import LiveServer, MigratedDatabase

VERSION = {"X-Supabase-Api-Version": "2024-01-01"}


@pytest.fixture
def http(open_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{open_server.url}/auth/v1",
        headers={"apikey": open_server.anon_key, **VERSION},
    ) as client:
        yield client


def expect(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert response.headers["x-sb-error-code"] == code
    assert response.headers["x-supabase-api-version"] == "2024-01-01"
    return body


def test_missing_and_unknown_project_keys(open_server: LiveServer) -> None:
    url = f"{open_server.url}/auth/v1/settings"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json() == {
        "message": "No API key found in request",
        "hint": "No `apikey` request header or url param was found.",
    }
    forged = jwt.encode({"role": "service_role", "exp": 2**31}, "x" * 40, algorithm="HS256")
    for key in ("nonsense", forged):
        unknown = httpx.get(url, headers={"apikey": key})
        assert unknown.status_code == 401 and unknown.json()["message"] == "Invalid API key"
    assert httpx.get(url, params={"apikey": open_server.anon_key}).status_code == 200


def test_health_needs_no_key(open_server: LiveServer) -> None:
    assert httpx.get(f"{open_server.url}/auth/v1/health").json()["name"] == "GoTrue"


def test_legacy_error_shape_without_the_version_header(open_server: LiveServer) -> None:
    response = httpx.post(
        f"{open_server.url}/auth/v1/token?grant_type=password",
        headers={"apikey": open_server.anon_key},
        json={"email": "nobody@example.com", "password": "whatever1"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "error_code": "invalid_credentials",
        "msg": "Invalid login credentials",
    }
    assert "x-supabase-api-version" not in response.headers


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/signup", b"{not json", 400, "validation_failed"),
        ("/signup", b"[1, 2]", 400, "validation_failed"),
        ("/signup", b'{"email": "a@example.com"}', 400, "validation_failed"),
        ("/signup", b'{"password": "s3cret-pass!"}', 400, "validation_failed"),
        (
            "/signup",
            b'{"email": "not-an-address", "password": "s3cret-pass!"}',
            400,
            "email_address_invalid",
        ),
        (
            "/signup",
            b'{"email": "a@example.com", "password": "s3cret-pass!", "data": 5}',
            400,
            "validation_failed",
        ),
        ("/token?grant_type=magic", b"{}", 400, "invalid_credentials"),
        ("/token", b"{}", 400, "invalid_credentials"),
        ("/token?grant_type=password", b'{"email": "a@example.com"}', 400, "validation_failed"),
        ("/token?grant_type=refresh_token", b"{}", 400, "validation_failed"),
        (
            "/token?grant_type=refresh_token",
            b'{"refresh_token": "nope"}',
            400,
            "refresh_token_not_found",
        ),
    ],
)
def test_bad_requests(http: httpx.Client, path: str, body: bytes, status: int, code: str) -> None:
    expect(http.post(path, content=body), status, code)


def test_unsupported_grant_message(http: httpx.Client) -> None:
    body = expect(http.post("/token?grant_type=magic", json={}), 400, "invalid_credentials")
    assert body["message"] == "unsupported_grant_type"


def test_oversized_body(http: httpx.Client) -> None:
    expect(http.post("/signup", content=b"{" + b" " * (1 << 20) + b"}"), 413, "request_too_large")


def test_weak_password_changes_nothing(http: httpx.Client, db: MigratedDatabase) -> None:
    email = f"weak-{secrets.token_hex(4)}@example.com"
    body = expect(
        http.post("/signup", json={"email": email, "password": "abc"}), 422, "weak_password"
    )
    assert body["weak_password"] == {"reasons": ["length"]}
    assert "at least 8 characters" in str(body["message"])
    assert (
        http.post(
            "/token?grant_type=password", json={"email": email, "password": "abc"}
        ).status_code
        == 400
    )


def token(secret: str, **claims: object) -> str:
    base = {
        "sub": "8f1c0000-0000-4000-8000-000000000001",
        "role": "authenticated",
        "aud": "authenticated",
        "exp": int(time.time()) + 600,
    }
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


def test_user_endpoint_token_errors(http: httpx.Client, db: MigratedDatabase) -> None:
    expect(http.get("/user"), 401, "no_authorization")
    expect(http.get("/user", headers={"Authorization": "Basic abc"}), 401, "no_authorization")
    bad = [
        token(db.jwt_secret, exp=int(time.time()) - 5),
        token("y" * 40),
        token(db.jwt_secret, aud="someone-else"),
        jwt.encode({"sub": "x", "role": "authenticated", "exp": 2**31}, None, algorithm="none"),
        "garbage",
    ]
    for value in bad:
        expect(http.get("/user", headers={"Authorization": f"Bearer {value}"}), 403, "bad_jwt")
    unknown = token(db.jwt_secret)
    expect(http.get("/user", headers={"Authorization": f"Bearer {unknown}"}), 403, "user_not_found")
    expect(
        http.post("/logout", headers={"Authorization": f"Bearer {unknown}"}), 403, "user_not_found"
    )


def test_logout_scopes(http: httpx.Client) -> None:
    email = f"scopes-{secrets.token_hex(4)}@example.com"
    http.post("/signup", json={"email": email, "password": "s3cret-pass!"})
    sessions = [
        http.post(
            "/token?grant_type=password", json={"email": email, "password": "s3cret-pass!"}
        ).json()
        for _ in range(3)
    ]

    def alive(session: dict[str, str]) -> bool:
        got = http.get("/user", headers={"Authorization": f"Bearer {session['access_token']}"})
        return got.status_code == 200

    bearer = {"Authorization": f"Bearer {sessions[0]['access_token']}"}
    expect(http.post("/logout?scope=everything", headers=bearer), 400, "validation_failed")
    assert http.post("/logout?scope=others", headers=bearer).status_code == 204
    assert [alive(s) for s in sessions] == [True, False, False]
    assert http.post("/logout?scope=local", headers=bearer).status_code == 204
    assert not alive(sessions[0])


def test_signup_is_closed_by_default(server: LiveServer) -> None:
    with httpx.Client(
        base_url=f"{server.url}/auth/v1", headers={"apikey": server.anon_key, **VERSION}
    ) as client:
        assert client.get("/settings").json()["disable_signup"] is True
        body = expect(
            client.post("/signup", json={"email": "x@example.com", "password": "s3cret-pass!"}),
            422,
            "signup_disabled",
        )
        assert body["message"] == "Signups not allowed for this instance"
