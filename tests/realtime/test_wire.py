"""The socket as raw frames: the upgrade's project-key check, join replies that echo the
bindings, heartbeats, errors for unknown events, leave, and frames the server must ignore
without closing the socket — in vsn 1.0.0 (objects) and 2.0.0 (arrays) alike."""

import json
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect

from tests.realtime.conftest import SESSION_A
from tests.realtime.wire import WAIT, kind3, phoenix_socket, websocket_url
from tests.rest.world import TEAM_A, World

BINDINGS: list[dict[str, Any]] = [
    {"event": "*", "schema": "public", "table": "gpts", "filter": f"team_id=eq.{TEAM_A}"},
    {"event": "INSERT", "schema": "public", "table": "chat_messages",
     "filter": f"session_id=eq.{SESSION_A}"},
    {"event": "UPDATE", "schema": "public", "table": "gpts"},
    {"event": "DELETE", "schema": "public", "table": "gpts", "filter": f"team_id=eq.{TEAM_A}"},
    {"event": "*", "schema": "public"},
]  # fmt: skip


async def refused(url: str) -> tuple[int, Any]:
    """The status and JSON body of a refused upgrade."""
    with pytest.raises(websockets.InvalidStatus) as refusal:
        async with connect(url, open_timeout=WAIT):
            pass
    response = refusal.value.response
    assert response.headers["content-type"].startswith("application/json")
    return response.status_code, json.loads(bytes(response.body or b""))


async def test_an_upgrade_without_a_project_key_is_refused(world: World) -> None:
    assert await refused(websocket_url(world.server.url, None)) == (
        401, {"error": "No API key found in request"},
    )  # fmt: skip


@pytest.mark.parametrize("key", ["not-a-jwt", "forged", "user token"])
async def test_an_upgrade_with_a_bad_project_key_is_refused(world: World, key: str) -> None:
    anon = world.server.anon_key
    apikey = {
        "not-a-jwt": "not-a-jwt",
        "forged": anon[: anon.rindex(".") + 1] + "AAAA" + anon[anon.rindex(".") + 5 :],
        "user token": world.tokens["user_a"],  # a user's token is not a project key
    }[key]
    status, body = await refused(websocket_url(world.server.url, apikey))
    assert status == 401
    assert isinstance(body["error"], str) and body["error"]


async def test_an_upgrade_with_an_unknown_protocol_version_is_refused(world: World) -> None:
    status, body = await refused(websocket_url(world.server.url, world.server.anon_key, "3.0.0"))
    assert status == 400 and "3.0.0" in body["error"]


async def test_the_join_reply_echoes_the_bindings_in_order_with_ids(world: World) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        reply = await socket.join("realtime:rt-echo", BINDINGS, world.tokens["user_a"])
        system = await socket.expect(lambda f: f["event"] == "system")
        again = await socket.join("realtime:rt-echo-2", BINDINGS[::-1], world.tokens["user_a"])

    assert reply["ref"] == reply["join_ref"] and reply["ref"] is not None
    assert reply["payload"]["status"] == "ok"
    echoed = reply["payload"]["response"]["postgres_changes"]
    assert [{k: v for k, v in e.items() if k != "id"} for e in echoed] == BINDINGS
    ids = [e["id"] for e in echoed]
    assert all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    assert len(set(ids)) == len(ids)
    assert [e["id"] for e in again["payload"]["response"]["postgres_changes"]] == ids[::-1]
    assert system == {
        "topic": "realtime:rt-echo", "event": "system", "ref": None, "join_ref": reply["ref"],
        "payload": {"channel": "rt-echo", "extension": "postgres_changes", "status": "ok",
                    "message": "Subscribed to PostgreSQL"},
        "raw": system["raw"],
    }  # fmt: skip


async def test_a_join_without_bindings_echoes_an_empty_list(world: World) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        reply = await socket.join("realtime:rt-empty")
    assert reply["payload"] == {"status": "ok", "response": {"postgres_changes": []}}


async def test_js_frames_are_arrays_both_ways(world: World) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key, "2.0.0") as socket:
        reply = await socket.join("realtime:rt-v2", BINDINGS[:1], world.tokens["user_a"])
        system = await socket.expect(lambda f: f["event"] == "system")

    ref = reply["ref"]
    assert reply["raw"] == [ref, ref, "realtime:rt-v2", "phx_reply", {"status": "ok", "response": {
        "postgres_changes": [{**BINDINGS[0], "id": reply["payload"]["response"][
            "postgres_changes"][0]["id"]}]}}]  # fmt: skip
    assert system["raw"][:4] == [ref, None, "realtime:rt-v2", "system"]


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_a_heartbeat_is_answered_with_its_ref(world: World, vsn: str) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key, vsn) as socket:
        await socket.push("phoenix", "heartbeat", {}, ref="41")
        numbered = await socket.reply("phoenix", "41")
        await socket.push("phoenix", "heartbeat", {}, ref=None)  # as supabase-py sends it
        unnumbered = await socket.reply("phoenix", None)

    for reply in (numbered, unnumbered):
        assert reply["payload"] == {"status": "ok", "response": {}}
    if vsn == "1.0.0":
        assert unnumbered["raw"]["ref"] is None
        assert {"topic", "event", "payload", "ref"} <= set(unnumbered["raw"])
    else:
        assert unnumbered["raw"] == [None, None, "phoenix", "phx_reply",
                                     {"status": "ok", "response": {}}]  # fmt: skip


async def test_an_unknown_event_gets_an_error_reply(world: World) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        await socket.join("realtime:rt-unknown")
        ref = await socket.push("realtime:rt-unknown", "no_such_event", {}, join_ref="1")
        reply = await socket.reply("realtime:rt-unknown", ref)
        unjoined = await socket.push("realtime:rt-elsewhere", "broadcast", {"event": "x"})
        elsewhere = await socket.reply("realtime:rt-elsewhere", unjoined)
        await socket.heartbeat()

    assert reply["payload"]["status"] == "error"
    assert "no_such_event" in reply["payload"]["response"]["reason"]
    assert elsewhere["payload"]["status"] == "error"


async def test_an_unknown_event_on_the_socket_topic_gets_an_error_reply(world: World) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        ref = await socket.push("phoenix", "no_such_event", {})
        await socket.heartbeat()  # answered after whatever the server said to the push
    replies = socket.matching(lambda f: f["event"] == "phx_reply" and f["ref"] == ref)
    assert [r["payload"]["status"] for r in replies] == ["error"]


async def test_leaving_a_channel_is_answered_then_closed(world: World) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        joined = await socket.join("realtime:rt-leave")
        ref = await socket.push("realtime:rt-leave", "phx_leave", {}, join_ref=joined["ref"])
        reply = await socket.reply("realtime:rt-leave", ref)
        close = await socket.expect(lambda f: f["event"] == "phx_close")

    assert reply["payload"] == {"status": "ok", "response": {}}
    assert close["topic"] == "realtime:rt-leave"
    assert socket.frames.index(reply) < socket.frames.index(close)


@pytest.mark.parametrize(
    ("topic", "config", "reason"),
    [
        ("realtime:", {}, "TopicNameRequired"),
        ("room", {}, "TopicNameRequired"),
        ("realtime:rt-private", {"private": True}, "Unauthorized"),
    ],
)
async def test_a_join_the_server_cannot_serve_is_refused(
    world: World, topic: str, config: dict[str, Any], reason: str
) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        reply = await socket.join(topic, **config)
        await socket.heartbeat()
    assert reply["payload"]["status"] == "error"
    assert reply["payload"]["response"]["reason"].startswith(reason + ":")


MALFORMED: list[Any] = [
    "not json",
    "[]",
    '["1", "1", "realtime:x"]',
    '{"event": "phx_join", "payload": {}}',
    '{"topic": 5, "event": "phx_join"}',
    '{"topic": "realtime:x", "event": "phx_join", "ref": {"no": 1}}',
    b"\x00\x01\x02",
    b"\x03\x09",
    kind3("realtime:x", "e", b"{not json"),
    '{"topic": "realtime:x", "event": "phx_join", "ref": "1", "payload": "a string"}',
    '{"topic": "realtime:x", "event": "broadcast", "ref": "1", "payload": [1, 2]}',
    '{"topic": "realtime:x", "event": "phx_join", "ref": "1", "payload": {"config": {'
    '"postgres_changes": [5, {"event": 7, "table": ["x"], "filter": 9}]}}}',
    pytest.param(
        bytes([3, 1, 1, 2, 1, 0, 1]) + b"12\xff\xfee{}",
        id="kind-3 with invalid UTF-8",
    ),
    pytest.param(
        '{"topic": "realtime:x", "event": "phx_join", "ref": "1", "payload": {"config": "x"}}',
        id="join config not an object",
    ),
    pytest.param(
        '{"topic": "realtime:x", "event": "phx_join", "ref": "1", "payload": {"config": '
        '{"broadcast": true, "presence": "x"}}}',
        id="join broadcast config not an object",
    ),
]


@pytest.mark.parametrize("frame", MALFORMED)
async def test_a_malformed_frame_is_ignored_and_the_socket_keeps_serving(
    world: World, frame: Any
) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        await socket.send_raw(frame)
        reply = await socket.heartbeat()
    assert reply["payload"]["status"] == "ok"


async def test_an_access_token_that_is_not_a_string_is_ignored(world: World) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        joined = await socket.join("realtime:rt-token-number")
        token = {"access_token": 5}
        await socket.push("realtime:rt-token-number", "access_token", token, join_ref=joined["ref"])
        reply = await socket.heartbeat()
    assert reply["payload"]["status"] == "ok"


async def test_a_join_to_a_table_that_does_not_publish_gets_a_system_error(world: World) -> None:
    unpublished = [{"event": "*", "schema": "public", "table": "documents"}]
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        reply = await socket.join("realtime:rt-unpublished", unpublished, world.tokens["user_a"])
        system = await socket.expect(lambda f: f["event"] == "system")
        assert (await socket.heartbeat())["payload"]["status"] == "ok"
    assert reply["payload"]["status"] == "ok"
    assert system["payload"]["status"] == "error"
    assert "does not publish" in system["payload"]["message"]


async def test_a_flood_from_one_client_is_refused_and_others_are_served(world: World) -> None:
    async with (
        phoenix_socket(world.server.url, world.server.anon_key) as flooder,
        phoenix_socket(world.server.url, world.server.anon_key) as other,
    ):
        refs = [await flooder.push("phoenix", "heartbeat", {}) for _ in range(400)]
        replies = [await flooder.reply("phoenix", ref) for ref in refs]
        assert (await other.heartbeat())["payload"]["status"] == "ok"
    refused = [r for r in replies if r["payload"]["status"] == "error"]
    assert refused, "400 frames at once must exceed the per-connection limit"
    assert all("ClientRateLimitReached" in r["payload"]["response"]["reason"] for r in refused)
    assert replies[0]["payload"]["status"] == "ok"
