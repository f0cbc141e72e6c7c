"""Chat sessions through /rest/v1 with supabase-py, around the gateway: a session made
without a title takes its first message as one (cut to 80 characters with '…'); renamed,
archived (and then closed to questions), reopened, and deleted with everything in it."""

import uuid
from collections.abc import Iterator

import pytest
from supabase import Client

from tests.chat.gateway_world import (
    ask,
    gpts,
    messages_of,
    recorded,
    turns_of,
    usage_of,
)
from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.client_world import ClientFor
from tests.rest.world import World


@pytest.fixture(scope="module")
def gpt(world: World, db: MigratedDatabase) -> Iterator[str]:
    """A GPT of team A that the offline model answers (no provider lists its model)."""
    with gpts(db) as made:
        yield made.gpt(f"rest-sessions-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def user_a(client_for: ClientFor) -> Client:
    return client_for("user_a")


def new_session(client: Client, gpt: str, **fields: object) -> str:
    made = client.table("chat_sessions").insert({"gpt_id": gpt, **fields}).execute().data
    return str(made[0]["id"])


def title_of(client: Client, session: str) -> str | None:
    [row] = client.table("chat_sessions").select("title").eq("id", session).execute().data
    return row["title"]  # type: ignore[no-any-return]


def test_an_untitled_session_takes_its_first_message_as_title(
    world: World, user_a: Client, gpt: str
) -> None:
    session = new_session(user_a, gpt)
    assert title_of(user_a, session) is None
    r = ask(world, session, "  What is   our\ttravel\n policy?  ")
    assert r.status_code == 201, r.text
    assert title_of(user_a, session) == "What is our travel policy?"
    assert ask(world, session, "And for trains?").status_code == 201
    assert title_of(user_a, session) == "What is our travel policy?"


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("x" * 80, "x" * 80),
        ("x" * 81, "x" * 79 + "…"),
        ("word " * 40, ("word " * 16).rstrip() + "…"),  # cut after a space: no space before …
        ("é" * 200, "é" * 79 + "…"),  # characters, not bytes
    ],
)
def test_a_long_first_message_is_cut_to_80_characters(
    world: World, user_a: Client, gpt: str, content: str, title: str
) -> None:
    session = new_session(user_a, gpt)
    assert ask(world, session, content).status_code == 201
    found = title_of(user_a, session)
    assert found == title and found is not None and len(found) <= 80


def test_a_titled_session_keeps_its_title(world: World, user_a: Client, gpt: str) -> None:
    session = new_session(user_a, gpt, title="Travel")
    assert ask(world, session, "What is our travel policy?").status_code == 201
    assert title_of(user_a, session) == "Travel"


def test_leading_line_breaks_are_not_part_of_the_title(
    world: World, user_a: Client, gpt: str
) -> None:
    session = new_session(user_a, gpt)
    assert ask(world, session, "\n\tHello there\n").status_code == 201
    assert title_of(user_a, session) == "Hello there"


def test_a_blank_first_message_leaves_the_title_unset(user_a: Client, gpt: str) -> None:
    session = new_session(user_a, gpt)
    user_a.table("chat_messages").insert(
        {"session_id": session, "sender": "user", "content": "\n"}
    ).execute()
    assert title_of(user_a, session) is None


def test_a_session_is_renamed_archived_reopened_and_deleted(
    world: World, db: MigratedDatabase, user_a: Client, gpt: str
) -> None:
    session = new_session(user_a, gpt)
    assert ask(world, session, "First question").status_code == 201
    renamed = user_a.table("chat_sessions").update({"title": "Renamed"}).eq("id", session).execute()
    assert renamed.data[0]["title"] == "Renamed"

    user_a.table("chat_sessions").update({"status": "archived"}).eq("id", session).execute()
    before = recorded(db)
    closed = ask(world, session, "Still there?")
    assert closed.status_code == 409, closed.text
    assert closed.json()["error"]["code"] == "session_closed"
    assert recorded(db) == before

    user_a.table("chat_sessions").update({"status": "active"}).eq("id", session).execute()
    assert ask(world, session, "Back again").status_code == 201
    [row] = (
        user_a.table("chat_sessions").select("title, message_count").eq("id", session).execute()
    ).data
    assert row == {"title": "Renamed", "message_count": 4}
    assert len(turns_of(db, session)) == 2 and len(usage_of(db, session)) == 2
    [(requests_before,)] = owner_query(
        db, "select requests from public.gpt_monthly_usage where gpt_id = $1", uuid.UUID(gpt)
    )

    deleted = user_a.table("chat_sessions").delete().eq("id", session).execute()
    assert [s["id"] for s in deleted.data] == [session]
    assert messages_of(db, session) == [] and turns_of(db, session) == []
    gone = ask(world, session, "Hello?")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "session_not_found")
    # The GPT's monthly totals are kept: they are the month's usage, whatever was deleted.
    assert owner_query(
        db, "select requests from public.gpt_monthly_usage where gpt_id = $1", uuid.UUID(gpt)
    ) == [(requests_before,)]


def test_another_user_cannot_touch_the_session(
    world: World, client_for: ClientFor, user_a: Client, gpt: str
) -> None:
    session = new_session(user_a, gpt, title="Mine")
    other = client_for("user_b")
    assert (
        other.table("chat_sessions").update({"title": "Theirs"}).eq("id", session).execute().data
        == []
    )
    assert other.table("chat_sessions").delete().eq("id", session).execute().data == []
    assert title_of(user_a, session) == "Mine"
    r = ask(world, session, "Hijack", actor="user_b")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "session_not_found")
