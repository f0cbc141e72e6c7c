"""/api/v1/documents on both backends: a team's files, each stored object with its documents
row — uploaded together into the caller's team folder, listed, fetched with a signed URL that
works, removed together — and refused, leaving neither half, where the caller may not.
"""

import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from storage3 import SyncStorageClient

from tests.conftest import MigratedDatabase
from tests.helpers import PASSWORD, confirmed_user, owner_query
from tests.rest.world import World
from tests.storage.conftest import Scratch
from tests.storage.helpers import (
    BUCKET,
    TEAM_A,
    USERS,
    Backend,
    body_of,
    multipart,
    object_names,
    object_row,
    pattern_bytes,
)

Storage = Callable[..., SyncStorageClient]
GPT_A = "30000000-0000-4000-8000-0000000000a1"  # team A's private GPT
GPT_B = "30000000-0000-4000-8000-0000000000b1"  # team B's private GPT
BOUNDARY = "----documents-boundary-42"


@pytest.fixture
def api(backend: Backend) -> Iterator[httpx.Client]:
    """Raw HTTP to the backend's /api/v1."""
    with httpx.Client(base_url=f"{backend.server.url}/api/v1", timeout=60) as client:
        yield client


def document_rows(db: MigratedDatabase, run: str) -> list[tuple[Any, ...]]:
    """The documents rows whose object path carries `run`."""
    return owner_query(
        db,
        "select id::text, object_path from public.documents where strpos(object_path, $1) > 0",
        run,
    )


def upload(
    api: httpx.Client,
    actors: World,
    actor: str,
    filename: str,
    data: bytes,
    *,
    gpt_id: str | None = None,
    mime: str = "text/plain",
) -> httpx.Response:
    """Upload as a browser form would (fields first, then the file)."""
    fields = {"gpt_id": gpt_id} if gpt_id else {}
    return api.post(
        "/documents",
        data=fields,
        files={"file": (filename, data, mime)},
        headers=actors.headers(actor),
    )


def nothing_stored(backend: Backend, before: set[str], db: MigratedDatabase, run: str) -> None:
    """No documents row, no object and no body for this test's uploads."""
    assert document_rows(db, run) == []
    assert object_names(db, BUCKET, run) == set()
    assert backend.bodies() == before
    assert backend.pending() == []


def test_upload_stores_the_object_and_its_row(
    api: httpx.Client,
    actors: World,
    storage: Storage,
    scratch: Scratch,
    backend: Backend,
    db: MigratedDatabase,
) -> None:
    filename = f"{scratch.run}-handbook.pdf"
    data = pattern_bytes(50_000)
    sent = upload(api, actors, "user_a", filename, data, gpt_id=GPT_A, mime="application/pdf")
    assert sent.status_code == 201, sent.text
    document = sent.json()
    assert document["team_id"] == TEAM_A
    assert document["user_id"] == USERS["user_a"]
    assert document["gpt_id"] == GPT_A
    assert document["bucket"] == BUCKET
    assert document["name"] == filename
    assert document["size_bytes"] == len(data)
    assert document["mime_type"] == "application/pdf"
    path = document["object_path"]
    assert path.startswith(f"{TEAM_A}/documents/") and path.endswith(f"/{filename}")
    row = object_row(db, BUCKET, path)
    assert row is not None
    assert row["owner"] == USERS["user_a"]
    assert body_of(row) in backend.bodies()
    assert storage("user_a").from_(BUCKET).download(path) == data
    assert storage("admin_a").from_(BUCKET).download(path) == data


def test_fields_after_the_file_part_count(
    api: httpx.Client, actors: World, scratch: Scratch
) -> None:
    body = multipart(
        BOUNDARY,
        file=("file", f"{scratch.run}-late.txt", "text/plain", b"late fields"),
        after={"gpt_id": GPT_A},
    )
    sent = api.post(
        "/documents",
        content=body,
        headers={
            **actors.headers("user_a"),
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["gpt_id"] == GPT_A


def test_a_file_name_is_made_safe(
    api: httpx.Client, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    filename = f"../../{TEAM_A[:8]}/..\\{scratch.run}\x01.txt"
    sent = api.post(
        "/documents",
        content=multipart(BOUNDARY, file=("file", filename, "text/plain", b"x")),
        headers={
            **actors.headers("user_a"),
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    assert sent.status_code == 201, sent.text
    document = sent.json()
    assert document["name"] == f"{scratch.run}_.txt"
    assert document["object_path"].startswith(f"{TEAM_A}/documents/")
    assert document["object_path"].count("/") == 3
    assert object_row(db, BUCKET, document["object_path"]) is not None


def test_list_get_and_delete(
    api: httpx.Client,
    actors: World,
    scratch: Scratch,
    backend: Backend,
    db: MigratedDatabase,
) -> None:
    data = b"handbook contents"
    sent = upload(api, actors, "user_a", f"{scratch.run}-guide.txt", data, gpt_id=GPT_A)
    assert sent.status_code == 201, sent.text
    document = sent.json()
    other = upload(api, actors, "user_a", f"{scratch.run}-other.txt", b"other")
    assert other.status_code == 201, other.text

    listed = api.get("/documents", headers=actors.headers("user_a"))
    assert listed.status_code == 200
    ids = [d["id"] for d in listed.json()]
    assert document["id"] in ids and other.json()["id"] in ids
    assert {d["team_id"] for d in listed.json()} == {TEAM_A}
    for_gpt = api.get(
        "/documents", params={"gpt_id": GPT_A}, headers=actors.headers("user_a")
    ).json()
    assert document["id"] in [d["id"] for d in for_gpt]
    assert other.json()["id"] not in [d["id"] for d in for_gpt]
    assert document["id"] not in [
        d["id"] for d in api.get("/documents", headers=actors.headers("user_b")).json()
    ]
    page = api.get("/documents", params={"limit": 1}, headers=actors.headers("user_a")).json()
    assert len(page) == 1

    got = api.get(f"/documents/{document['id']}", headers=actors.headers("user_a"))
    assert got.status_code == 200, got.text
    fetched = got.json()
    assert fetched["object_path"] == document["object_path"]
    signed = fetched["signed_url"]
    assert signed.startswith(f"{backend.server.url}/storage/v1/object/sign/{BUCKET}/")
    assert httpx.get(signed).content == data  # no credentials needed
    assert (
        api.get(f"/documents/{document['id']}", headers=actors.headers("super_admin")).status_code
        == 200
    )

    row = object_row(db, BUCKET, document["object_path"])
    assert row is not None
    gone = api.delete(f"/documents/{document['id']}", headers=actors.headers("user_a"))
    assert gone.status_code == 204
    assert (
        api.get(f"/documents/{document['id']}", headers=actors.headers("user_a")).status_code == 404
    )
    assert object_row(db, BUCKET, document["object_path"]) is None
    assert body_of(row) not in backend.bodies()
    assert [r[0] for r in document_rows(db, scratch.run)] == [other.json()["id"]]


def test_another_team_cannot_get_or_delete(
    api: httpx.Client, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    sent = upload(api, actors, "user_a", f"{scratch.run}-mine.txt", b"mine")
    document = sent.json()
    for call in (api.get, api.delete):
        refused = call(f"/documents/{document['id']}", headers=actors.headers("user_b"))
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "document_not_found"
    assert len(document_rows(db, scratch.run)) == 1
    assert object_row(db, BUCKET, document["object_path"]) is not None


def test_the_uploader_or_an_admin_deletes(
    api: httpx.Client, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    by_admin = upload(api, actors, "admin_a", f"{scratch.run}-admins.txt", b"admin's").json()
    by_user = upload(api, actors, "user_a", f"{scratch.run}-users.txt", b"user's").json()
    refused = api.delete(f"/documents/{by_admin['id']}", headers=actors.headers("user_a"))
    assert refused.status_code == 404
    assert object_row(db, BUCKET, by_admin["object_path"]) is not None
    assert (
        api.delete(f"/documents/{by_user['id']}", headers=actors.headers("admin_a")).status_code
        == 204
    )
    assert object_row(db, BUCKET, by_user["object_path"]) is None


def test_a_gpt_of_another_team_is_refused(
    api: httpx.Client, actors: World, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    before = backend.bodies()
    refused = upload(api, actors, "user_a", f"{scratch.run}-leak.txt", b"leak", gpt_id=GPT_B)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "forbidden"
    nothing_stored(backend, before, db, scratch.run)


def test_a_gpt_id_that_is_not_a_uuid(
    api: httpx.Client, actors: World, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    before = backend.bodies()
    refused = upload(api, actors, "user_a", f"{scratch.run}-x.txt", b"x", gpt_id="gpt-one")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_gpt_id"
    nothing_stored(backend, before, db, scratch.run)


def test_a_gpt_that_does_not_exist_is_refused_like_another_teams(
    api: httpx.Client, actors: World, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    """No answer tells a GPT of another team from no GPT at all."""
    before = backend.bodies()
    nowhere = upload(api, actors, "user_a", f"{scratch.run}-x.txt", b"x", gpt_id=str(uuid.uuid4()))
    elsewhere = upload(api, actors, "user_a", f"{scratch.run}-y.txt", b"y", gpt_id=GPT_B)
    assert nowhere.status_code == elsewhere.status_code == 403
    assert nowhere.json() == elsewhere.json()
    nothing_stored(backend, before, db, scratch.run)


def test_a_form_cut_short_stores_nothing(
    api: httpx.Client, actors: World, scratch: Scratch, backend: Backend, db: MigratedDatabase
) -> None:
    before = backend.bodies()
    body = multipart(
        BOUNDARY, file=("file", f"{scratch.run}-cut.txt", "text/plain", b"c" * 5000), close=False
    )
    refused = api.post(
        "/documents",
        content=iter([body[:3000]]),
        headers={
            **actors.headers("user_a"),
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    assert refused.status_code == 400, refused.text
    nothing_stored(backend, before, db, scratch.run)


@pytest.fixture
def teamless(backend: Backend, db: MigratedDatabase) -> Iterator[str]:
    """The access token of a confirmed user in no team."""
    email = f"teamless-{secrets.token_hex(4)}@example.com"
    user_id = confirmed_user(backend.server, email)
    try:
        signed_in = httpx.post(
            f"{backend.server.url}/auth/v1/token?grant_type=password",
            json={"email": email, "password": PASSWORD},
            headers={"apikey": backend.server.anon_key},
        )
        assert signed_in.status_code == 200, signed_in.text
        yield str(signed_in.json()["access_token"])
    finally:
        owner_query(db, "delete from auth.users where id = $1", uuid.UUID(user_id))


def test_a_user_in_no_team_cannot_upload(
    api: httpx.Client,
    actors: World,
    scratch: Scratch,
    backend: Backend,
    db: MigratedDatabase,
    teamless: str,
) -> None:
    before = backend.bodies()
    auth = {"apikey": backend.server.anon_key, "Authorization": f"Bearer {teamless}"}
    refused = api.post("/documents", files={"file": (f"{scratch.run}-x.txt", b"x")}, headers=auth)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "no_team"
    # the super admin belongs to no team either
    refused = upload(api, actors, "super_admin", f"{scratch.run}-y.txt", b"y")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "no_team"
    nothing_stored(backend, before, db, scratch.run)


def test_signing_in_is_needed(api: httpx.Client, actors: World, scratch: Scratch) -> None:
    for call in (
        lambda: api.post(
            "/documents",
            files={"file": (f"{scratch.run}.txt", b"x")},
            headers=actors.headers("anon"),
        ),
        lambda: api.get("/documents", headers=actors.headers("anon")),
        lambda: api.get(f"/documents/{uuid.uuid4()}", headers=actors.headers("anon")),
    ):
        refused = call()
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "not_authenticated"


def test_only_forms_are_uploaded(api: httpx.Client, actors: World) -> None:
    refused = api.post(
        "/documents",
        content=b"raw",
        headers={**actors.headers("user_a"), "content-type": "text/plain"},
    )
    assert refused.status_code == 415
    assert refused.json()["error"]["code"] == "multipart_required"


def test_an_unknown_or_malformed_document_id(api: httpx.Client, actors: World) -> None:
    for document_id in (str(uuid.uuid4()), "not-a-uuid"):
        for call in (api.get, api.delete):
            refused = call(f"/documents/{document_id}", headers=actors.headers("user_a"))
            assert refused.status_code == 404
            assert refused.json()["error"]["code"] == "document_not_found"
