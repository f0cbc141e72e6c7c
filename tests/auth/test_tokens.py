"""Access tokens: the claim set we mint, and every way verification refuses a token."""

import time

import jwt
import pytest

from gptdesk.auth.keys import project_keys
from gptdesk.auth.tokens import InvalidToken, mint_access_token, verify

SECRET = "s" * 40
USER = {
    "id": "8f1c0000-0000-4000-8000-000000000001",
    "email": "a@example.com",
    "app_metadata": {"provider": "email"},
    "user_metadata": {"name": "A"},
}


def minted(**overrides: object) -> str:
    return mint_access_token(
        secret=SECRET,
        issuer="http://x/auth/v1",
        lifetime=3600,
        user={**USER, **overrides},
        session_id="sess",
        aal="aal1",
        amr=[{"method": "password", "timestamp": 1}],
    ).token


def test_claims_are_gotrues() -> None:
    claims = verify(minted(), SECRET)
    assert set(claims) == {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "email",
        "phone",
        "app_metadata",
        "user_metadata",
        "role",
        "aal",
        "amr",
        "session_id",
        "is_anonymous",
    }
    assert claims["role"] == "authenticated" and claims["aud"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 3600


def test_project_keys_verify() -> None:
    keys = project_keys(SECRET)
    assert verify(keys.anon_key, SECRET)["role"] == "anon"
    assert verify(keys.service_role_key, SECRET)["role"] == "service_role"


def forge(payload: dict[str, object], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


GOOD = {"sub": USER["id"], "role": "authenticated", "aud": "authenticated"}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (forge({**GOOD, "exp": int(time.time()) - 10}), "expired"),
        (forge({**GOOD, "exp": int(time.time()) + 3600}, key="t" * 40), "signature"),
        (forge({**GOOD, "exp": int(time.time()) + 3600, "aud": "other"}), "audience"),
        (forge({**GOOD, "exp": int(time.time()) + 3600, "role": "postgres"}), "role"),
        (forge({**GOOD}), "exp"),
        (jwt.encode({**GOOD, "exp": int(time.time()) + 3600}, None, algorithm="none"), "signature"),
        ("not.a.jwt", "signature"),
        ("", "signature"),
    ],
)
def test_bad_tokens_are_refused(token: str, reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        verify(token, SECRET)


def test_a_tampered_payload_is_refused() -> None:
    header, payload, signature = minted().split(".")
    other = minted(email="b@example.com").split(".")[1]
    with pytest.raises(InvalidToken):
        verify(f"{header}.{other}x.{signature}", SECRET)
    assert payload != other
