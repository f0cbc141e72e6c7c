"""/api/v1/providers: super admins create, list, read, change and remove providers, audited;
an API key is sealed at rest and never shown (a hint instead) — and is what the upstream
receives; everybody else sees none and may change none."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gptdesk.auth.sealing import seal, unseal
from gptdesk.llm.registry import SEAL_PURPOSE
from tests.chat.gateway_world import ask, gpts, recorded, unique
from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.llm.fake_openai import ANSWER, FakeUpstream
from tests.rest.world import USERS, World

KEY = "sk-proj-provider-test-key-wxyz"
OTHER_KEY = "sk-proj-another-secret-key-9876"


@pytest.fixture
def api(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{world.server.url}/api/v1") as client:
        yield client


@pytest.fixture
def made(api: httpx.Client, world: World) -> Iterator[list[str]]:
    """Ids of providers a test made; removed (by the super admin) afterwards."""
    ids: list[str] = []
    yield ids
    for ident in ids:
        api.delete(f"/providers/{ident}", headers=world.headers("super_admin"))


def create(api: httpx.Client, world: World, made: list[str], **fields: Any) -> dict[str, Any]:
    body = {"name": unique("providers-api"), "kind": "offline", **fields}
    r = api.post("/providers", headers=world.headers("super_admin"), json=body)
    assert r.status_code == 201, r.text
    assert KEY not in r.text and OTHER_KEY not in r.text
    made.append(r.json()["id"])
    return dict(r.json())


def sealed_key(db: MigratedDatabase, ident: str) -> str | None:
    rows = owner_query(
        db,
        "select api_key_sealed from public.llm_provider_secrets where provider_id = $1",
        uuid.UUID(ident),
    )
    return rows[0][0] if rows else None


def test_a_super_admin_manages_a_provider(
    api: httpx.Client, world: World, made: list[str], upstream: FakeUpstream
) -> None:
    headers = world.headers("super_admin")
    row = create(
        api, world, made, kind="openai", base_url=upstream.base_url, models=["m-1", "m-2"],
        api_key=KEY, timeout_seconds=12.5, max_retries=1,
    )  # fmt: skip
    ident = row["id"]
    assert "api_key" not in row
    assert (row["has_api_key"], row["api_key_hint"]) == (True, "sk-…wxyz")
    assert (row["kind"], row["base_url"], row["models"]) == ("openai", upstream.base_url,
                                                             ["m-1", "m-2"])  # fmt: skip
    assert (row["timeout_seconds"], row["max_retries"], row["pace_ms"]) == (12.5, 1, 0)
    assert (row["is_default"], row["enabled"]) == (False, True)

    listed = api.get("/providers", headers=headers)
    assert listed.status_code == 200 and KEY not in listed.text
    assert row in listed.json()
    got = api.get(f"/providers/{ident}", headers=headers)
    assert got.status_code == 200 and got.json() == row

    changed = api.patch(
        f"/providers/{ident}",
        headers=headers,
        json={"models": ["m-3"], "enabled": False, "pace_ms": 5},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["models"], changed.json()["enabled"]) == (["m-3"], False)
    assert changed.json()["api_key_hint"] == "sk-…wxyz"  # the key is kept

    rekeyed = api.patch(f"/providers/{ident}", headers=headers, json={"api_key": OTHER_KEY})
    assert rekeyed.status_code == 200 and OTHER_KEY not in rekeyed.text
    assert rekeyed.json()["api_key_hint"] == "sk-…9876"
    short = api.patch(f"/providers/{ident}", headers=headers, json={"api_key": "short-key"})
    assert short.json()["api_key_hint"] == "…ey"  # a short key shows less
    unkeyed = api.patch(f"/providers/{ident}", headers=headers, json={"api_key": None})
    assert (unkeyed.json()["has_api_key"], unkeyed.json()["api_key_hint"]) == (False, None)
    assert api.patch(f"/providers/{ident}", headers=headers, json={}).json() == unkeyed.json()

    assert api.delete(f"/providers/{ident}", headers=headers).status_code == 204
    assert api.get(f"/providers/{ident}", headers=headers).status_code == 404
    assert api.delete(f"/providers/{ident}", headers=headers).status_code == 404
    assert (
        api.patch(f"/providers/{ident}", headers=headers, json={"enabled": True}).status_code == 404
    )


def test_the_key_is_stored_sealed_and_removed_with_its_provider(
    api: httpx.Client, world: World, made: list[str], db: MigratedDatabase
) -> None:
    row = create(api, world, made, api_key=KEY)
    sealed = sealed_key(db, row["id"])
    assert sealed is not None and sealed.startswith("v1.") and KEY not in sealed
    assert unseal(db.jwt_secret, SEAL_PURPOSE, sealed, row["id"]) == KEY
    [(stored,)] = owner_query(
        db, "select to_jsonb(p)::text from public.llm_providers p where id = $1",
        uuid.UUID(row["id"]),
    )  # fmt: skip
    assert KEY not in stored
    api.patch(
        f"/providers/{row['id']}", headers=world.headers("super_admin"), json={"api_key": None}
    )
    assert sealed_key(db, row["id"]) is None
    api.patch(
        f"/providers/{row['id']}", headers=world.headers("super_admin"), json={"api_key": KEY}
    )
    assert (
        api.delete(f"/providers/{row['id']}", headers=world.headers("super_admin")).status_code
        == 204
    )
    assert sealed_key(db, row["id"]) is None


def test_changes_are_audited_without_the_key(
    api: httpx.Client, world: World, made: list[str], db: MigratedDatabase
) -> None:
    headers = world.headers("super_admin")
    row = create(api, world, made, api_key=KEY)
    api.patch(f"/providers/{row['id']}", headers=headers, json={"pace_ms": 10})
    api.patch(f"/providers/{row['id']}", headers=headers, json={"api_key": None})
    api.delete(f"/providers/{row['id']}", headers=headers)
    rows = owner_query(
        db,
        "select action, user_id::text, resource_type, details::text from public.audit_logs"
        " where resource_id = $1 order by created_at",
        uuid.UUID(row["id"]),
    )
    actions = [r[0] for r in rows]
    assert actions[-1] == "provider.removed"  # (a request's entries share its time)
    assert set(actions) == {
        "provider.created", "provider.key_set", "provider.changed", "provider.key_removed",
        "provider.removed",
    }  # fmt: skip
    assert {r[1] for r in rows} == {USERS["super_admin"]}
    assert {r[2] for r in rows} == {"llm_provider"}
    assert not any(KEY in r[3] for r in rows)
    changed = [orjson.loads(r[3]) for r in rows if r[0] == "provider.changed"]
    assert any((c["before"]["pace_ms"], c["after"]["pace_ms"]) == (0, 10) for c in changed), changed


def test_a_timeout_reads_back_as_it_was_set(
    api: httpx.Client, world: World, made: list[str]
) -> None:
    row = create(api, world, made, timeout_seconds=0.1)
    assert row["timeout_seconds"] == 0.1


@pytest.mark.parametrize("actor", ["user_a", "admin_a", "user_b"])
def test_nobody_else_sees_or_changes_providers(
    api: httpx.Client, world: World, made: list[str], actor: str
) -> None:
    row = create(api, world, made, api_key=KEY)
    headers = world.headers(actor)
    listed = api.get("/providers", headers=headers)
    assert (listed.status_code, listed.json()) == (200, [])
    assert api.get(f"/providers/{row['id']}", headers=headers).status_code == 404
    refused = api.post(
        "/providers", headers=headers, json={"name": unique("nope"), "kind": "offline"}
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "forbidden"
    for change in ({"enabled": False}, {"api_key": "sk-stolen-0000000000"}, {"api_key": None}):
        r = api.patch(f"/providers/{row['id']}", headers=headers, json=change)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "provider_not_found"
    assert api.delete(f"/providers/{row['id']}", headers=headers).status_code == 404
    intact = api.get(f"/providers/{row['id']}", headers=world.headers("super_admin")).json()
    assert intact == row


@pytest.mark.parametrize("actor", ["nobody", "anon"])
def test_without_a_user_it_is_401(api: httpx.Client, world: World, actor: str) -> None:
    headers = {} if actor == "nobody" else world.headers("anon")
    assert api.get("/providers", headers=headers).status_code == 401
    assert (
        api.post("/providers", headers=headers, json={"name": "x", "kind": "offline"}).status_code
        == 401
    )


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "offline", "api_key_hint": "sk-…"},
        {"kind": "offline", "id": str(uuid.uuid4())},
        {"kind": "anthropic"},
        {"kind": None},
        {"kind": "openai", "base_url": "ftp://models.test/v1", "models": ["m"]},
        {"kind": "openai", "base_url": "models.test/v1", "models": ["m"]},
        {"kind": "openai", "base_url": "http://", "models": ["m"]},
        {"kind": "openai", "base_url": "http://a b/v1", "models": ["m"]},
        {"kind": "openai"},  # neither models nor the default
        {"kind": "offline", "base_url": "http://models.test/v1"},
        {"kind": "offline", "models": [""]},
        {"kind": "offline", "models": "m"},
        {"kind": "offline", "timeout_seconds": 0},
        {"kind": "offline", "timeout_seconds": 3601},
        {"kind": "offline", "max_retries": 11},
        {"kind": "offline", "pace_ms": -1},
        {"kind": "offline", "api_key": ""},
        {"kind": "offline", "enabled": "maybe"},
        {"kind": "offline", "name": ""},
        {"kind": "offline", "name": "   "},
        {"kind": "offline", "name": "n" * 101},
        {"kind": "offline", "name": None},
    ],
)
def test_an_invalid_provider_is_400(
    api: httpx.Client, world: World, made: list[str], body: dict[str, Any]
) -> None:
    r = api.post(
        "/providers", headers=world.headers("super_admin"), json={"name": unique("bad"), **body}
    )
    if r.status_code == 201:
        made.append(r.json()["id"])
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("invalid_provider", "unknown_field")


@pytest.mark.parametrize("raw", [b"{nope", b"[]", b'"offline"'])
def test_a_body_that_is_not_a_json_object_is_400(
    api: httpx.Client, world: World, raw: bytes
) -> None:
    headers = {**world.headers("super_admin"), "Content-Type": "application/json"}
    r = api.post("/providers", headers=headers, content=raw)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_json")


@pytest.mark.parametrize(
    "change",
    [{"name": None}, {"kind": None}, {"models": None}, {"enabled": None}, {"timeout_seconds": None},
     {"is_default": None}, {"kind": "openai", "base_url": "file:///etc/passwd"}, {"unknown": 1},
     {"base_url": "http://models.test/v1"}],
)  # fmt: skip
def test_an_invalid_change_is_400(
    api: httpx.Client, world: World, made: list[str], change: dict[str, Any]
) -> None:
    row = create(api, world, made)
    r = api.patch(f"/providers/{row['id']}", headers=world.headers("super_admin"), json=change)
    assert r.status_code == 400, r.text
    assert api.get(f"/providers/{row['id']}", headers=world.headers("super_admin")).json() == row


@pytest.mark.parametrize("ident", ["not-a-uuid", str(uuid.uuid4())])
def test_an_unknown_provider_is_404(api: httpx.Client, world: World, ident: str) -> None:
    headers = world.headers("super_admin")
    for r in (
        api.get(f"/providers/{ident}", headers=headers),
        api.patch(f"/providers/{ident}", headers=headers, json={"enabled": False}),
        api.patch(f"/providers/{ident}", headers=headers, json={"api_key": KEY}),
        api.delete(f"/providers/{ident}", headers=headers),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "provider_not_found"


def test_a_name_is_taken_once(api: httpx.Client, world: World, made: list[str]) -> None:
    first = create(api, world, made)
    again = api.post(
        "/providers",
        headers=world.headers("super_admin"),
        json={"name": first["name"], "kind": "offline"},
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "name_taken")
    other = create(api, world, made)
    renamed = api.patch(
        f"/providers/{other['id']}",
        headers=world.headers("super_admin"),
        json={"name": first["name"]},
    )
    assert (renamed.status_code, renamed.json()["error"]["code"]) == (409, "name_taken")


def test_there_is_one_default_at_most(
    api: httpx.Client, world: World, made: list[str], db: MigratedDatabase
) -> None:
    headers = world.headers("super_admin")
    if not owner_query(db, "select 1 from public.llm_providers where is_default"):
        create(api, world, made, is_default=True)
    second = api.post(
        "/providers", headers=headers, json={"name": unique("default"), "kind": "offline",
                                   "is_default": True},
    )  # fmt: skip
    if second.status_code == 201:
        made.append(second.json()["id"])
    assert (second.status_code, second.json()["error"]["code"]) == (409, "default_exists")
    other = create(api, world, made)
    promoted = api.patch(f"/providers/{other['id']}", headers=headers, json={"is_default": True})
    assert (promoted.status_code, promoted.json()["error"]["code"]) == (409, "default_exists")
    assert owner_query(db, "select count(*) from public.llm_providers where is_default") == [(1,)]


# ---------------------------------------------------------------------------------------
# What the gateway does with them
# ---------------------------------------------------------------------------------------


def test_the_sealed_key_is_what_the_upstream_receives(
    api: httpx.Client, world: World, made: list[str], db: MigratedDatabase,
    upstream: FakeUpstream,
) -> None:  # fmt: skip
    headers = world.headers("super_admin")
    model = unique("fake-keyed")
    row = create(api, world, made, kind="openai", base_url=upstream.base_url, models=[model],
                 api_key=KEY, max_retries=0)  # fmt: skip
    with gpts(db) as made_gpts:
        session = made_gpts.session(made_gpts.gpt(model))

        def authorization_of(question: str) -> str:
            r = ask(world, session, question)
            assert r.status_code == 201, r.text
            assert r.json()["message"]["content"] == ANSWER
            [index] = [i for i, body in enumerate(upstream.requests)
                       if body["messages"][-1]["content"] == question]  # fmt: skip
            return upstream.headers[index]["authorization"]

        assert authorization_of(f"With the key {uuid.uuid4()}") == f"Bearer {KEY}"
        api.patch(f"/providers/{row['id']}", headers=headers, json={"api_key": OTHER_KEY})
        assert authorization_of(f"With the new key {uuid.uuid4()}") == f"Bearer {OTHER_KEY}"
        api.patch(f"/providers/{row['id']}", headers=headers, json={"api_key": None})
        assert authorization_of(f"Without a key {uuid.uuid4()}") == "Bearer unused"

        # A disabled provider serves nothing: the model falls to the offline model.
        api.patch(f"/providers/{row['id']}", headers=headers, json={"enabled": False})
        r = ask(world, session, "Who answers now?")
        assert r.status_code == 201, r.text
        assert r.json()["message"]["metadata"]["model"] == "offline"


def test_a_key_that_does_not_open_is_503_and_nothing_is_stored(
    api: httpx.Client, world: World, made: list[str], db: MigratedDatabase,
    upstream: FakeUpstream,
) -> None:  # fmt: skip
    """A key sealed for another provider (copied across rows) or under another secret."""
    model = unique("fake-miskeyed")
    row = create(api, world, made, kind="openai", base_url=upstream.base_url, models=[model],
                 api_key=KEY, max_retries=0)  # fmt: skip
    owner_query(
        db,
        "update public.llm_provider_secrets set api_key_sealed = $2 where provider_id = $1",
        uuid.UUID(row["id"]), seal(db.jwt_secret, SEAL_PURPOSE, KEY, str(uuid.uuid4())),
    )  # fmt: skip
    # Any change through the API makes the server read the providers again.
    api.patch(f"/providers/{row['id']}", headers=world.headers("super_admin"), json={"pace_ms": 1})
    with gpts(db) as made_gpts:
        session = made_gpts.session(made_gpts.gpt(model))
        before, asked = recorded(db), len(upstream.requests)
        r = ask(world, session, "Hello?")
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "provider_misconfigured"
        assert recorded(db) == before and len(upstream.requests) == asked
