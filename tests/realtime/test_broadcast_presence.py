"""Broadcast and presence between supabase-py clients, the REST broadcast endpoints, and
the frames behind them (acks, presence_state and presence_diff payloads)."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.realtime.pyclient import PySubscriber
from tests.realtime.wire import WAIT, phoenix_socket, rest_broadcast
from tests.rest.world import World

Clients = Callable[..., Awaitable[PySubscriber]]


async def test_a_broadcast_reaches_the_others_but_not_the_sender(
    world: World, py_clients: Clients, topic: str
) -> None:
    sender = await py_clients(world.server, world.tokens["user_a"], topic, broadcasts=["typing"])
    other = await py_clients(world.server, None, topic, broadcasts=["typing", "other"])
    await sender.channel.send_broadcast("typing", {"user": "alice"})
    await other.wait_until(lambda: other.user_broadcasts())
    await sender.barrier()

    assert other.user_broadcasts() == [{"event": "typing", "payload": {"user": "alice"}}]
    assert sender.user_broadcasts() == []


async def test_a_broadcast_reaches_the_sender_too_with_self(
    world: World, py_clients: Clients, topic: str
) -> None:
    sender = await py_clients(world.server, None, topic, broadcasts=["typing"], broadcast_self=True)
    await sender.channel.send_broadcast("typing", {"n": 1})
    await sender.wait_until(lambda: sender.user_broadcasts())

    assert [b["payload"] for b in sender.user_broadcasts()] == [{"n": 1}]


async def test_a_broadcast_is_acknowledged_only_when_asked(world: World) -> None:
    key = world.server.anon_key
    async with phoenix_socket(world.server.url, key) as socket:
        acked = await socket.join("realtime:rt-ack", broadcast={"ack": True, "self": True})
        quiet = await socket.join("realtime:rt-quiet", broadcast={"ack": False, "self": False})
        message = {"type": "broadcast", "event": "e", "payload": {"a": 1}}
        ack_ref = await socket.push("realtime:rt-ack", "broadcast", message,
                                    join_ref=acked["ref"])  # fmt: skip
        ack = await socket.reply("realtime:rt-ack", ack_ref)
        echo = await socket.expect(lambda f: f["event"] == "broadcast")
        quiet_ref = await socket.push("realtime:rt-quiet", "broadcast", message,
                                      join_ref=quiet["ref"])  # fmt: skip
        await socket.heartbeat()

    assert ack["payload"] == {"status": "ok", "response": {}}
    assert echo["ref"] is None and echo["payload"] == message
    assert socket.matching(lambda f: f["event"] == "phx_reply" and f["ref"] == quiet_ref) == []


async def test_the_rest_broadcast_is_accepted_and_reaches_subscribers(
    world: World, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(world.server, None, topic, broadcasts=["news", "direct"])
    response = await rest_broadcast(
        world.server.url, world.server.anon_key, topic, "news", {"n": 1},
        token=world.tokens["user_a"],
    )  # fmt: skip
    assert response.status_code == 202, response.text
    await sub.channel.http_send("direct", {"n": 2})  # POST …/broadcast/{topic}/events/{event}
    await sub.wait_until(lambda: len(sub.user_broadcasts()) == 2)

    assert sorted((b["event"], b["payload"]["n"]) for b in sub.user_broadcasts()) == [
        ("direct", 2), ("news", 1),
    ]  # fmt: skip


async def test_the_rest_broadcast_refuses_what_is_not_a_message_list(world: World) -> None:
    headers = {"apikey": world.server.anon_key}
    url = f"{world.server.url}/realtime/v1/api/broadcast"
    async with httpx.AsyncClient(timeout=WAIT) as client:
        for body in ({"messages": []}, {"messages": [{"event": "e"}]}, {"nope": 1}, [1]):
            response = await client.post(url, json=body, headers=headers)
            assert response.status_code == 400, (body, response.text)
        response = await client.post(url, content=b"{", headers=headers)
        assert response.status_code == 400


async def test_presence_track_untrack_and_disconnect(
    world: World, py_clients: Clients, topic: str
) -> None:
    alice = await py_clients(world.server, world.tokens["user_a"], topic, presence_key="alice")
    await alice.channel.track({"user": "alice"})
    await alice.wait_until(lambda: "alice" in alice.channel.presence_state())

    bob = await py_clients(world.server, world.tokens["user_b"], topic, presence_key="bob")
    await bob.wait_until(lambda: "alice" in bob.channel.presence_state())  # presence_state
    assert [m["user"] for m in bob.channel.presence_state()["alice"]] == ["alice"]

    await bob.channel.track({"user": "bob"})
    await alice.wait_until(lambda: "bob" in alice.channel.presence_state())
    assert [key for key, _ in alice.joins] == ["alice", "bob"]
    assert [m["user"] for m in alice.joins[1][1]] == ["bob"]

    await bob.channel.untrack()
    await alice.wait_until(lambda: "bob" not in alice.channel.presence_state())
    assert [(key, [m["user"] for m in metas]) for key, metas in alice.leaves] == [("bob", ["bob"])]

    await bob.channel.track({"user": "bob", "again": True})
    await alice.wait_until(lambda: "bob" in alice.channel.presence_state())
    await bob.client.realtime.close()  # a dropped socket leaves
    await alice.wait_until(lambda: len(alice.leaves) == 2)
    assert alice.leaves[1][0] == "bob"
    assert list(alice.channel.presence_state()) == ["alice"]


async def test_a_presence_update_replaces_the_previous_one(
    world: World, py_clients: Clients, topic: str
) -> None:
    alice = await py_clients(world.server, None, topic, presence_key="alice")
    await alice.channel.track({"status": "online"})
    await alice.wait_until(lambda: "alice" in alice.channel.presence_state())
    await alice.channel.track({"status": "away"})
    await alice.wait_until(lambda: len(alice.joins) == 2)
    await alice.barrier()

    assert [m["status"] for m in alice.channel.presence_state()["alice"]] == ["away"]


def metas(payload: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The metas of `key` without their phx_ref (server-made)."""
    found = payload[key]["metas"]
    assert all(isinstance(m.pop("phx_ref"), str) for m in found)
    return list(found)


async def test_presence_frames_carry_the_tracked_payload_and_a_ref(world: World) -> None:
    key = world.server.anon_key
    async with phoenix_socket(world.server.url, key, "2.0.0") as first:
        joined = await first.join("realtime:rt-frames", presence={"key": "k1", "enabled": True})
        state = await first.expect(lambda f: f["event"] == "presence_state")
        ref = await first.push("realtime:rt-frames", "presence",
                               {"type": "presence", "event": "track", "payload": {"u": 1}},
                               join_ref=joined["ref"])  # fmt: skip
        track = await first.reply("realtime:rt-frames", ref)
        diff = await first.expect(lambda f: f["event"] == "presence_diff")

    assert state["raw"][:4] == [joined["ref"], None, "realtime:rt-frames", "presence_state"]
    assert state["payload"] == {}
    assert track["payload"] == {"status": "ok", "response": {}}
    assert diff["payload"]["leaves"] == {}
    assert metas(diff["payload"]["joins"], "k1") == [{"u": 1}]


async def test_a_late_joiner_sees_the_tracked_payload_as_it_was_sent(world: World) -> None:
    key = world.server.anon_key
    async with (
        phoenix_socket(world.server.url, key) as first,
        phoenix_socket(world.server.url, key) as late,
    ):
        joined = await first.join("realtime:rt-late", presence={"key": "k1", "enabled": True})
        track = {"event": "track", "payload": {"u": 1}}  # as supabase-py sends it: no type
        ref = await first.push("realtime:rt-late", "presence", track, join_ref=joined["ref"])
        await first.reply("realtime:rt-late", ref)
        await first.expect(lambda f: f["event"] == "presence_diff")  # the hub has it now
        await late.join("realtime:rt-late", presence={"key": "k2", "enabled": True})
        state = await late.expect(lambda f: f["event"] == "presence_state")

    assert metas(state["payload"], "k1") == [{"u": 1}]
