"""Questions the session endpoint refuses, and that it records nothing for: GPTs that may not
answer, sessions that are not the caller's or are closed, no sign-in, and bad input."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.chat.gateway_world import (
    GPT_A_PRIVATE,
    SESSION_A,
    USER_B,
    Gpts,
    ask,
    gpts,
    messages_of,
    recorded,
)
from tests.conftest import MigratedDatabase
from tests.rest.world import World


@pytest.fixture(scope="module")
def made(world: World, db: MigratedDatabase) -> Iterator[Gpts]:
    with gpts(db) as made:
        yield made


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


@pytest.mark.parametrize(
    ("status", "approval"),
    [
        ("active", "pending"),
        ("active", "rejected"),
        ("suspended", "approved"),
        ("inactive", "approved"),
        ("pending", "approved"),
    ],
)
def test_a_gpt_that_may_not_answer_is_403(
    world: World, db: MigratedDatabase, made: Gpts, status: str, approval: str
) -> None:
    session = made.session(made.gpt("gpt-4", status=status, approval=approval))
    before = recorded(db)
    for stream in (False, True):
        r = ask(world, session, "Hello?", stream=stream)
        refused(r, 403, "gpt_unavailable")
        assert status in r.json()["error"]["message"] and approval in r.json()["error"]["message"]
    assert recorded(db) == before
    assert messages_of(db, session) == []


@pytest.mark.parametrize("actor", ["user_b", "admin_a", "super_admin"])
def test_another_users_session_is_404(world: World, db: MigratedDatabase, actor: str) -> None:
    """Chats are private: not even the team's admin or a super admin may post in one."""
    before = recorded(db)
    refused(ask(world, SESSION_A, "Let me in", actor=actor), 404, "session_not_found")
    assert recorded(db) == before


def test_a_session_with_a_gpt_its_user_cannot_see_is_404(
    world: World, db: MigratedDatabase, made: Gpts
) -> None:
    """user_b's own session with team A's private GPT (made by the owner, as if user_b had
    left team A): the GPT is not one user_b may use."""
    session = made.session(GPT_A_PRIVATE, user=USER_B)
    before = recorded(db)
    refused(ask(world, session, "Still here?", actor="user_b"), 404, "gpt_not_found")
    assert recorded(db) == before


@pytest.mark.parametrize("status", ["completed", "archived"])
def test_a_closed_session_is_409(
    world: World, db: MigratedDatabase, made: Gpts, status: str
) -> None:
    session = made.session(made.gpt("gpt-4"), status=status)
    before = recorded(db)
    r = ask(world, session, "Reopen?")
    refused(r, 409, "session_closed")
    assert status in r.json()["error"]["message"]
    assert recorded(db) == before


def test_a_session_without_a_gpt_is_409(world: World, db: MigratedDatabase, made: Gpts) -> None:
    session = made.session(None)
    before = recorded(db)
    refused(ask(world, session, "Anyone?"), 409, "session_has_no_gpt")
    assert recorded(db) == before


def test_the_service_role_is_not_a_user_who_can_chat(world: World, db: MigratedDatabase) -> None:
    before = recorded(db)
    r = ask(world, SESSION_A, "Hello?", actor="service_role")
    assert recorded(db) == before
    refused(r, 403, "user_required")


@pytest.mark.parametrize("actor", ["nobody", "anon"])
def test_no_signed_in_user_is_401(world: World, db: MigratedDatabase, actor: str) -> None:
    before = recorded(db)
    r = ask(world, SESSION_A, "Hello?", actor=actor)
    assert r.status_code == 401, r.text
    assert recorded(db) == before


def test_a_forged_token_is_401(world: World, db: MigratedDatabase) -> None:
    before = recorded(db)
    r = httpx.post(
        f"{world.server.url}/api/v1/chat/sessions/{SESSION_A}/messages",
        headers={"apikey": world.server.anon_key, "Authorization": "Bearer not.a.token"},
        json={"content": "Hello?"},
    )
    refused(r, 401, "invalid_token")
    assert recorded(db) == before


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content": ""}, 400, "empty_content"),
        ({"content": " \n\t "}, 400, "empty_content"),
        ({}, 400, "invalid_content"),
        ({"content": None}, 400, "invalid_content"),
        ({"content": 42}, 400, "invalid_content"),
        ({"content": ["Hello"]}, 400, "invalid_content"),
        ({"content": "Hel\x00lo"}, 400, "invalid_content"),
        ({"content": "x" * 32_001}, 413, "content_too_long"),
        ({"content": "Hello", "stream": "yes"}, 400, "invalid_stream"),
        ({"content": "Hello", "stream": 1}, 400, "invalid_stream"),
        ({"content": "Hello", "stream": None}, 400, "invalid_stream"),
        ({"content": "Hello", "model": "gpt-4o"}, 400, "unknown_field"),
        ({"content": "Hello", "session_id": SESSION_A}, 400, "unknown_field"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_recorded(
    world: World, db: MigratedDatabase, body: dict[str, object], status: int, code: str
) -> None:
    before = recorded(db)
    r = httpx.post(
        f"{world.server.url}/api/v1/chat/sessions/{SESSION_A}/messages",
        headers=world.headers("user_a"),
        json=body,
    )
    refused(r, status, code)
    assert recorded(db) == before


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2]", b'"Hello"', b"\xff\xfe", b'{"content": "a"} trailing']
)
def test_a_body_that_is_not_a_json_object_is_400(
    world: World, db: MigratedDatabase, raw: bytes
) -> None:
    before = recorded(db)
    r = httpx.post(
        f"{world.server.url}/api/v1/chat/sessions/{SESSION_A}/messages",
        headers={**world.headers("user_a"), "Content-Type": "application/json"},
        content=raw,
    )
    refused(r, 400, "invalid_json")
    assert recorded(db) == before


def test_the_limit_counts_characters_not_bytes(
    world: World, db: MigratedDatabase, made: Gpts
) -> None:
    """32,000 characters are accepted where the model's context holds them (gpt-4's 8k does
    not: prompt_too_long, before anything is stored); one more is 413 whatever the model."""
    session = made.session(made.gpt("gpt-4"))
    before = recorded(db)
    refused(ask(world, session, "é" * 32_000), 400, "prompt_too_long")
    refused(ask(world, session, "é" * 32_001), 413, "content_too_long")
    assert recorded(db) == before
    roomy = made.session(made.gpt("gpt-4o"))  # a 128k context holds it
    r = ask(world, roomy, "é" * 32_000)
    assert r.status_code == 201, r.text
    assert r.json()["user_message"]["content"] == "é" * 32_000


@pytest.mark.parametrize(
    "session", ["not-a-uuid", "40000000-0000-4000-8000", str(uuid.uuid4()), "%20"]
)
def test_an_unknown_session_is_404(world: World, db: MigratedDatabase, session: str) -> None:
    before = recorded(db)
    refused(ask(world, session, "Hello?"), 404, "session_not_found")
    assert recorded(db) == before


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_unusable_idempotency_key_is_400(world: World, db: MigratedDatabase, key: str) -> None:
    before = recorded(db)
    refused(ask(world, SESSION_A, "Hello?", key=key), 400, "invalid_idempotency_key")
    assert recorded(db) == before
