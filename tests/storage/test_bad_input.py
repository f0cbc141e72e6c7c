"""Bad input and atomicity, on both backends: names that could leave their bucket, unknown
buckets, bodies over a bucket's limit or of a type it refuses, forms cut short, clients
that go away mid-upload — each refused with Storage's error, and none leaving a row, a
body, a temporary file or an unfinished multipart upload behind, nor changing an object
that was already there.

"No body left" is checked on the store itself: every file under the server's
<data dir>/storage (ours: `running_server` is given the data dir), or every key and pending
multipart upload of the S3 bucket.
"""

import socket
from collections.abc import Callable, Iterator

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
    TEAM_B,
    Backend,
    expect_api_error,
    expect_error,
    multipart,
    object_names,
    object_row,
    open_request,
    pattern_bytes,
    read_response,
    status_of,
    wait_for,
)

Storage = Callable[..., SyncStorageClient]
BOUNDARY = "----test-boundary-5f3a"
FORM = f"multipart/form-data; boundary={BOUNDARY}"
BIG = 24 << 20  # more than a part of the S3 backend (8 MiB), so a multipart upload starts


def nothing_left(
    backend: Backend, before: set[str], db: MigratedDatabase, bucket: str, run: str
) -> None:
    """No row carrying `run`, no body beyond `before`, no write under way."""
    assert object_names(db, bucket, run) == set()
    assert backend.bodies() == before
    assert backend.pending() == []


def file_form(data: bytes, *, close: bool = True, kind: str = "text/plain") -> bytes:
    """A form as supabase-py sends it, with `data` as its file part."""
    return multipart(
        BOUNDARY, before={"cacheControl": "3600"}, file=("file", "x.bin", kind, data), close=close
    )


# ---- names ------------------------------------------------------------------------------------

BAD_NAMES = {
    "dot-dot": "{folder}/%2E%2E/escape.txt",
    "dot-dot-out-of-the-bucket": "%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    "dot": "{folder}/%2E/x.txt",
    "leading-slash": "/{folder}/x.txt",
    "empty-segment": "{folder}//x.txt",
    "trailing-slash": "{folder}/x/",
    "nul": "{folder}/a%00b.txt",
    "escape": "{folder}/a%1Bb.txt",
    "delete": "{folder}/a%7Fb.txt",
    "backslash": "{folder}/a%5C%2E%2E%5Cb.txt",
    "too-long": "{folder}/" + "n" * 1025,
    "newline": "{folder}/a%0Ab.txt",
}


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_bad_names_are_refused_everywhere(
    http: httpx.Client,
    actors: World,
    scratch: Scratch,
    backend: Backend,
    db: MigratedDatabase,
    name: str,
) -> None:
    bad = name.format(folder=f"{TEAM_A}/{scratch.run}")
    auth = actors.headers("service_role")
    before = backend.bodies()
    for method in ("POST", "PUT"):
        sent = http.request(method, f"/object/{BUCKET}/{bad}", content=b"x", headers=auth)
        expect_error(sent, "400", "InvalidKey")
    for url in (f"/object/{BUCKET}/{bad}", f"/object/info/{BUCKET}/{bad}"):
        expect_error(http.get(url, headers=auth), "400", "InvalidKey")
    signed = http.post(f"/object/sign/{BUCKET}/{bad}", json={"expiresIn": 60}, headers=auth)
    expect_error(signed, "400", "InvalidKey")
    upload_url = http.post(f"/object/upload/sign/{BUCKET}/{bad}", headers=auth)
    expect_error(upload_url, "400", "InvalidKey")
    nothing_left(backend, before, db, BUCKET, scratch.run)
    assert object_names(db, BUCKET, "passwd") == set()


def test_a_newline_in_a_name_stores_nothing(
    http: httpx.Client, actors: World, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    before = backend.bodies()
    bad = f"{TEAM_A}/{scratch.run}/a%0Ab.txt"
    sent = http.post(f"/object/{BUCKET}/{bad}", content=b"x", headers=actors.headers("user_a"))
    assert sent.status_code in (400, 404)
    nothing_left(backend, before, db, BUCKET, scratch.run)


@pytest.mark.parametrize(
    "target",
    ["{folder}/../x.txt", "../x.txt", "/x.txt", "{folder}/a\x00.txt", "{folder}/", ""],
    ids=["dot-dot", "dot-dot-first", "leading-slash", "nul", "folder", "empty"],
)
def test_bad_move_and_copy_targets(
    storage: Storage, scratch: Scratch, db: MigratedDatabase, target: str
) -> None:
    files = storage("user_a").from_(BUCKET)
    source = scratch.path(TEAM_A, "source.txt")
    files.upload(source, b"source")
    before = object_row(db, BUCKET, source)
    destination = target.format(folder=f"{TEAM_A}/{scratch.run}")
    for operation in (files.move, files.copy):
        with pytest.raises(StorageApiError) as caught:
            operation(source, destination)
        expect_api_error(caught, "400")
    assert object_row(db, BUCKET, source) == before
    assert object_names(db, BUCKET, scratch.run) == {source}


def test_a_listing_prefix_cannot_climb(storage: Storage, scratch: Scratch) -> None:
    files = storage("user_a").from_(BUCKET)
    for prefix in (f"{TEAM_A}/../{TEAM_B}", "..", f"{TEAM_A}//x"):
        with pytest.raises(StorageApiError) as caught:
            files.list(prefix)
        expect_api_error(caught, "400")


def test_the_longest_name_and_unusual_characters(
    storage: Storage, scratch: Scratch, db: MigratedDatabase
) -> None:
    files = storage("user_a").from_(BUCKET)
    folder = scratch.path(TEAM_A, "")
    longest = folder + "é" * ((1024 - len(folder)) // 2)
    longest += "n" * (1024 - len(longest.encode()))
    assert len(longest.encode()) == 1024
    unusual = folder + "résumé 2024 (final) #1 & more?.pdf"
    for path in (longest, unusual):
        files.upload(path, path.encode())
        assert files.download(path) == path.encode()
        assert object_row(db, BUCKET, path) is not None
    names = {item["name"] for item in files.list(folder)}
    assert names == {longest.rsplit("/", 1)[1], unusual.rsplit("/", 1)[1]}


# ---- unknown buckets --------------------------------------------------------------------------


def test_an_unknown_bucket_is_no_such_bucket(
    http: httpx.Client, actors: World, storage: Storage, scratch: Scratch
) -> None:
    files = storage("service_role").from_(scratch.bucket("missing"))
    calls: list[Callable[[], object]] = [
        lambda: files.upload("a.txt", b"a"),
        lambda: files.update("a.txt", b"a"),
        lambda: files.download("a.txt"),
        lambda: files.info("a.txt"),
        lambda: files.list(),
        lambda: files.create_signed_url("a.txt", 60),
        lambda: files.create_signed_upload_url("a.txt"),
        lambda: storage("service_role").empty_bucket(scratch.bucket("missing")),
        lambda: storage("service_role").update_bucket(scratch.bucket("missing"), {"public": True}),
    ]
    for call in calls:
        with pytest.raises(StorageApiError) as caught:
            call()
        expect_api_error(caught, "404")
        assert caught.value.code == "Bucket not found"
    raw = http.post(
        f"/object/{scratch.bucket('missing')}/a.txt", content=b"a", headers=actors.headers("user_a")
    )
    expect_error(raw, "404", "NoSuchBucket")


# ---- limits and types -------------------------------------------------------------------------


@pytest.fixture
def limited(storage: Storage, scratch: Scratch) -> str:
    """A bucket of this test: 1 KB a file, text only."""
    bucket = scratch.bucket("limited")
    storage("service_role").create_bucket(
        bucket,
        options={"file_size_limit": "1KB", "allowed_mime_types": ["text/*", "image/png"]},  # type: ignore[typeddict-item]
    )
    return bucket


def test_over_the_bucket_limit_is_entity_too_large(
    http: httpx.Client,
    storage: Storage,
    actors: World,
    scratch: Scratch,
    backend: Backend,
    db: MigratedDatabase,
    limited: str,
) -> None:
    files = storage("service_role").from_(limited)
    before = backend.bodies()
    with pytest.raises(StorageApiError) as caught:  # multipart, as supabase-py sends it
        files.upload("big.txt", b"x" * 1025)
    expect_api_error(caught, "413")
    auth = actors.headers("service_role")
    text = {"content-type": "text/plain"}
    attempts = [
        # a raw body whose Content-Length says it is too large
        http.post(f"/object/{limited}/big.txt", content=b"x" * 2048, headers={**auth, **text}),
        # a raw body sent chunked: too large only once read
        http.post(
            f"/object/{limited}/big.txt",
            content=iter([b"x" * 600, b"x" * 600]),
            headers={**auth, **text},
        ),
        # a form, the file part's name empty as supabase-js sends it
        http.post(
            f"/object/{limited}/big.txt",
            content=multipart(BOUNDARY, file=("", "blob", "text/plain", b"x" * 4096)),
            headers={**auth, "content-type": FORM},
        ),
    ]
    for refused in attempts:
        expect_error(refused, "413", "EntityTooLarge")
    assert object_row(db, limited, "big.txt") is None
    nothing_left(backend, before, db, limited, "big")
    files.upload("fits.txt", b"x" * 1024)
    assert files.download("fits.txt") == b"x" * 1024


def test_a_type_the_bucket_does_not_allow_is_invalid_mime_type(
    http: httpx.Client,
    storage: Storage,
    actors: World,
    backend: Backend,
    db: MigratedDatabase,
    limited: str,
) -> None:
    files = storage("service_role").from_(limited)
    before = backend.bodies()
    with pytest.raises(StorageApiError) as caught:
        files.upload("doc.pdf", b"%PDF", {"content-type": "application/pdf"})
    expect_api_error(caught, "415")
    raw = http.post(
        f"/object/{limited}/photo.jpg",
        content=b"\xff\xd8",
        headers={**actors.headers("service_role"), "content-type": "image/jpeg"},
    )
    expect_error(raw, "415", "InvalidMimeType")
    assert (
        object_row(db, limited, "doc.pdf") is None and object_row(db, limited, "photo.jpg") is None
    )
    assert backend.bodies() == before
    files.upload("note.txt", b"ok")  # text/plain;charset=UTF-8, storage3's default
    files.upload("pic.png", b"\x89PNG", {"content-type": "image/png"})
    files.upload("page.html", b"<p>", {"content-type": "TEXT/HTML; charset=utf-8"})
    assert {item["name"] for item in files.list()} == {"note.txt", "pic.png", "page.html"}


# ---- forms cut short, clients that go away ------------------------------------------------------


def test_a_form_without_its_closing_boundary_stores_nothing(
    http: httpx.Client,
    actors: World,
    scratch: Scratch,
    backend: Backend,
    db: MigratedDatabase,
) -> None:
    path = scratch.path(TEAM_A, "cut.txt")
    auth = {**actors.headers("user_a"), "content-type": FORM}
    before = backend.bodies()
    whole = file_form(b"y" * 10_000)
    # chunked, the stream ending in the middle of the file part
    mid_file = http.post(f"/object/{BUCKET}/{path}", content=iter([whole[:4000]]), headers=auth)
    expect_error(mid_file, "400", "InvalidRequest")
    # with a Content-Length: the file part is whole, the form's end never comes
    no_end = http.post(
        f"/object/{BUCKET}/{path}", content=file_form(b"y" * 10_000, close=False), headers=auth
    )
    expect_error(no_end, "400", "InvalidRequest")
    # a large body, so the S3 backend has a multipart upload to abort
    big = pattern_bytes(BIG)
    head = file_form(b"", close=False).rsplit(b"\r\n", 1)[0]

    def cut_short() -> Iterator[bytes]:
        yield head
        yield from (big[i : i + (1 << 20)] for i in range(0, 12 << 20, 1 << 20))

    large = http.post(f"/object/{BUCKET}/{path}", content=cut_short(), headers=auth)
    expect_error(large, "400", "InvalidRequest")
    nothing_left(backend, before, db, BUCKET, scratch.run)


def _abandon(
    backend: Backend,
    actors: World,
    actor: str,
    bucket: str,
    path: str,
    *,
    form: bool,
    upsert: bool = False,
) -> None:
    """Start an upload of BIG bytes, send half, wait until the server is writing, hang up."""
    data = pattern_bytes(BIG)
    body_head = file_form(b"", close=False).rsplit(b"\r\n", 1)[0] if form else b""
    body_tail = f"\r\n--{BOUNDARY}--\r\n".encode() if form else b""
    length = len(body_head) + len(data) + len(body_tail)
    request_headers = {
        **actors.headers(actor),
        "content-type": FORM if form else "text/plain",
        "content-length": str(length),
        "x-upsert": "true" if upsert else "false",
    }
    conn = open_request(
        backend.server.url, "POST", f"/storage/v1/object/{bucket}/{path}", request_headers
    )
    try:
        conn.sendall(body_head + data[: BIG // 2])
        wait_for(lambda: backend.pending() != [], "the server to be writing the body")
    finally:
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()
    wait_for(lambda: backend.pending() == [], "the abandoned write to be cleaned up")


@pytest.mark.parametrize("form", [True, False], ids=["multipart", "raw"])
def test_a_client_that_disconnects_mid_upload_leaves_nothing(
    actors: World, scratch: Scratch, backend: Backend, db: MigratedDatabase, form: bool
) -> None:
    path = scratch.path(TEAM_A, "abandoned.bin")
    before = backend.bodies()
    _abandon(backend, actors, "user_a", BUCKET, path, form=form)
    wait_for(lambda: backend.bodies() == before, "no body to be left")
    nothing_left(backend, before, db, BUCKET, scratch.run)


def test_a_failed_upload_never_changes_an_existing_object(
    http: httpx.Client,
    storage: Storage,
    actors: World,
    scratch: Scratch,
    backend: Backend,
    db: MigratedDatabase,
    limited: str,
) -> None:
    files = storage("service_role").from_(limited)
    files.upload("kept.txt", b"version one", {"content-type": "text/plain"})
    before = object_row(db, limited, "kept.txt")
    stored = backend.bodies()

    def unchanged() -> None:
        assert object_row(db, limited, "kept.txt") == before
        assert files.download("kept.txt") == b"version one"
        assert backend.bodies() == stored
        assert backend.pending() == []

    with pytest.raises(StorageApiError) as caught:  # too large
        files.upload("kept.txt", b"x" * 2000, {"upsert": "true"})
    expect_api_error(caught, "413")
    unchanged()
    with pytest.raises(StorageApiError) as caught:  # a type the bucket refuses
        files.update("kept.txt", b"%PDF", {"content-type": "application/pdf"})
    expect_api_error(caught, "415")
    unchanged()
    cut = http.post(  # a form cut short
        f"/object/{limited}/kept.txt",
        content=iter([file_form(b"z" * 500)[:300]]),
        headers={**actors.headers("service_role"), "content-type": FORM, "x-upsert": "true"},
    )
    expect_error(cut, "400", "InvalidRequest")
    unchanged()
    bad_metadata = http.post(
        f"/object/{limited}/kept.txt",
        content=multipart(
            BOUNDARY, before={"metadata": "[1, 2"}, file=("file", "k.txt", "text/plain", b"new")
        ),
        headers={**actors.headers("service_role"), "content-type": FORM, "x-upsert": "true"},
    )
    expect_error(bad_metadata, "400", "InvalidRequest")
    unchanged()


def test_an_abandoned_overwrite_keeps_the_object(
    storage: Storage, actors: World, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    files = storage("user_a").from_(BUCKET)
    path = scratch.path(TEAM_A, "kept.bin")
    files.upload(path, b"the original")
    before = object_row(db, BUCKET, path)
    stored = backend.bodies()
    _abandon(backend, actors, "user_a", BUCKET, path, form=False, upsert=True)
    wait_for(lambda: backend.bodies() == stored, "no new body to be left")
    assert object_row(db, BUCKET, path) == before
    assert files.download(path) == b"the original"


def test_a_refused_upload_sends_nothing_to_the_store(
    actors: World, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    """RLS refuses before the body is read: the server answers before the client has sent
    any of it, and nothing was written."""
    before = backend.bodies()
    path = scratch.path(TEAM_B, "intrusion.bin")
    conn = open_request(
        backend.server.url,
        "POST",
        f"/storage/v1/object/{BUCKET}/{path}",
        {**actors.headers("user_a"), "content-type": "text/plain", "content-length": str(BIG)},
    )
    try:
        answer = read_response(conn)  # not a byte of the body sent
    finally:
        conn.close()
    assert status_of(answer) == 400
    assert b'"statusCode":"403"' in answer
    nothing_left(backend, before, db, BUCKET, scratch.run)
