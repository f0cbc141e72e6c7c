"""Objects of gpt-desk-files through /storage/v1, on both backends: uploads as supabase-py and
supabase-js send them, downloads with their headers, ranges and conditional requests,
upsert and update, info and exists, listing, removing, moving and copying.

All of it as user_a in team A's folder, through storage3 where it has a call.
"""

from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError

from tests.conftest import MigratedDatabase
from tests.rest.world import World
from tests.storage.conftest import Scratch
from tests.storage.helpers import (
    BUCKET,
    TEAM_A,
    USERS,
    Backend,
    body_of,
    expect_api_error,
    expect_error,
    headers,
    md5,
    multipart,
    object_row,
    pattern_bytes,
)

Storage = Callable[..., SyncStorageClient]


def test_upload_as_supabase_py_sends_it(
    storage: Storage, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "report.pdf")
    data = pattern_bytes(70_000)
    uploaded = files.upload(path, data, {"content-type": "application/pdf", "cache-control": "60"})
    assert uploaded.path == path
    assert uploaded.full_path == f"{BUCKET}/{path}"
    assert files.download(path) == data
    row = object_row(db, BUCKET, path)
    assert row is not None
    assert row["owner"] == USERS["user_a"]
    assert row["metadata"]["size"] == len(data)
    assert row["metadata"]["mimetype"] == "application/pdf"
    assert row["metadata"]["cacheControl"] == "max-age=60"
    assert row["metadata"]["eTag"] == f'"{md5(data)}"'
    assert body_of(row) in backend.bodies()


def test_upload_of_a_raw_body_as_supabase_js_sends_it(
    http: httpx.Client, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    path = scratch.path(TEAM_A, "pixel.png")
    data = pattern_bytes(5_000, seed=3)
    sent = http.post(
        f"/object/{BUCKET}/{path}",
        content=data,
        headers={
            **actors.headers("user_a"),
            "content-type": "image/png",
            "cache-control": "max-age=3600",
            "x-upsert": "false",
        },
    )
    assert sent.status_code == 200, sent.text
    row = object_row(db, BUCKET, path)
    assert row is not None
    assert sent.json() == {"Id": row["id"], "Key": f"{BUCKET}/{path}"}
    assert row["metadata"]["mimetype"] == "image/png"
    assert row["metadata"]["cacheControl"] == "max-age=3600"
    got = http.get(f"/object/{BUCKET}/{path}", headers=headers(actors, "user_a"))
    assert got.content == data
    assert got.headers["content-type"] == "image/png"


def test_a_raw_body_without_a_content_type_is_octet_stream(
    http: httpx.Client, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    path = scratch.path(TEAM_A, "blob.bin")
    sent = http.post(
        f"/object/{BUCKET}/{path}", content=b"\x00\x01", headers=actors.headers("user_a")
    )
    assert sent.status_code == 200, sent.text
    row = object_row(db, BUCKET, path)
    assert row is not None
    assert row["metadata"]["mimetype"] == "application/octet-stream"
    assert row["metadata"]["cacheControl"] == "no-cache"


def test_upload_of_a_form_whose_file_part_has_no_name_as_supabase_js_sends_it(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    path = scratch.path(TEAM_A, "table.csv")
    data = b"a,b\n1,2\n" * 500
    body = multipart(
        "----js-boundary-7",
        before={"cacheControl": "3600"},
        file=("", "blob", "text/csv", data),
        after={"metadata": '{"source": "js"}'},
    )
    sent = http.post(
        f"/object/{BUCKET}/{path}",
        content=body,
        headers=headers(
            actors, "user_a", **{"content-type": "multipart/form-data; boundary=----js-boundary-7"}
        ),
    )
    assert sent.status_code == 200, sent.text
    row = object_row(db, BUCKET, path)
    assert row is not None
    assert row["metadata"]["mimetype"] == "text/csv"
    assert row["metadata"]["cacheControl"] == "max-age=3600"
    assert row["user_metadata"] == {"source": "js"}
    files = storage("user_a").from_(BUCKET)
    assert files.download(path) == data
    assert files.info(path)["metadata"] == {"source": "js"}


def test_download_carries_the_stored_headers(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    path = scratch.path(TEAM_A, "notes.md")
    data = b"# Notes\n" * 100
    storage("user_a").from_(BUCKET).upload(
        path, data, {"content-type": "text/markdown", "cache-control": "120"}
    )
    got = http.get(f"/object/{BUCKET}/{path}", headers=actors.headers("user_a"))
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "text/markdown"
    assert got.headers["cache-control"] == "max-age=120"
    assert got.headers["etag"] == f'"{md5(data)}"'
    assert got.headers["content-length"] == str(len(data))
    row = object_row(db, BUCKET, path)
    assert row is not None
    modified = parsedate_to_datetime(got.headers["last-modified"])
    assert modified == row["updated_at"].replace(microsecond=0)


def test_the_authenticated_download_path_serves_the_same_object(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch
) -> None:
    path = scratch.path(TEAM_A, "same.txt")
    storage("user_a").from_(BUCKET).upload(path, b"same bytes")
    got = http.get(f"/object/authenticated/{BUCKET}/{path}", headers=actors.headers("user_a"))
    assert got.status_code == 200, got.text
    assert got.content == b"same bytes"


def test_the_authenticated_info_path_answers_like_info(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch
) -> None:
    path = scratch.path(TEAM_A, "same.txt")
    storage("user_a").from_(BUCKET).upload(path, b"same bytes")
    info = http.get(f"/object/info/authenticated/{BUCKET}/{path}", headers=actors.headers("user_a"))
    assert info.status_code == 200, info.text
    assert info.json()["name"] == path
    assert info.json()["size"] == len(b"same bytes")


@pytest.mark.parametrize(
    ("header", "status", "first", "last"),
    [
        ("bytes=0-9", 206, 0, 9),
        ("bytes=990-", 206, 990, 999),
        ("bytes=-5", 206, 995, 999),
        ("bytes=995-2000", 206, 995, 999),
        ("bytes=-5000", 206, 0, 999),
        ("bytes=100-100", 206, 100, 100),
        ("bytes=zero-nine", 200, 0, 999),  # malformed: the whole body
        ("bytes=0-1,5-6", 200, 0, 999),  # several ranges: the whole body
    ],
)
def test_ranges(
    http: httpx.Client,
    storage: Storage,
    actors: World,
    scratch: Scratch,
    header: str,
    status: int,
    first: int,
    last: int,
) -> None:
    path = scratch.path(TEAM_A, "ranged.bin")
    data = pattern_bytes(1000, seed=7)
    storage("user_a").from_(BUCKET).upload(path, data)
    got = http.get(f"/object/{BUCKET}/{path}", headers=headers(actors, "user_a", range=header))
    assert got.status_code == status, got.text
    assert got.content == data[first : last + 1]
    assert got.headers["content-length"] == str(last - first + 1)
    if status == 206:
        assert got.headers["content-range"] == f"bytes {first}-{last}/1000"


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=9-3"])
def test_unsatisfiable_ranges(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch, header: str
) -> None:
    path = scratch.path(TEAM_A, "short.bin")
    storage("user_a").from_(BUCKET).upload(path, pattern_bytes(1000))
    got = http.get(f"/object/{BUCKET}/{path}", headers=headers(actors, "user_a", range=header))
    assert got.status_code == 416
    assert got.headers["content-range"] == "bytes */1000"


def test_a_suffix_range_of_an_empty_object(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch
) -> None:
    path = scratch.path(TEAM_A, "empty.txt")
    storage("user_a").from_(BUCKET).upload(path, b"")
    got = http.get(f"/object/{BUCKET}/{path}", headers=headers(actors, "user_a", range="bytes=-5"))
    assert got.status_code == 200
    assert got.content == b""
    assert "content-range" not in got.headers


def test_an_empty_object(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    path = scratch.path(TEAM_A, "nothing.txt")
    storage("user_a").from_(BUCKET).upload(path, b"")
    got = http.get(f"/object/{BUCKET}/{path}", headers=actors.headers("user_a"))
    assert got.status_code == 200
    assert got.content == b""
    assert got.headers["content-length"] == "0"
    assert got.headers["etag"] == f'"{md5(b"")}"'


def test_if_none_match(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch
) -> None:
    path = scratch.path(TEAM_A, "cached.txt")
    data = b"cache me"
    storage("user_a").from_(BUCKET).upload(path, data)
    etag = f'"{md5(data)}"'
    fresh = http.get(
        f"/object/{BUCKET}/{path}", headers=headers(actors, "user_a", **{"if-none-match": etag})
    )
    assert fresh.status_code == 304
    assert fresh.content == b""
    assert fresh.headers["etag"] == etag
    stale = http.get(
        f"/object/{BUCKET}/{path}",
        headers=headers(actors, "user_a", **{"if-none-match": '"0123"'}),
    )
    assert stale.status_code == 200
    assert stale.content == data


def test_head(http: httpx.Client, storage: Storage, actors: World, scratch: Scratch) -> None:
    path = scratch.path(TEAM_A, "head.txt")
    data = pattern_bytes(4321)
    storage("user_a").from_(BUCKET).upload(path, data, {"content-type": "text/plain"})
    whole = http.head(f"/object/{BUCKET}/{path}", headers=actors.headers("user_a"))
    assert whole.status_code == 200
    assert whole.content == b""
    assert whole.headers["content-length"] == "4321"
    assert whole.headers["etag"] == f'"{md5(data)}"'
    assert whole.headers["content-type"] == "text/plain"
    part = http.head(
        f"/object/{BUCKET}/{path}", headers=headers(actors, "user_a", range="bytes=0-99")
    )
    assert part.status_code == 206
    assert part.headers["content-length"] == "100"
    missing = http.head(
        f"/object/{BUCKET}/{scratch.path(TEAM_A, 'nope')}", headers=actors.headers("user_a")
    )
    assert missing.status_code == 400


def test_duplicate_refused_then_upsert_replaces(
    storage: Storage, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "twice.txt")
    files.upload(path, b"first")
    first = object_row(db, BUCKET, path)
    assert first is not None
    with pytest.raises(StorageApiError) as caught:
        files.upload(path, b"second")
    expect_api_error(caught, "409")
    assert caught.value.code == "Duplicate"
    assert files.download(path) == b"first"
    assert object_row(db, BUCKET, path) == first
    files.upload(path, b"second", {"upsert": "true"})
    assert files.download(path) == b"second"
    second = object_row(db, BUCKET, path)
    assert second is not None
    assert second["id"] == first["id"]
    assert second["version"] != first["version"]
    assert second["metadata"]["eTag"] == f'"{md5(b"second")}"'
    stored = backend.bodies()
    assert body_of(second) in stored
    assert body_of(first) not in stored  # the replaced body is gone


def test_update_replaces_the_body(
    storage: Storage, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "updated.json")
    files.upload(path, b'{"v": 1}', {"content-type": "application/json"})
    first = object_row(db, BUCKET, path)
    assert first is not None
    replaced = files.update(path, b'{"v": 2}', {"content-type": "application/json"})
    assert replaced.full_path == f"{BUCKET}/{path}"
    assert files.download(path) == b'{"v": 2}'
    second = object_row(db, BUCKET, path)
    assert second is not None
    assert second["version"] != first["version"]
    assert body_of(first) not in backend.bodies()


def test_info_and_exists(storage: Storage, scratch: Scratch, db: MigratedDatabase) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "info.txt")
    files.upload(path, b"info!", {"content-type": "text/plain", "metadata": {"kind": "memo"}})
    info = files.info(path)
    row = object_row(db, BUCKET, path)
    assert row is not None
    assert info["id"] == row["id"]
    assert info["name"] == path
    assert info["bucket_id"] == BUCKET
    assert info["size"] == 5
    assert info["content_type"] == "text/plain"
    assert info["etag"] == f'"{md5(b"info!")}"'
    assert info["metadata"] == {"kind": "memo"}
    assert files.exists(path) is True
    assert files.exists(scratch.path(TEAM_A, "absent.txt")) is False
    with pytest.raises(StorageApiError) as caught:
        storage("user_a").from_(f"{scratch.run}-nowhere").exists("x.txt")
    expect_api_error(caught, "404")
    assert caught.value.message == "Bucket not found"


def _names(items: list[dict[str, object]]) -> list[object]:
    return [item["name"] for item in items]


def test_list(storage: Storage, scratch: Scratch) -> None:
    files = storage("user_a").from_(BUCKET)
    folder = scratch.path(TEAM_A, "")[:-1]
    for name in ("b.txt", "a.txt", "c.md", "sub/d.txt", "sub/deeper/e.txt", "zeta/f.txt"):
        files.upload(f"{folder}/{name}", name.encode())
    items = files.list(folder)
    assert _names(items) == ["a.txt", "b.txt", "c.md", "sub", "zeta"]
    by_name = {item["name"]: item for item in items}
    assert by_name["sub"]["id"] is None and by_name["sub"]["metadata"] is None
    assert by_name["a.txt"]["id"] is not None
    assert by_name["a.txt"]["metadata"]["size"] == len("a.txt")
    assert _names(files.list(folder + "/")) == _names(items)
    assert _names(files.list(folder, {"limit": 2, "offset": 1})) == ["b.txt", "c.md"]
    descending = files.list(folder, {"sortBy": {"column": "name", "order": "desc"}})
    assert _names(descending) == ["zeta", "sub", "c.md", "b.txt", "a.txt"]
    assert _names(files.list(folder, {"search": "b"})) == ["b.txt"]
    assert _names(files.list(folder, {"search": "s"})) == ["sub"]
    assert _names(files.list(f"{folder}/sub")) == ["d.txt", "deeper"]
    assert _names(files.list(f"{folder}/sub/deeper")) == ["e.txt"]
    assert _names(files.list(f"{folder}/none")) == []
    newest = [
        item["name"]
        for item in files.list(folder, {"sortBy": {"column": "created_at", "order": "desc"}})
        if item["id"] is not None
    ]
    assert newest == ["c.md", "a.txt", "b.txt"]


def test_list_refuses_an_unknown_sort_column(http: httpx.Client, actors: World) -> None:
    refused = http.post(
        f"/object/list/{BUCKET}",
        json={"prefix": TEAM_A, "sortBy": {"column": "metadata", "order": "asc"}},
        headers=actors.headers("user_a"),
    )
    expect_error(refused, "400")


def test_remove_many_skips_missing_ones(
    storage: Storage, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    files = storage("user_a").from_(BUCKET)
    a, b, c = (scratch.path(TEAM_A, n) for n in ("a.txt", "b.txt", "c.txt"))
    for path in (a, b, c):
        files.upload(path, path.encode())
    rows = {path: object_row(db, BUCKET, path) for path in (a, b)}
    removed = files.remove([a, b, scratch.path(TEAM_A, "missing.txt")])
    assert sorted(item["name"] for item in removed) == [a, b]
    assert object_row(db, BUCKET, a) is None and object_row(db, BUCKET, b) is None
    assert files.download(c) == c.encode()
    stored = backend.bodies()
    for row in rows.values():
        assert row is not None and body_of(row) not in stored
    assert files.remove([scratch.path(TEAM_A, "missing.txt")]) == []


def test_remove_one_by_its_url(
    http: httpx.Client, storage: Storage, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    path = scratch.path(TEAM_A, "single.txt")
    storage("user_a").from_(BUCKET).upload(path, b"one")
    gone = http.delete(f"/object/{BUCKET}/{path}", headers=actors.headers("user_a"))
    assert gone.status_code == 200
    assert gone.json() == {"message": "Successfully deleted"}
    assert object_row(db, BUCKET, path) is None
    again = http.delete(f"/object/{BUCKET}/{path}", headers=actors.headers("user_a"))
    expect_error(again, "404", "NoSuchKey")


def test_move(storage: Storage, scratch: Scratch, db: MigratedDatabase) -> None:
    files = storage("user_a").from_(BUCKET)
    source, target = scratch.path(TEAM_A, "old.txt"), scratch.path(TEAM_A, "moved/new.txt")
    files.upload(source, b"moving")
    before = object_row(db, BUCKET, source)
    assert before is not None
    moved = files.move(source, target)
    assert moved["message"] == "Successfully moved"
    assert files.download(target) == b"moving"
    after = object_row(db, BUCKET, target)
    assert after is not None
    assert (after["id"], after["version"]) == (before["id"], before["version"])
    assert object_row(db, BUCKET, source) is None
    with pytest.raises(StorageApiError) as caught:
        files.download(source)
    expect_api_error(caught, "404")
    with pytest.raises(StorageApiError) as caught:
        files.move(scratch.path(TEAM_A, "never.txt"), scratch.path(TEAM_A, "x.txt"))
    expect_api_error(caught, "404")


def test_move_onto_an_existing_object_is_refused(
    storage: Storage, scratch: Scratch, db: MigratedDatabase
) -> None:
    files = storage("user_a").from_(BUCKET)
    source, target = scratch.path(TEAM_A, "one.txt"), scratch.path(TEAM_A, "two.txt")
    files.upload(source, b"one")
    files.upload(target, b"two")
    with pytest.raises(StorageApiError) as caught:
        files.move(source, target)
    expect_api_error(caught, "409")
    assert files.download(source) == b"one"
    assert files.download(target) == b"two"


def test_copy(storage: Storage, scratch: Scratch, backend: Backend, db: MigratedDatabase) -> None:
    files = storage("user_a").from_(BUCKET)
    source, target = scratch.path(TEAM_A, "orig.bin"), scratch.path(TEAM_A, "copies/dup.bin")
    data = pattern_bytes(30_000, seed=9)
    files.upload(source, data, {"content-type": "application/octet-stream"})
    copied = files.copy(source, target)
    assert copied["Key"] == f"{BUCKET}/{target}"
    original, duplicate = object_row(db, BUCKET, source), object_row(db, BUCKET, target)
    assert original is not None and duplicate is not None
    assert copied["Id"] == duplicate["id"]
    assert duplicate["version"] != original["version"]
    assert duplicate["metadata"]["eTag"] == original["metadata"]["eTag"]
    assert body_of(duplicate) in backend.bodies()
    files.remove([source])
    assert files.download(target) == data  # a body of its own
    with pytest.raises(StorageApiError) as caught:
        files.copy(scratch.path(TEAM_A, "gone.bin"), scratch.path(TEAM_A, "x.bin"))
    expect_api_error(caught, "404")


def test_copy_onto_an_existing_object_is_refused(storage: Storage, scratch: Scratch) -> None:
    files = storage("user_a").from_(BUCKET)
    source, target = scratch.path(TEAM_A, "src.txt"), scratch.path(TEAM_A, "dst.txt")
    files.upload(source, b"src")
    files.upload(target, b"dst")
    with pytest.raises(StorageApiError) as caught:
        files.copy(source, target)
    expect_api_error(caught, "409")
    assert files.download(target) == b"dst"
