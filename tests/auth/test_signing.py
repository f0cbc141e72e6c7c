"""Asymmetric access tokens: ES256/RS256 signing, the JWKS, and HS256 still accepted."""

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from gptdesk.auth.signing import (
    SigningKeyError,
    SigningKeys,
    generate_private_key,
    write_private_key,
)
from gptdesk.auth.tokens import InvalidToken, mint_access_token, verify
from tests.conftest import LiveServer, MigratedDatabase, running_server, scratch_dir

SECRET = "k" * 40
USER = {"id": "8f1c0000-0000-4000-8000-000000000009", "email": "k@example.com"}


def keys_for(algorithm: str, folder: Path) -> SigningKeys:
    path = folder / f"{algorithm}.pem"
    write_private_key(path, generate_private_key(algorithm))
    assert path.stat().st_mode & 0o777 == 0o600
    return SigningKeys.load(SECRET, algorithm, path)


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_asymmetric_tokens_verify_with_the_published_key(tmp_path: Path, algorithm: str) -> None:
    keys = keys_for(algorithm, tmp_path)
    token = mint_access_token(
        secret=keys, issuer="x", lifetime=60, user=USER, session_id="s", aal="aal1", amr=[]
    ).token
    header = jwt.get_unverified_header(token)
    assert header["alg"] == algorithm and header["kid"] == keys.jwk["kid"]
    (jwk,) = keys.jwks()["keys"]
    public = jwt.PyJWK(jwk).key  # what another service would do with the JWKS alone
    assert jwt.decode(token, public, algorithms=[algorithm], audience="authenticated")["sub"]
    assert verify(token, keys)["sub"] == USER["id"]
    # HS256 tokens signed with the secret (the project keys) remain valid.
    legacy = mint_access_token(
        secret=SECRET, issuer="x", lifetime=60, user=USER, session_id="s", aal="aal1", amr=[]
    ).token
    assert verify(legacy, keys)["sub"] == USER["id"]


def test_a_token_of_another_key_is_refused(tmp_path: Path) -> None:
    ours = keys_for("ES256", tmp_path)
    theirs_dir = tmp_path / "other"
    theirs_dir.mkdir()
    theirs = keys_for("ES256", theirs_dir)
    forged = mint_access_token(
        secret=theirs, issuer="x", lifetime=60, user=USER, session_id="s", aal="aal1", amr=[]
    ).token
    with pytest.raises(InvalidToken):
        verify(forged, ours)


def test_only_hs256_keys_mean_an_empty_jwks() -> None:
    assert SigningKeys(SECRET).jwks() == {"keys": []}


def test_a_wrong_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    write_private_key(path, generate_private_key("RS256"))
    with pytest.raises(SigningKeyError, match="not a key for ES256"):
        SigningKeys.load(SECRET, "ES256", path)
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(SigningKeyError, match="cannot read"):
        SigningKeys.load(SECRET, "ES256", tmp_path / "junk.pem")


@pytest.fixture(scope="module")
def es256_server(db: MigratedDatabase) -> Iterator[LiveServer]:
    with running_server(
        db,
        jwt_algorithm="ES256",
        open_signup="true",
        autoconfirm="true",
        rate_limit_signup_ip="1000/minute",
    ) as live:
        yield live


def test_server_signs_with_es256_and_publishes_the_key(es256_server: LiveServer) -> None:
    base = f"{es256_server.url}/auth/v1"
    published = httpx.get(f"{base}/.well-known/jwks.json").json()["keys"]
    assert [key["alg"] for key in published] == ["ES256"]
    headers = {"apikey": es256_server.anon_key}
    session = httpx.post(
        f"{base}/signup",
        headers=headers,
        json={"email": f"es-{secrets.token_hex(4)}@example.com", "password": "s3cret-pass!"},
    ).json()
    token = session["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == published[0]["kid"]
    public = jwt.PyJWK(published[0]).key
    jwt.decode(token, public, algorithms=["ES256"], audience="authenticated")
    me = httpx.get(f"{base}/user", headers={**headers, "Authorization": f"Bearer {token}"})
    assert me.status_code == 200


def test_hs256_server_publishes_no_keys(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/auth/v1/.well-known/jwks.json").json() == {"keys": []}


def test_serve_refuses_an_unusable_key_file(db: MigratedDatabase) -> None:
    folder = scratch_dir("gptdesk-badkey-")
    try:
        (folder / "bad.pem").write_text("not a key")
        with (
            pytest.raises(AssertionError, match="cannot read the JWT signing key"),
            running_server(db, jwt_algorithm="ES256", jwt_signing_key_file=str(folder / "bad.pem")),
        ):
            pass
    finally:
        shutil.rmtree(folder, ignore_errors=True)
