"""MFA with the official supabase-py client against a live server: enrol, challenge, verify."""

import secrets
import time
from collections.abc import Iterator

import httpx
import jwt
import pyotp
import pytest
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from tests.conftest import LiveServer, MigratedDatabase
from tests.helpers import owner_query

PASSWORD = "s3cret-pass!"


def new_email() -> str:
    return f"mfa-{secrets.token_hex(6)}@example.com"


@pytest.fixture
def transport() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def new_client(server: LiveServer, transport: httpx.Client) -> Client:
    return create_client(server.url, server.anon_key, options=ClientOptions(httpx_client=transport))


@pytest.fixture
def client(open_server: LiveServer, transport: httpx.Client) -> Client:
    """The official client, signed up as a new user."""
    client = new_client(open_server, transport)
    client.auth.sign_up({"email": new_email(), "password": PASSWORD})
    return client


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """The TOTP code of now, or of a later step (the server allows one step of skew)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def claims_of(access_token: str) -> dict[str, object]:
    return jwt.decode(access_token, options={"verify_signature": False})


def test_enrol_challenge_verify_steps_the_session_up(client: Client, db: MigratedDatabase) -> None:
    before = client.auth.get_session()
    assert before is not None
    aal = client.auth.mfa.get_authenticator_assurance_level()
    assert (aal.current_level, aal.next_level) == ("aal1", "aal1")

    enrolled = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "Phone"})
    assert enrolled.type == "totp" and enrolled.friendly_name == "Phone"
    assert enrolled.totp is not None
    # The server sends raw SVG; the client makes the data URI.
    assert enrolled.totp.qr_code.startswith("data:image/svg+xml;utf-8,<svg xmlns=")
    assert enrolled.totp.uri.startswith("otpauth://totp/")
    assert f"secret={enrolled.totp.secret}" in enrolled.totp.uri
    listed = client.auth.mfa.list_factors()
    assert [(f.id, f.status) for f in listed.all] == [(enrolled.id, "unverified")]
    assert listed.totp == []

    challenge = client.auth.mfa.challenge({"factor_id": enrolled.id})
    assert challenge.factor_type == "totp" and challenge.expires_at > 0
    code = totp_code(enrolled.totp.secret)
    verified = client.auth.mfa.verify(
        {"factor_id": enrolled.id, "challenge_id": challenge.id, "code": code}
    )
    assert verified.refresh_token != before.refresh_token
    claims = claims_of(verified.access_token)
    assert (
        claims["aal"] == "aal2"
        and claims["session_id"] == claims_of(before.access_token)["session_id"]
    )
    assert [entry["method"] for entry in claims["amr"]] == ["totp", "password"]  # type: ignore[index,union-attr]

    aal = client.auth.mfa.get_authenticator_assurance_level()
    assert (aal.current_level, aal.next_level) == ("aal2", "aal2")
    assert [m.method for m in aal.current_authentication_methods] == ["totp", "password"]
    listed = client.auth.mfa.list_factors()
    assert [(f.id, f.friendly_name, f.status) for f in listed.totp] == [
        (enrolled.id, "Phone", "verified")
    ]

    # Refresh keeps the session's level and methods.
    refreshed = client.auth.refresh_session()
    assert refreshed.session is not None
    assert claims_of(refreshed.session.access_token)["aal"] == "aal2"

    # The secret is stored sealed, never as the base32 the app was given.
    (stored,) = owner_query(db, "select secret from auth.mfa_factors where id = $1", enrolled.id)
    assert str(stored[0]).startswith("v1.") and enrolled.totp.secret not in str(stored[0])

    client.auth.mfa.unenroll({"factor_id": enrolled.id})
    assert client.auth.mfa.list_factors().all == []
    # The session that this factor raised is aal1 again from its next refresh on.
    lowered = client.auth.refresh_session()
    assert lowered.session is not None
    lowered_claims = claims_of(lowered.session.access_token)
    assert lowered_claims["aal"] == "aal1"
    assert [entry["method"] for entry in lowered_claims["amr"]] == ["password"]  # type: ignore[index,union-attr]


def test_a_new_sign_in_starts_at_aal1_and_knows_mfa_is_next(
    open_server: LiveServer, transport: httpx.Client
) -> None:
    client = new_client(open_server, transport)
    email = new_email()
    client.auth.sign_up({"email": email, "password": PASSWORD})
    factor = client.auth.mfa.enroll({"factor_type": "totp"})
    assert factor.friendly_name == "" and factor.totp is not None
    client.auth.mfa.challenge_and_verify(
        {"factor_id": factor.id, "code": totp_code(factor.totp.secret)}
    )
    client.auth.sign_out()

    client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    aal = client.auth.mfa.get_authenticator_assurance_level()
    assert (aal.current_level, aal.next_level) == ("aal1", "aal2")
    # A verified factor may be removed only from a session that has passed it.
    with pytest.raises(AuthApiError) as refused:
        client.auth.mfa.unenroll({"factor_id": factor.id})
    assert (refused.value.status, refused.value.code) == (422, "insufficient_aal")
    # The code of the step already used is spent; the next step's is good.
    client.auth.mfa.challenge_and_verify(
        {"factor_id": factor.id, "code": totp_code(factor.totp.secret, 1)}
    )
    assert client.auth.mfa.get_authenticator_assurance_level().current_level == "aal2"
    assert client.auth.mfa.unenroll({"factor_id": factor.id}).id == factor.id


def test_verifying_ends_the_users_other_aal1_sessions(
    open_server: LiveServer, transport: httpx.Client
) -> None:
    email = new_email()
    laptop = new_client(open_server, transport)
    laptop.auth.sign_up({"email": email, "password": PASSWORD})
    with httpx.Client() as other_transport:
        phone = new_client(open_server, other_transport)
        phone.auth.sign_in_with_password({"email": email, "password": PASSWORD})
        factor = laptop.auth.mfa.enroll({"factor_type": "totp"})
        assert factor.totp is not None
        laptop.auth.mfa.challenge_and_verify(
            {"factor_id": factor.id, "code": totp_code(factor.totp.secret)}
        )
        with pytest.raises(AuthApiError) as ended:
            phone.auth.refresh_session()
        assert ended.value.code in ("refresh_token_not_found", "session_not_found")
    assert laptop.auth.refresh_session().session is not None


def test_mfa_changes_are_audited(client: Client, db: MigratedDatabase) -> None:
    user = client.auth.get_user()
    assert user is not None
    factor = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "Audited"})
    assert factor.totp is not None
    challenge = client.auth.mfa.challenge({"factor_id": factor.id})
    with pytest.raises(AuthApiError):
        client.auth.mfa.verify(
            {"factor_id": factor.id, "challenge_id": challenge.id, "code": "000000"}
        )
    client.auth.mfa.verify(
        {
            "factor_id": factor.id,
            "challenge_id": challenge.id,
            "code": totp_code(factor.totp.secret),
        }
    )
    client.auth.mfa.unenroll({"factor_id": factor.id})
    rows = owner_query(
        db,
        "select action, resource_type, resource_id::text, host(ip_address) "
        "from public.audit_logs where user_id = $1 and action like 'mfa.%' order by created_at",
        user.user.id,
    )
    assert rows == [
        (action, "mfa_factor", factor.id, "127.0.0.1")
        for action in (
            "mfa.factor_enrolled",
            "mfa.verification_failed",
            "mfa.challenge_verified",
            "mfa.factor_unenrolled",
        )
    ]


def test_the_service_role_lists_and_deletes_a_users_factors(
    open_server: LiveServer, client: Client
) -> None:
    user = client.auth.get_user()
    assert user is not None
    factor = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "Lost phone"})
    assert factor.totp is not None
    client.auth.mfa.challenge_and_verify(
        {"factor_id": factor.id, "code": totp_code(factor.totp.secret)}
    )
    with httpx.Client() as admin_transport:
        admin = create_client(
            open_server.url,
            open_server.service_role_key,
            options=ClientOptions(httpx_client=admin_transport, auto_refresh_token=False),
        ).auth.admin
        listed = admin.mfa.list_factors({"user_id": user.user.id})
        assert [(f.id, f.friendly_name, f.status) for f in listed] == [
            (factor.id, "Lost phone", "verified")
        ]
        deleted = admin.mfa.delete_factor({"user_id": user.user.id, "id": factor.id})
        assert deleted.id == factor.id
        assert admin.mfa.list_factors({"user_id": user.user.id}) == []
    # Deleting a verified factor signs the user out everywhere.
    with pytest.raises(AuthApiError):
        client.auth.refresh_session()
