"""Signed download and upload URLs, public buckets, and the image renderer we do not offer,
on both backends.

A signed URL downloads without any credentials and only the object it names, until it
expires; a signed upload URL uploads as its signer, under RLS. A public bucket's files are
anyone's to read; a private bucket's are not, even at the public URL.
"""

import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from storage3.types import CreateSignedUploadUrlOptions

from tests.conftest import MigratedDatabase
from tests.rest.world import World
from tests.storage.conftest import Scratch
from tests.storage.helpers import (
    BUCKET,
    TEAM_A,
    TEAM_B,
    USERS,
    Backend,
    expect_api_error,
    expect_error,
    object_row,
    pattern_bytes,
)

Storage = Callable[..., SyncStorageClient]


def token_of(url: str) -> str:
    """The token query parameter of a signed URL."""
    return parse_qs(urlsplit(url).query)["token"][0]


def test_a_signed_url_downloads_without_credentials(
    storage: Storage, scratch: Scratch, backend: Backend
) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "shared.pdf")
    data = pattern_bytes(20_000)
    files.upload(path, data, {"content-type": "application/pdf"})
    signed = files.create_signed_url(path, 60)  # py sends expiresIn as the string "60"
    url = signed["signedURL"]
    assert url is not None
    assert url.startswith(f"{backend.server.url}/storage/v1/object/sign/{BUCKET}/{path}?token=")
    got = httpx.get(url)
    assert got.status_code == 200, got.text
    assert got.content == data
    assert got.headers["content-type"] == "application/pdf"
    assert "content-disposition" not in got.headers
    ranged = httpx.get(url, headers={"range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert ranged.content == data[:100]


def test_a_signed_url_for_download_names_the_file(storage: Storage, scratch: Scratch) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "report.txt")
    files.upload(path, b"report")
    named = files.create_signed_url(path, 60, {"download": "Q3 report.txt"})["signedURL"]
    assert named is not None
    got = httpx.get(named)
    assert got.content == b"report"
    assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''Q3%20report.txt"
    plain = files.create_signed_url(path, 60, {"download": True})["signedURL"]
    assert plain is not None
    got = httpx.get(plain)
    assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''report.txt"


def test_signed_urls_for_many_paths(storage: Storage, scratch: Scratch) -> None:
    files = storage("user_a").from_(BUCKET)
    one, two = scratch.path(TEAM_A, "one.txt"), scratch.path(TEAM_A, "two.txt")
    files.upload(one, b"1")
    files.upload(two, b"2")
    missing = scratch.path(TEAM_A, "missing.txt")
    signed = files.create_signed_urls([one, missing, two], 60)
    assert [item["path"] for item in signed] == [one, missing, two]
    by_path = {item["path"]: item for item in signed}
    assert by_path[missing]["signedURL"] is None
    assert by_path[missing]["error"] == (
        "Either the object does not exist or you do not have access to it"
    )
    for path, data in ((one, b"1"), (two, b"2")):
        url = by_path[path]["signedURL"]
        assert by_path[path]["error"] is None and url is not None
        assert httpx.get(url).content == data


def test_an_expired_signed_url_is_refused(storage: Storage, scratch: Scratch) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "brief.txt")
    files.upload(path, b"brief")
    url = files.create_signed_url(path, 1)["signedURL"]
    assert url is not None
    time.sleep(2)  # past the token's exp (whole seconds): not a timing assertion
    body = expect_error(httpx.get(url), "400", "InvalidJWT")
    assert body["message"] == "jwt expired"


def test_a_signed_url_opens_only_its_own_object(
    storage: Storage, scratch: Scratch, backend: Backend
) -> None:
    files = storage("user_a").from_(BUCKET)
    mine, other = scratch.path(TEAM_A, "mine.txt"), scratch.path(TEAM_A, "other.txt")
    files.upload(mine, b"mine")
    files.upload(other, b"other")
    url = files.create_signed_url(mine, 60)["signedURL"]
    assert url is not None
    token = token_of(url)
    base = f"{backend.server.url}/storage/v1/object/sign/{BUCKET}"
    expect_error(httpx.get(f"{base}/{other}", params={"token": token}), "400", "InvalidJWT")
    expect_error(httpx.get(f"{base}/{mine}"), "400", "InvalidJWT")
    expect_error(httpx.get(f"{base}/{mine}", params={"token": token[:-2]}), "400", "InvalidJWT")
    # a token from a signed upload URL is not a download token
    upload = files.create_signed_upload_url(scratch.path(TEAM_A, "later.txt"))
    expect_error(
        httpx.get(f"{base}/{scratch.path(TEAM_A, 'later.txt')}", params={"token": upload["token"]}),
        "400",
        "InvalidJWT",
    )


def test_signing_needs_a_visible_object(
    http: httpx.Client, actors: World, storage: Storage, scratch: Scratch
) -> None:
    with pytest.raises(StorageApiError) as caught:
        storage("user_a").from_(BUCKET).create_signed_url(scratch.path(TEAM_A, "none.txt"), 60)
    expect_api_error(caught, "404")
    path = scratch.path(TEAM_A, "here.txt")
    storage("user_a").from_(BUCKET).upload(path, b"here")
    for expires in ("0", "-5", "soon", None):
        refused = http.post(
            f"/object/sign/{BUCKET}/{path}",
            json={"expiresIn": expires},
            headers=actors.headers("user_a"),
        )
        expect_error(refused, "400")


def test_a_signed_upload_url_uploads_as_its_signer(
    storage: Storage, scratch: Scratch, db: MigratedDatabase
) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "dropped.csv")
    signed = files.create_signed_upload_url(path)
    assert signed["path"] == path
    assert token_of(signed["signed_url"]) == signed["token"]
    # anyone holding the URL can use it: here a client with no user at all
    anonymous = storage("anon").from_(BUCKET)
    done = anonymous.upload_to_signed_url(
        path, signed["token"], b"x,y\n", {"content-type": "text/csv"}
    )
    assert done.full_path == f"{BUCKET}/{path}"
    assert files.download(path) == b"x,y\n"
    row = object_row(db, BUCKET, path)
    assert row is not None
    assert row["owner"] == USERS["user_a"]
    assert row["metadata"]["mimetype"] == "text/csv"
    with pytest.raises(StorageApiError) as caught:  # not an upsert URL
        anonymous.upload_to_signed_url(path, signed["token"], b"again")
    expect_api_error(caught, "409")
    assert files.download(path) == b"x,y\n"


def test_a_signed_upsert_url_replaces(storage: Storage, scratch: Scratch) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "replace.txt")
    files.upload(path, b"old")
    signed = files.create_signed_upload_url(path, CreateSignedUploadUrlOptions(upsert="true"))
    files.upload_to_signed_url(path, signed["token"], b"new")
    assert files.download(path) == b"new"


def test_a_signed_upload_url_opens_only_its_own_path(
    storage: Storage, scratch: Scratch, db: MigratedDatabase
) -> None:
    files = storage("user_a").from_(BUCKET)
    signed = files.create_signed_upload_url(scratch.path(TEAM_A, "granted.txt"))
    other = scratch.path(TEAM_A, "not-granted.txt")
    with pytest.raises(StorageApiError) as caught:
        files.upload_to_signed_url(other, signed["token"], b"sneaky")
    expect_api_error(caught, "400")
    assert caught.value.code == "Invalid JWT"
    assert object_row(db, BUCKET, other) is None


def test_no_signed_upload_url_outside_the_signers_reach(storage: Storage, scratch: Scratch) -> None:
    with pytest.raises(StorageApiError) as caught:
        storage("user_a").from_(BUCKET).create_signed_upload_url(scratch.path(TEAM_B, "x.txt"))
    expect_api_error(caught, "403")
    with pytest.raises(StorageApiError) as caught:
        storage("user_b").from_(BUCKET).create_signed_upload_url(scratch.path(TEAM_A, "x.txt"))
    expect_api_error(caught, "403")


def test_a_public_bucket_is_readable_by_anyone(
    storage: Storage, http: httpx.Client, actors: World, scratch: Scratch
) -> None:
    admin = storage("service_role")
    public, private = scratch.bucket("public"), scratch.bucket("private")
    admin.create_bucket(public, options={"public": True})
    admin.create_bucket(private, options={"public": False})
    for bucket in (public, private):
        admin.from_(bucket).upload("logos/logo.svg", b"<svg/>", {"content-type": "image/svg+xml"})
    url = storage("anon").from_(public).get_public_url("logos/logo.svg")
    assert url.endswith(f"/storage/v1/object/public/{public}/logos/logo.svg")
    got = httpx.get(url)  # no apikey, no token
    assert got.status_code == 200, got.text
    assert got.content == b"<svg/>"
    assert got.headers["content-type"] == "image/svg+xml"
    assert httpx.head(url).headers["content-length"] == "6"
    download = storage("anon").from_(public).get_public_url("logos/logo.svg", {"download": True})
    assert httpx.get(download).headers["content-disposition"].startswith("attachment;")
    # the anon key reads it through the ordinary download route too
    assert storage("anon").from_(public).download("logos/logo.svg") == b"<svg/>"
    assert (
        http.get(f"/object/{public}/logos/logo.svg", headers=actors.headers("anon")).status_code
        == 200
    )
    hidden = storage("anon").from_(private).get_public_url("logos/logo.svg")
    expect_error(httpx.get(hidden), "404", "NoSuchKey")
    with pytest.raises(StorageApiError) as caught:
        storage("anon").from_(private).download("logos/logo.svg")
    expect_api_error(caught, "404")


def test_team_files_are_not_public(storage: Storage, scratch: Scratch) -> None:
    path = scratch.path(TEAM_A, "private.txt")
    storage("user_a").from_(BUCKET).upload(path, b"team only")
    url = storage("anon").from_(BUCKET).get_public_url(path)
    expect_error(httpx.get(url), "404", "NoSuchKey")


def test_image_transformations_are_refused_plainly(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch
) -> None:
    path = scratch.path(TEAM_A, "photo.png")
    storage("user_a").from_(BUCKET).upload(path, b"\x89PNG", {"content-type": "image/png"})
    with pytest.raises(StorageApiError) as caught:
        storage("user_a").from_(BUCKET).download(path, {"transform": {"width": 100}})
    expect_api_error(caught, "400")
    assert "not supported" in caught.value.message
    for url in (
        f"/render/image/authenticated/{BUCKET}/{path}?width=100",
        f"/render/image/public/{BUCKET}/{path}?width=100",
    ):
        body = expect_error(http.get(url, headers=actors.headers("user_a")), "400")
        assert "not supported" in body["message"]
