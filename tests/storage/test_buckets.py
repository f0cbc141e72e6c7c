"""Buckets through /storage/v1 with storage3: who may list, create, change, empty and remove
them, the JSON clients parse (owner "" for null), sizes as strings, and Storage's error
quirk (HTTP 400, statusCode as a string)."""

from collections.abc import Callable

import httpx
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError

from tests.conftest import MigratedDatabase
from tests.rest.world import World
from tests.storage.conftest import Scratch
from tests.storage.helpers import (
    BUCKET,
    USERS,
    Backend,
    body_of,
    bucket_row,
    expect_api_error,
    expect_error,
    object_row,
)

Storage = Callable[..., SyncStorageClient]
ADMINS = ["super_admin", "service_role"]
NOT_ADMINS = ["user_a", "admin_a", "anon"]


@pytest.mark.parametrize("actor", ["user_a", "user_b", "anon", "super_admin", "service_role"])
def test_everyone_sees_the_team_files_bucket(storage: Storage, actor: str) -> None:
    client = storage(actor)
    listed = {bucket.id: bucket for bucket in client.list_buckets()}
    assert BUCKET in listed
    one = client.get_bucket(BUCKET)
    assert one == listed[BUCKET]
    assert one.name == BUCKET
    assert one.owner == ""  # null, as Storage sends it
    assert one.public is False
    assert one.file_size_limit == 52428800
    assert one.allowed_mime_types is None
    assert one.type == "STANDARD"


def test_an_unknown_bucket(storage: Storage, scratch: Scratch) -> None:
    with pytest.raises(StorageApiError) as caught:
        storage("user_a").get_bucket(scratch.bucket("none"))
    expect_api_error(caught, "404")
    assert caught.value.code == "Bucket not found"


@pytest.mark.parametrize("actor", ADMINS)
def test_admins_create_change_empty_and_remove_buckets(
    storage: Storage, scratch: Scratch, db: MigratedDatabase, backend: Backend, actor: str
) -> None:
    client = storage(actor)
    bucket = scratch.bucket("docs")
    made = client.create_bucket(
        bucket,
        options={"public": False, "file_size_limit": "1MB", "allowed_mime_types": ["text/plain"]},  # type: ignore[typeddict-item]
    )
    assert made == {"name": bucket}
    row = bucket_row(db, bucket)
    assert row is not None
    assert row["file_size_limit"] == 1 << 20
    assert row["allowed_mime_types"] == ["text/plain"]
    expected_owner = USERS["super_admin"] if actor == "super_admin" else ""
    assert client.get_bucket(bucket).owner == expected_owner

    changed = client.update_bucket(
        bucket, {"public": True, "file_size_limit": 2048, "allowed_mime_types": ["image/*"]}
    )
    assert changed == {"message": "Successfully updated"}
    fetched = client.get_bucket(bucket)
    assert (fetched.public, fetched.file_size_limit, fetched.allowed_mime_types) == (
        True, 2048, ["image/*"],
    )  # fmt: skip

    files = client.from_(bucket)
    for name in ("a.png", "deep/b.png"):
        files.upload(name, b"\x89PNG", {"content-type": "image/png"})
    rows = [object_row(db, bucket, name) for name in ("a.png", "deep/b.png")]
    with pytest.raises(StorageApiError) as caught:
        client.delete_bucket(bucket)  # not empty
    expect_api_error(caught, "409")
    assert bucket_row(db, bucket) is not None
    assert "message" in client.empty_bucket(bucket)
    assert files.list() == []
    stored = backend.bodies()
    for removed in rows:
        assert removed is not None and body_of(removed) not in stored
    assert client.delete_bucket(bucket) == {"message": "Successfully deleted"}
    assert bucket_row(db, bucket) is None
    with pytest.raises(StorageApiError) as caught:
        client.delete_bucket(bucket)
    expect_api_error(caught, "404")


def test_a_bucket_id_is_taken_once(storage: Storage, scratch: Scratch) -> None:
    client = storage("service_role")
    client.create_bucket(scratch.bucket("once"))
    with pytest.raises(StorageApiError) as caught:
        client.create_bucket(scratch.bucket("once"))
    expect_api_error(caught, "409")


@pytest.mark.parametrize("actor", NOT_ADMINS)
def test_others_cannot_create_buckets(
    storage: Storage, scratch: Scratch, db: MigratedDatabase, actor: str
) -> None:
    with pytest.raises(StorageApiError) as caught:
        storage(actor).create_bucket(scratch.bucket("mine"))
    expect_api_error(caught, "403")
    assert caught.value.code == "Unauthorized"
    assert bucket_row(db, scratch.bucket("mine")) is None


@pytest.mark.parametrize("actor", NOT_ADMINS)
def test_others_cannot_change_or_remove_buckets(
    storage: Storage, scratch: Scratch, db: MigratedDatabase, actor: str
) -> None:
    bucket = scratch.bucket("kept")
    storage("service_role").create_bucket(bucket, options={"file_size_limit": 1000})
    before = bucket_row(db, bucket)
    client = storage(actor)
    with pytest.raises(StorageApiError) as caught:
        client.update_bucket(bucket, {"public": True, "file_size_limit": 10_000_000})
    expect_api_error(caught, "404")
    with pytest.raises(StorageApiError) as caught:
        client.delete_bucket(bucket)
    expect_api_error(caught, "404")
    assert bucket_row(db, bucket) == before
    with pytest.raises(StorageApiError) as caught:
        client.update_bucket(BUCKET, {"public": True})
    expect_api_error(caught, "404")
    assert storage("service_role").get_bucket(BUCKET).public is False


def test_a_member_emptying_the_team_bucket_removes_only_what_they_may(
    storage: Storage, scratch: Scratch, db: MigratedDatabase
) -> None:
    mine = scratch.path("10000000-0000-4000-8000-00000000000a", "mine.txt")
    theirs = scratch.path("10000000-0000-4000-8000-00000000000b", "theirs.txt")
    storage("user_a").from_(BUCKET).upload(mine, b"a")
    storage("user_b").from_(BUCKET).upload(theirs, b"b")
    storage("user_a").empty_bucket(BUCKET)
    assert object_row(db, BUCKET, mine) is None
    assert storage("user_b").from_(BUCKET).download(theirs) == b"b"


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({"file_size_limit": "lots"}, "400"),
        ({"file_size_limit": 0}, "400"),
        ({"file_size_limit": "-1MB"}, "400"),
        ({"public": "yes"}, "400"),
        ({"allowed_mime_types": "text/plain"}, "400"),
    ],
)
def test_bucket_options_are_checked(
    storage: Storage,
    scratch: Scratch,
    db: MigratedDatabase,
    options: dict[str, object],
    status: str,
) -> None:
    with pytest.raises(StorageApiError) as caught:
        storage("service_role").create_bucket(scratch.bucket("opts"), options=options)  # type: ignore[arg-type]
    expect_api_error(caught, status)
    assert bucket_row(db, scratch.bucket("opts")) is None


@pytest.mark.parametrize(("size", "limit"), [("20MB", 20 << 20), ("512KB", 512 << 10), ("7", 7)])
def test_file_size_limit_as_a_string(
    storage: Storage, scratch: Scratch, db: MigratedDatabase, size: str, limit: int
) -> None:
    storage("service_role").create_bucket(
        scratch.bucket("sized"), options={"file_size_limit": size}
    )  # type: ignore[typeddict-item]
    row = bucket_row(db, scratch.bucket("sized"))
    assert row is not None and row["file_size_limit"] == limit


@pytest.mark.parametrize("bucket", ["a b", "a/b", "..", "ünï", "x" * 101])
def test_invalid_bucket_ids(http: httpx.Client, actors: World, bucket: str) -> None:
    refused = http.post("/bucket", json={"id": bucket}, headers=actors.headers("service_role"))
    expect_error(refused, "400", "InvalidBucketName")
