"""The admin API through supabase-py's admin client, and who may not call it."""

import secrets
from collections.abc import Iterator

import httpx
import pytest
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from tests.conftest import LiveServer

PASSWORD = "s3cret-pass!"


def new_email() -> str:
    return f"admin-made-{secrets.token_hex(6)}@example.com"


@pytest.fixture
def service(server: LiveServer) -> Iterator[Client]:
    """A client holding the service-role key, as a trusted backend would."""
    with httpx.Client() as transport:
        yield create_client(
            server.url, server.service_role_key, options=ClientOptions(httpx_client=transport)
        )


@pytest.fixture
def anon(server: LiveServer) -> Iterator[Client]:
    with httpx.Client() as transport:
        yield create_client(
            server.url, server.anon_key, options=ClientOptions(httpx_client=transport)
        )


def test_create_get_list_update_delete(service: Client, anon: Client) -> None:
    email = new_email()
    created = service.auth.admin.create_user(
        {
            "email": email,
            "password": PASSWORD,
            "email_confirm": True,
            "user_metadata": {"name": "Made By Admin"},
        }
    ).user
    assert created.email == email and created.email_confirmed_at is not None
    # The invitation-only default does not stop admins; the account can sign in at once.
    signed_in = anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.session is not None

    assert service.auth.admin.get_user_by_id(created.id).user.email == email
    listed = service.auth.admin.list_users(page=1, per_page=1000)
    assert email in {user.email for user in listed}

    updated = service.auth.admin.update_user_by_id(
        created.id, {"user_metadata": {"title": "Analyst"}, "app_metadata": {"plan": "x"}}
    ).user
    assert updated.user_metadata["title"] == "Analyst"
    assert updated.user_metadata["name"] == "Made By Admin"
    assert updated.app_metadata["plan"] == "x" and updated.app_metadata["provider"] == "email"

    service.auth.admin.delete_user(created.id)
    with pytest.raises(AuthApiError) as gone:
        service.auth.admin.get_user_by_id(created.id)
    assert gone.value.code == "user_not_found"
    with pytest.raises(AuthApiError):
        anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})


def test_unconfirmed_user_cannot_sign_in(service: Client, anon: Client) -> None:
    email = new_email()
    service.auth.admin.create_user({"email": email, "password": PASSWORD})
    with pytest.raises(AuthApiError) as failure:
        anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert failure.value.code == "email_not_confirmed"


def test_ban_ends_sessions_and_sign_ins(service: Client, anon: Client, server: LiveServer) -> None:
    email = new_email()
    user = service.auth.admin.create_user(
        {"email": email, "password": PASSWORD, "email_confirm": True}
    ).user
    session = anon.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    assert session is not None
    banned = service.auth.admin.update_user_by_id(user.id, {"ban_duration": "24h"}).user
    assert banned.banned_until is not None
    with pytest.raises(AuthApiError) as refused:
        anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert refused.value.code == "user_banned"
    headers = {"apikey": server.anon_key, "X-Supabase-Api-Version": "2024-01-01"}
    refreshed = httpx.post(
        f"{server.url}/auth/v1/token?grant_type=refresh_token",
        headers=headers,
        json={"refresh_token": session.refresh_token},
    )
    assert refreshed.status_code == 400  # the ban deleted the session and its tokens
    still_jwt = httpx.get(
        f"{server.url}/auth/v1/user",
        headers={**headers, "Authorization": f"Bearer {session.access_token}"},
    )
    assert still_jwt.status_code == 403
    service.auth.admin.update_user_by_id(user.id, {"ban_duration": "none"})
    assert anon.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session


def test_soft_delete_blocks_sign_in(service: Client, anon: Client) -> None:
    email = new_email()
    user = service.auth.admin.create_user(
        {"email": email, "password": PASSWORD, "email_confirm": True}
    ).user
    service.auth.admin.delete_user(user.id, should_soft_delete=True)
    with pytest.raises(AuthApiError):
        anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "not-an-email"}, "email_address_invalid"),
        ({"email": "x@example.com", "password": "short"}, "weak_password"),
        ({"email": "x@example.com", "ban_duration": "forever"}, "validation_failed"),
        ({"email": "x@example.com", "app_metadata": "nope"}, "validation_failed"),
    ],
)
def test_bad_admin_input(server: LiveServer, body: dict[str, object], code: str) -> None:
    response = httpx.post(
        f"{server.url}/auth/v1/admin/users",
        headers={
            "apikey": server.service_role_key,
            "Authorization": f"Bearer {server.service_role_key}",
            "X-Supabase-Api-Version": "2024-01-01",
        },
        json=body,
    )
    assert response.json()["code"] == code, response.text


def test_only_the_service_role_is_admin(server: LiveServer, anon: Client) -> None:
    url = f"{server.url}/auth/v1/admin/users"
    headers = {"apikey": server.anon_key, "X-Supabase-Api-Version": "2024-01-01"}
    no_bearer = httpx.get(url, headers=headers)
    assert no_bearer.status_code == 401 and no_bearer.json()["code"] == "no_authorization"
    as_anon = httpx.get(url, headers={**headers, "Authorization": f"Bearer {server.anon_key}"})
    assert as_anon.status_code == 403 and as_anon.json()["code"] == "not_admin"


def test_pagination_headers(service: Client, server: LiveServer) -> None:
    for _ in range(3):
        service.auth.admin.create_user({"email": new_email(), "email_confirm": True})
    response = httpx.get(
        f"{server.url}/auth/v1/admin/users?page=1&per_page=2",
        headers={
            "apikey": server.service_role_key,
            "Authorization": f"Bearer {server.service_role_key}",
        },
    )
    assert len(response.json()["users"]) == 2
    assert int(response.headers["x-total-count"]) >= 3
    assert 'rel="next"' in response.headers["link"]


def test_admin_users_list_their_factors(service: Client, anon: Client, server: LiveServer) -> None:
    """GET, list and update answer users as GET /user does: MFA factors included."""
    email = new_email()
    user = service.auth.admin.create_user(
        {"email": email, "password": PASSWORD, "email_confirm": True}
    ).user
    plain = service.auth.admin.create_user({"email": new_email(), "email_confirm": True}).user
    anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    factor = anon.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "Phone"})

    fetched = service.auth.admin.get_user_by_id(user.id).user
    assert [(f.id, f.friendly_name, f.status) for f in fetched.factors or []] == [
        (factor.id, "Phone", "unverified")
    ]
    updated = service.auth.admin.update_user_by_id(user.id, {"user_metadata": {"x": 1}}).user
    assert [f.id for f in updated.factors or []] == [factor.id]
    listed = {u.id: u for u in service.auth.admin.list_users(page=1, per_page=1000)}
    assert [f.id for f in listed[user.id].factors or []] == [factor.id]
    assert not listed[plain.id].factors  # none: the key is left out, as GoTrue does
    raw = httpx.get(
        f"{server.url}/auth/v1/admin/users?per_page=1000",
        headers={"apikey": server.anon_key, "Authorization": f"Bearer {server.service_role_key}"},
    ).json()["users"]
    by_id = {u["id"]: u for u in raw}
    assert "factors" not in by_id[plain.id]
    assert by_id[user.id]["factors"][0]["factor_type"] == "totp"
    assert "secret" not in by_id[user.id]["factors"][0]
