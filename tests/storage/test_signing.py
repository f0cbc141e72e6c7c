"""Signed URL tokens (pure): a token opens its own URL, for its own use, until it expires;
expiresIn as clients send it."""

import time

import jwt
import pytest

from gptdesk.storage.errors import StorageError
from gptdesk.storage.signing import MAX_EXPIRES_IN, expires_in, sign, verify

SECRET = "signing-secret-" + "s" * 32
URL = "gpt-desk-files/team/a.pdf"


def refused(token: str | None, url: str = URL, scope: str = "download") -> StorageError:
    with pytest.raises(StorageError) as caught:
        verify(SECRET, token, url, scope)  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.code) == (400, "InvalidJWT")
    return caught.value


def test_a_token_opens_its_own_url() -> None:
    token = sign(SECRET, URL, "download", 60)
    claims = verify(SECRET, token, URL, "download")
    assert claims["url"] == URL
    assert claims["scope"] == "download"
    assert claims["exp"] - claims["iat"] == 60


def test_an_upload_token_carries_its_signer() -> None:
    token = sign(SECRET, URL, "upload", 60, sub="user-1", role="authenticated", upsert=True)
    claims = verify(SECRET, token, URL, "upload")
    assert (claims["sub"], claims["role"], claims["upsert"]) == ("user-1", "authenticated", True)


def test_an_expired_token() -> None:
    assert refused(sign(SECRET, URL, "download", -1)).message == "jwt expired"


def test_another_url_or_use() -> None:
    token = sign(SECRET, URL, "download", 60)
    assert (
        refused(token, url="gpt-desk-files/team/b.pdf").message == "the token is for another object"
    )
    assert (
        refused(token, url="gpt-desk-files/team/a.pdf/x").message
        == "the token is for another object"
    )
    refused(token, scope="upload")
    refused(sign(SECRET, URL, "upload", 60), scope="download")


def test_forged_and_malformed_tokens() -> None:
    now = int(time.time())
    refused(None)
    refused("")
    refused("not.a.jwt")
    refused(
        jwt.encode({"url": URL, "exp": now + 60}, "another-secret-" + "x" * 32, algorithm="HS256")
    )
    refused(jwt.encode({"url": URL}, SECRET, algorithm="HS256"))  # no exp
    refused(jwt.encode({"exp": now + 60}, SECRET, algorithm="HS256"))  # no url
    unsigned = jwt.encode({"url": URL, "exp": now + 60}, None, algorithm="none")
    refused(unsigned)
    token = sign(SECRET, URL, "download", 60)
    head, body, signature = token.split(".")
    refused(f"{head}.{body}.{signature[::-1]}")


def test_a_token_without_a_scope_is_a_download_token() -> None:
    token = jwt.encode({"url": URL, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert verify(SECRET, token, URL, "download")["url"] == URL
    refused(token, scope="upload")


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("60", 60), (60, 60), (" 3600 ", 3600), ("1", 1), (MAX_EXPIRES_IN, MAX_EXPIRES_IN)],
)
def test_expires_in(given: object, seconds: int) -> None:
    assert expires_in(given) == seconds


@pytest.mark.parametrize("given", [None, "", "0", 0, "-1", "soon", "60.5", MAX_EXPIRES_IN + 1])
def test_expires_in_refused(given: object) -> None:
    with pytest.raises(StorageError) as caught:
        expires_in(given)
    assert (caught.value.status, caught.value.code) == (400, "InvalidRequest")
