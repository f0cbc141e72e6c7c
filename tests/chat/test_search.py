"""Message search over HTTP: ranked, highlighted, keyset-paginated, bound by RLS."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.world import World

SESSION_A = "40000000-0000-4000-8000-0000000000a1"
MESSAGE_A = "50000000-0000-4000-8000-0000000000a1"


@pytest.fixture
def api(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{world.server.url}/api/v1/search") as client:
        yield client


@pytest.fixture
def many_messages(db: MigratedDatabase) -> Iterator[list[str]]:
    """Seven more of user_a's messages about expenses, removed afterwards."""
    ids = [str(uuid.uuid4()) for _ in range(7)]
    for n, ident in enumerate(ids):
        owner_query(
            db,
            "insert into public.chat_messages (id, session_id, sender, content, created_at) "
            "values ($1, $2, 'user', $3, now() - make_interval(secs => $4))",
            uuid.UUID(ident), uuid.UUID(SESSION_A),
            f"Expense question {n}: " + "expenses " * (n + 1), float(n),
        )  # fmt: skip
    yield ids
    owner_query(db, "delete from public.chat_messages where id = any($1::uuid[])", ids)


def test_a_user_finds_their_message_highlighted(api: httpx.Client, world: World) -> None:
    r = api.get("/messages", params={"q": "travel"}, headers=world.headers("user_a"))
    assert r.status_code == 200, r.text
    body = r.json()
    [hit] = body["results"]
    assert hit["id"] == MESSAGE_A and hit["session_id"] == SESSION_A
    assert "<mark>travel</mark>" in hit["snippet"]
    assert hit["sender"] == "user" and hit["rank"] > 0
    assert body["next_cursor"] is None


@pytest.mark.parametrize("actor", ["user_b", "admin_a", "super_admin"])
def test_nobody_else_finds_it(api: httpx.Client, world: World, actor: str) -> None:
    """Chats are private to their user: not another team's user, not even their admins."""
    r = api.get("/messages", params={"q": "travel policy"}, headers=world.headers(actor))
    assert r.status_code == 200, r.text
    assert r.json()["results"] == []


def test_pages_follow_each_other_without_gaps_or_repeats(
    api: httpx.Client, world: World, many_messages: list[str]
) -> None:
    seen: list[str] = []
    cursor = None
    ranks: list[float] = []
    while True:
        params = {"q": "expenses", "limit": "3", **({"cursor": cursor} if cursor else {})}
        r = api.get("/messages", params=params, headers=world.headers("user_a"))
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [hit["id"] for hit in body["results"]]
        ranks += [hit["rank"] for hit in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(many_messages)
    assert ranks == sorted(ranks, reverse=True)  # the most relevant first


def test_filters_by_gpt_and_time(api: httpx.Client, world: World, many_messages: list[str]) -> None:
    other_gpt = str(uuid.uuid4())
    r = api.get(
        "/messages", params={"q": "expenses", "gpt_id": other_gpt}, headers=world.headers("user_a")
    )
    assert r.json()["results"] == []
    r = api.get(
        "/messages",
        params={"q": "expenses", "from": "2999-01-01T00:00:00Z"},
        headers=world.headers("user_a"),
    )
    assert r.json()["results"] == []


def test_bad_input_and_no_sign_in(api: httpx.Client, world: World) -> None:
    r = api.get("/messages", params={"q": "x", "limit": "500"}, headers=world.headers("user_a"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_limit"
    r = api.get("/messages", params={"q": "travel"}, headers=world.headers("anon"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"
    # web-search syntax never fails, whatever the words
    odd = api.get("/messages", params={"q": '"unclosed & | !'}, headers=world.headers("user_a"))
    assert odd.status_code == 200
