"""The official supabase-py client against a live server: the seed's authentication flow."""

import secrets
from collections.abc import Iterator

import httpx
import pytest
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from tests.conftest import LiveServer, MigratedDatabase
from tests.helpers import owner_query

PASSWORD = "s3cret-pass!"


def new_email() -> str:
    return f"user-{secrets.token_hex(6)}@example.com"


@pytest.fixture
def client(open_server: LiveServer) -> Iterator[Client]:
    """The official client, on an HTTP client the test closes."""
    with httpx.Client() as transport:
        yield create_client(
            open_server.url, open_server.anon_key, options=ClientOptions(httpx_client=transport)
        )


def test_sign_up_creates_the_profile_and_a_session(client: Client, db: MigratedDatabase) -> None:
    email = new_email()
    response = client.auth.sign_up(
        {"email": email, "password": PASSWORD, "options": {"data": {"name": "Alice Example"}}}
    )
    assert response.session is not None and response.user is not None
    assert response.user.email == email
    assert response.user.user_metadata["name"] == "Alice Example"
    assert response.user.identities and response.user.identities[0].provider == "email"
    profile = owner_query(
        db,
        "select full_name, role::text, team_id from public.users where id = $1",
        response.user.id,
    )
    assert profile == [("Alice Example", "user", None)]
    actions = owner_query(
        db,
        "select action, host(ip_address) from public.audit_logs where user_id = $1",
        response.user.id,
    )
    assert ("user.signed_up", "127.0.0.1") in actions


def test_sign_in_get_update_refresh_sign_out(client: Client, open_server: LiveServer) -> None:
    email = new_email()
    client.auth.sign_up({"email": email, "password": PASSWORD})
    client.auth.sign_out()

    signed_in = client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.session is not None
    first = signed_in.session
    assert client.auth.get_user().user.email == email  # type: ignore[union-attr]

    updated = client.auth.update_user({"data": {"team_name": "Research"}})
    assert updated.user.user_metadata["team_name"] == "Research"  # type: ignore[union-attr]
    client.auth.update_user({"password": "n3w-secret-pass"})

    refreshed = client.auth.refresh_session()
    assert refreshed.session is not None
    assert refreshed.session.refresh_token != first.refresh_token
    assert refreshed.session.user.id == first.user.id

    client.auth.sign_out()
    # The access token is still a valid JWT, but its session is gone.
    gone = httpx.get(
        f"{open_server.url}/auth/v1/user",
        headers={
            "apikey": open_server.anon_key,
            "Authorization": f"Bearer {refreshed.session.access_token}",
            "X-Supabase-Api-Version": "2024-01-01",
        },
    )
    assert gone.status_code == 403 and gone.json()["code"] == "session_not_found"

    with pytest.raises(AuthApiError) as old_password:
        client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert old_password.value.code == "invalid_credentials"
    again = client.auth.sign_in_with_password({"email": email, "password": "n3w-secret-pass"})
    assert again.session is not None


def test_wrong_password_and_unknown_user_look_the_same(client: Client) -> None:
    email = new_email()
    client.auth.sign_up({"email": email, "password": PASSWORD})
    errors = []
    for attempt in (
        {"email": email, "password": "wrong-pass"},
        {"email": new_email(), "password": PASSWORD},
    ):
        with pytest.raises(AuthApiError) as failure:
            client.auth.sign_in_with_password(attempt)
        errors.append((failure.value.status, failure.value.code, failure.value.message))
    assert errors[0] == errors[1] == (400, "invalid_credentials", "Invalid login credentials")


def test_weak_password_is_refused_with_reasons(client: Client) -> None:
    with pytest.raises(AuthWeakPasswordError) as failure:
        client.auth.sign_up({"email": new_email(), "password": "short"})
    assert failure.value.status == 422 and failure.value.code == "weak_password"
    assert failure.value.reasons == ["length"]


def test_a_registered_address_cannot_sign_up_again(client: Client) -> None:
    email = new_email()
    client.auth.sign_up({"email": email, "password": PASSWORD})
    with pytest.raises(AuthApiError) as failure:
        client.auth.sign_up({"email": email.upper(), "password": PASSWORD})
    assert failure.value.code == "user_already_exists"


def test_refresh_token_reuse_rules(open_server: LiveServer) -> None:
    """Rotation on every use; a lost response is forgiven; a replayed old token ends it all."""
    with httpx.Client(
        base_url=f"{open_server.url}/auth/v1",
        headers={"apikey": open_server.anon_key, "X-Supabase-Api-Version": "2024-01-01"},
    ) as http:
        _replay_sequence(http)


def _replay_sequence(http: httpx.Client) -> None:
    email = new_email()
    session = http.post("/signup", json={"email": email, "password": PASSWORD}).json()

    def refresh(token: str) -> httpx.Response:
        return http.post("/token?grant_type=refresh_token", json={"refresh_token": token})

    first = session["refresh_token"]
    second = refresh(first).json()["refresh_token"]
    # The client lost that response and retries with `first` within the reuse window.
    retried = refresh(first)
    assert retried.status_code == 200
    third = retried.json()["refresh_token"]
    assert third not in (first, second)
    # `second` was retired by the retry; `third` works.
    fourth = refresh(third).json()["refresh_token"]
    # Replaying `first` now (not the parent of the active token) is theft: session revoked.
    replay = refresh(first)
    assert replay.status_code == 400 and replay.json()["code"] == "refresh_token_already_used"
    dead = refresh(fourth)
    assert dead.status_code == 400 and dead.json()["code"] == "refresh_token_not_found"
