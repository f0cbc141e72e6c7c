"""supabase-js 2.109.0 (vsn 2.0.0: array frames, binary kind-3 broadcast pushes) against the
server, through tests/realtime/js/subscribe.mjs: postgres_changes under filters and RLS,
broadcast both ways between js and supabase-py, and presence.

A js client exits after the number of events it is told to wait for, so "nothing else
arrived" holds when the expected event is the one it printed: changes arrive in commit
order, and the unwanted ones were committed first.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.realtime.conftest import SESSION_A, Rows
from tests.realtime.node import NodeClient, node_client
from tests.realtime.pyclient import PySubscriber
from tests.rest.world import TEAM_A, World

Clients = Callable[..., Awaitable[PySubscriber]]


@asynccontextmanager
async def js(
    node_dir: Path, world: World, actor: str | None, topic: str, **params: Any
) -> AsyncIterator[NodeClient]:
    """subscribe.mjs as `actor` (None: signed out) on `topic`, subscribed."""
    token = world.tokens[actor] if actor else None
    async with node_client(
        node_dir, url=world.server.url, key=world.server.anon_key, token=token, topic=topic,
        timeout=30, **params,
    ) as client:  # fmt: skip
        await client.subscribed()
        yield client


def changes(client: NodeClient) -> list[dict[str, Any]]:
    return [line["payload"] for line in client.received("postgres_changes")]


async def test_js_receives_the_session_message_only(
    node_dir: Path, world: World, rows: Rows, topic: str
) -> None:
    binding = {"event": "INSERT", "schema": "public", "table": "chat_messages",
               "filter": f"session_id=eq.{SESSION_A}"}  # fmt: skip
    other_session = await rows.session("user_a")
    async with js(node_dir, world, "user_a", topic, changes=[binding], count=1) as client:
        await rows.message(other_session)
        message = await rows.message(SESSION_A, "rt from js test")
        lines = await client.finished()

    assert lines[-1] == {"kind": "done", "reason": "count", "vsn": "2.0.0"}
    [change] = changes(client)
    assert (change["schema"], change["table"], change["eventType"]) == (
        "public", "chat_messages", "INSERT",
    )  # fmt: skip
    stored = await rows.stored("chat_messages", message)
    keys = ("id", "session_id", "sender", "content", "tokens_used")
    assert {k: change["new"][k] for k in keys} == {k: stored[k] for k in keys}
    assert change["old"] == {}
    assert not change["errors"]


async def test_js_receives_team_gpt_changes(
    node_dir: Path, world: World, rows: Rows, topic: str
) -> None:
    binding = {"event": "*", "schema": "public", "table": "gpts", "filter": f"team_id=eq.{TEAM_A}"}
    async with js(node_dir, world, "user_a", topic, changes=[binding], count=3) as client:
        gpt = await rows.gpt(TEAM_A, name="rt js before")
        await client.expect(lambda line: line["kind"] == "postgres_changes")
        await rows.conn.execute("update public.gpts set name = 'rt js after' where id = $1", gpt)
        await client.expect(
            lambda line: (
                line["kind"] == "postgres_changes" and line["payload"]["eventType"] == "UPDATE"
            )
        )
        await rows.conn.execute("delete from public.gpts where id = $1", gpt)
        await client.finished()

    insert, update, delete = changes(client)
    assert [insert["eventType"], update["eventType"], delete["eventType"]] == [
        "INSERT", "UPDATE", "DELETE",
    ]  # fmt: skip
    assert insert["new"]["id"] == gpt and insert["new"]["name"] == "rt js before"
    assert update["new"]["name"] == "rt js after" and update["old"] == {"id": gpt}
    assert delete["new"] == {} and delete["old"] == {"id": gpt}


async def test_js_of_another_team_sees_only_the_public_gpt(
    node_dir: Path, world: World, rows: Rows, topic: str
) -> None:
    binding = {"event": "INSERT", "schema": "public", "table": "gpts"}
    async with js(node_dir, world, "user_b", topic, changes=[binding], count=1) as client:
        await rows.gpt(TEAM_A)
        public = await rows.gpt(TEAM_A, public=True)
        await client.finished()

    assert [c["new"]["id"] for c in changes(client)] == [public]


async def test_a_js_binary_broadcast_reaches_py(
    node_dir: Path, world: World, py_clients: Clients, topic: str
) -> None:
    py = await py_clients(world.server, None, topic, broadcasts=["typing"])
    config = {"broadcast": {"self": True, "ack": False}}
    send = [{"event": "typing", "payload": {"user": "js", "text": "héllo"}}]
    async with js(node_dir, world, None, topic, config=config, broadcasts=["typing"],
                  send=send, count=1) as client:  # fmt: skip
        lines = await client.finished()
    await py.wait_until(lambda: py.user_broadcasts())

    assert lines[-1]["vsn"] == "2.0.0"  # so js sent the broadcast as a binary kind-3 frame
    assert [line["status"] for line in client.received("sent")] == ["ok"]
    assert client.received("broadcast")[0]["payload"]["payload"] == send[0]["payload"]
    assert py.user_broadcasts() == [{"event": "typing", "payload": send[0]["payload"]}]


async def test_py_and_rest_broadcasts_reach_js(
    node_dir: Path, world: World, py_clients: Clients, topic: str
) -> None:
    py = await py_clients(world.server, world.tokens["user_a"], topic)
    async with js(node_dir, world, "user_b", topic, broadcasts=["typing", "news"],
                  count=2) as client:  # fmt: skip
        await py.channel.send_broadcast("typing", {"user": "py"})
        await py.channel.http_send("news", {"n": 1})
        await client.finished()

    received = sorted((b["payload"]["event"], b["payload"]["payload"])
                      for b in client.received("broadcast"))  # fmt: skip
    assert received == [("news", {"n": 1}), ("typing", {"user": "py"})]
    assert all(b["payload"]["type"] == "broadcast" for b in client.received("broadcast"))


async def test_presence_between_js_and_py(
    node_dir: Path, world: World, py_clients: Clients, topic: str
) -> None:
    py = await py_clients(world.server, world.tokens["user_a"], topic, presence_key="py")
    await py.channel.track({"client": "py"})
    await py.wait_until(lambda: "py" in py.channel.presence_state())
    config = {"presence": {"key": "js"}}
    async with js(node_dir, world, "user_b", topic, config=config, presence=True,
                  track={"client": "js"}, count=2) as client:  # fmt: skip
        await client.finished()
    await py.wait_until(lambda: [key for key, _ in py.leaves] == ["js"])  # js left on exit

    joins = {line["key"]: line["presences"] for line in client.received("presence")}
    assert sorted(joins) == ["js", "py"]
    assert [p["client"] for p in joins["py"]] == ["py"]
    assert [p["client"] for p in joins["js"]] == ["js"]
    assert [(key, [p["client"] for p in metas]) for key, metas in py.joins] == [
        ("py", ["py"]), ("js", ["js"]),
    ]  # fmt: skip
    assert list(py.channel.presence_state()) == ["py"]
