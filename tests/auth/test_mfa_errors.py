"""Every error of the MFA endpoints, as whole HTTP exchanges (GoTrue's codes and statuses)."""

import asyncio
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest

from tests.conftest import LiveServer, MigratedDatabase, running_server
from tests.helpers import expect_auth_error

VERSION = {"X-Supabase-Api-Version": "2024-01-01"}
PASSWORD = "s3cret-pass!"


@pytest.fixture
def http(open_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{open_server.url}/auth/v1",
        headers={"apikey": open_server.anon_key, **VERSION},
    ) as client:
        yield client


class User:
    """A signed-up user's session, and requests made with its access token."""

    def __init__(self, http: httpx.Client, email: str | None = None) -> None:
        self.http = http
        self.email = email or f"mfa-err-{secrets.token_hex(6)}@example.com"
        session = http.post("/signup", json={"email": self.email, "password": PASSWORD}).json()
        self.token = session["access_token"]
        self.id = session["user"]["id"]

    def sign_in(self) -> "User":
        """A second session of the same user (aal1)."""
        other = object.__new__(User)
        other.http, other.email, other.id = self.http, self.email, self.id
        other.token = self.http.post(
            "/token?grant_type=password", json={"email": self.email, "password": PASSWORD}
        ).json()["access_token"]
        return other

    def post(self, path: str, body: object = None) -> httpx.Response:
        return self.http.post(path, json=body, headers={"Authorization": f"Bearer {self.token}"})

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(path, headers={"Authorization": f"Bearer {self.token}"})

    def enroll(self, name: str | None = None) -> dict[str, Any]:
        response = self.post("/factors", {"factor_type": "totp", "friendly_name": name})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def challenge(self, factor_id: str) -> str:
        response = self.post(f"/factors/{factor_id}/challenge", {})
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def verify(self, factor: dict[str, Any], code: str | None = None) -> httpx.Response:
        challenge_id = self.challenge(factor["id"])
        code = code or pyotp.TOTP(factor["totp"]["secret"]).now()
        return self.post(
            f"/factors/{factor['id']}/verify", {"challenge_id": challenge_id, "code": code}
        )


def owner_execute(db: MigratedDatabase, sql: str, *args: object) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(db.admin_dsn)
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()

    asyncio.run(run())


def test_without_a_bearer_token(http: httpx.Client) -> None:
    expect_auth_error(http.post("/factors", json={"factor_type": "totp"}), 401, "no_authorization")


def test_with_a_token_whose_session_ended(http: httpx.Client) -> None:
    user = User(http)
    http.post("/logout", headers={"Authorization": f"Bearer {user.token}"})
    expect_auth_error(user.post("/factors", {"factor_type": "totp"}), 403, "session_not_found")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "validation_failed"),
        ({"factor_type": "sms"}, 400, "validation_failed"),
        ({"factor_type": "phone", "phone": "+15550000000"}, 422, "mfa_phone_enroll_not_enabled"),
        ({"factor_type": "webauthn"}, 422, "mfa_webauthn_enroll_not_enabled"),
        ({"factor_type": "totp", "friendly_name": 7}, 400, "validation_failed"),
        ({"factor_type": "totp", "friendly_name": "x" * 256}, 400, "validation_failed"),
        ({"factor_type": "totp", "issuer": ["x"]}, 400, "validation_failed"),
    ],
)
def test_enrol_refuses_bad_requests(
    http: httpx.Client, body: dict[str, Any], status: int, code: str
) -> None:
    expect_auth_error(User(http).post("/factors", body), status, code)


def test_enrol_refuses_a_name_in_use(http: httpx.Client) -> None:
    user = User(http)
    user.enroll("Phone")
    body = expect_auth_error(
        user.post("/factors", {"factor_type": "totp", "friendly_name": "Phone"}),
        422,
        "mfa_factor_name_conflict",
    )
    assert body["message"] == 'A factor with the friendly name "Phone" for this user already exists'
    user.enroll("Tablet")  # other names, and no name, are fine
    user.enroll()
    user.enroll()


def test_enrol_refuses_an_eleventh_factor(http: httpx.Client) -> None:
    user = User(http)
    for _ in range(10):
        user.enroll()
    expect_auth_error(
        user.post("/factors", {"factor_type": "totp"}), 422, "too_many_enrolled_mfa_factors"
    )


def test_stale_unverified_factors_make_room(http: httpx.Client, db: MigratedDatabase) -> None:
    user = User(http)
    for _ in range(10):
        user.enroll()
    owner_execute(
        db,
        "update auth.mfa_factors set created_at = now() - interval '6 minutes' where user_id = $1",
        uuid.UUID(user.id),
    )
    user.enroll()


def test_a_second_factor_needs_aal2_once_one_is_verified(http: httpx.Client) -> None:
    user = User(http)
    factor = user.enroll()
    assert user.verify(factor).status_code == 200
    expect_auth_error(
        user.sign_in().post("/factors", {"factor_type": "totp"}), 403, "insufficient_aal"
    )


@pytest.mark.parametrize("action", ["challenge", "verify", "unenroll"])
def test_unknown_and_foreign_factors_are_not_found(http: httpx.Client, action: str) -> None:
    owner, stranger = User(http), User(http)
    foreign = owner.enroll()["id"]
    for factor_id, status, code in [
        (str(uuid.uuid4()), 404, "mfa_factor_not_found"),
        (foreign, 404, "mfa_factor_not_found"),
        ("not-a-uuid", 404, "validation_failed"),
    ]:
        body = {"challenge_id": str(uuid.uuid4()), "code": "123456"}
        if action == "challenge":
            response = stranger.post(f"/factors/{factor_id}/challenge", {})
        elif action == "verify":
            response = stranger.post(f"/factors/{factor_id}/verify", body)
        else:
            response = stranger.delete(f"/factors/{factor_id}")
        expect_auth_error(response, status, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"challenge_id": "00000000-0000-4000-8000-000000000000"}, "validation_failed"),
        ({"challenge_id": "00000000-0000-4000-8000-000000000000", "code": ""}, "validation_failed"),
        ({"challenge_id": "nope", "code": "123456"}, "validation_failed"),
    ],
)
def test_verify_refuses_bad_requests(http: httpx.Client, body: dict[str, Any], code: str) -> None:
    user = User(http)
    factor = user.enroll()
    expect_auth_error(user.post(f"/factors/{factor['id']}/verify", body), 400, code)


def test_verify_against_an_unknown_challenge(http: httpx.Client) -> None:
    user = User(http)
    factor = user.enroll()
    other = user.enroll()
    challenge_of_other = user.challenge(other["id"])
    for challenge_id in (str(uuid.uuid4()), challenge_of_other):
        response = user.post(
            f"/factors/{factor['id']}/verify", {"challenge_id": challenge_id, "code": "123456"}
        )
        expect_auth_error(response, 422, "mfa_factor_not_found")


def test_a_wrong_code_fails_and_changes_nothing_but_the_audit(http: httpx.Client) -> None:
    user = User(http)
    factor = user.enroll()
    secret = factor["totp"]["secret"]
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    body = expect_auth_error(user.verify(factor, wrong), 422, "mfa_verification_failed")
    assert body["message"] == "Invalid TOTP code entered"
    listed = http.get("/user", headers={"Authorization": f"Bearer {user.token}"}).json()
    assert [f["status"] for f in listed["factors"]] == ["unverified"]


def test_a_code_is_good_once(http: httpx.Client) -> None:
    user = User(http)
    factor = user.enroll()
    secret = factor["totp"]["secret"]
    now = pyotp.TOTP(secret).now()
    assert user.verify(factor, now).status_code == 200
    expect_auth_error(user.verify(factor, now), 422, "mfa_verification_failed")
    # An older step is spent too; the next step's code is still good.
    expect_auth_error(
        user.verify(factor, pyotp.TOTP(secret).at(time.time() - 30)), 422, "mfa_verification_failed"
    )
    assert user.verify(factor, pyotp.TOTP(secret).at(time.time() + 30)).status_code == 200


def test_a_challenge_is_good_once(http: httpx.Client) -> None:
    user = User(http)
    factor = user.enroll()
    challenge_id = user.challenge(factor["id"])
    secret = factor["totp"]["secret"]
    path = f"/factors/{factor['id']}/verify"
    first = user.post(path, {"challenge_id": challenge_id, "code": pyotp.TOTP(secret).now()})
    assert first.status_code == 200
    user.token = first.json()["access_token"]
    later = pyotp.TOTP(secret).at(time.time() + 30)
    expect_auth_error(
        user.post(path, {"challenge_id": challenge_id, "code": later}),
        422,
        "mfa_ip_address_mismatch",
    )


def test_an_expired_challenge_is_refused_and_forgotten(
    http: httpx.Client, db: MigratedDatabase
) -> None:
    user = User(http)
    factor = user.enroll()
    challenge_id = user.challenge(factor["id"])
    owner_execute(
        db,
        "update auth.mfa_challenges set created_at = now() - interval '301 seconds' where id = $1",
        uuid.UUID(challenge_id),
    )
    body = {"challenge_id": challenge_id, "code": pyotp.TOTP(factor["totp"]["secret"]).now()}
    expect_auth_error(
        user.post(f"/factors/{factor['id']}/verify", body), 422, "mfa_challenge_expired"
    )
    expect_auth_error(
        user.post(f"/factors/{factor['id']}/verify", body), 422, "mfa_factor_not_found"
    )


def test_a_challenge_from_another_address_is_refused(
    http: httpx.Client, db: MigratedDatabase
) -> None:
    user = User(http)
    factor = user.enroll()
    challenge_id = user.challenge(factor["id"])
    owner_execute(
        db,
        "update auth.mfa_challenges set ip_address = '192.0.2.9' where id = $1",
        uuid.UUID(challenge_id),
    )
    body = {"challenge_id": challenge_id, "code": pyotp.TOTP(factor["totp"]["secret"]).now()}
    expect_auth_error(
        user.post(f"/factors/{factor['id']}/verify", body), 422, "mfa_ip_address_mismatch"
    )


def test_unenrolling_a_verified_factor_needs_aal2(http: httpx.Client) -> None:
    user = User(http)
    factor = user.enroll()
    verified = user.verify(factor)
    assert verified.status_code == 200
    user.token = verified.json()["access_token"]
    pending = user.enroll()  # at aal2
    aal1 = user.sign_in()
    expect_auth_error(aal1.delete(f"/factors/{factor['id']}"), 422, "insufficient_aal")
    # An unverified factor may go from an aal1 session, as in GoTrue.
    assert aal1.delete(f"/factors/{pending['id']}").json() == {"id": pending["id"]}


def test_the_admin_factor_api_needs_the_service_role(
    http: httpx.Client, open_server: LiveServer
) -> None:
    user = User(http)
    path = f"/admin/users/{user.id}/factors"
    expect_auth_error(http.get(path), 401, "no_authorization")
    expect_auth_error(
        user.http.get(path, headers={"Authorization": f"Bearer {user.token}"}), 403, "not_admin"
    )
    service = {"Authorization": f"Bearer {open_server.service_role_key}"}
    expect_auth_error(
        http.get(f"/admin/users/{uuid.uuid4()}/factors", headers=service), 404, "user_not_found"
    )
    expect_auth_error(
        http.get("/admin/users/nope/factors", headers=service), 404, "validation_failed"
    )
    expect_auth_error(
        http.delete(f"{path}/{uuid.uuid4()}", headers=service), 404, "mfa_factor_not_found"
    )


def test_code_guessing_is_rate_limited(db: MigratedDatabase) -> None:
    with (
        running_server(
            db, open_signup="true", autoconfirm="true", rate_limit_verify_ip="3/minute"
        ) as strict,
        httpx.Client(
            base_url=f"{strict.url}/auth/v1", headers={"apikey": strict.anon_key, **VERSION}
        ) as http,
    ):
        user = User(http)
        factor = user.enroll()
        challenge_id = user.challenge(factor["id"])
        path = f"/factors/{factor['id']}/verify"
        answers = [
            user.post(path, {"challenge_id": challenge_id, "code": guess})
            for guess in ("000001", "000002", "000003", "000004")
        ]
        assert [a.status_code for a in answers[:3]] == [422, 422, 422]
        limited = expect_auth_error(answers[3], 429, "over_request_rate_limit")
        assert limited["message"] == "Request rate limit reached"
        assert 1 <= int(answers[3].headers["retry-after"]) <= 60
