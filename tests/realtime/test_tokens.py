"""Tokens on a socket: a join needs a valid one, a channel ends when its token expires or
is replaced by one that does not verify, and an `access_token` refresh keeps it going (and
decides what it sees from then on). Short-lived tokens come from the `mint` fixture."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from gptdesk.auth.tokens import mint_access_token
from tests.realtime.conftest import SESSION_A, Mint, Rows
from tests.realtime.pyclient import Change, PySubscriber
from tests.realtime.wire import WAIT, phoenix_socket, rest_broadcast
from tests.rest.world import TEAM_A, USERS, World

Clients = Callable[..., Awaitable[PySubscriber]]
MESSAGES = {"event": "INSERT", "schema": "public", "table": "chat_messages",
            "filter": f"session_id=eq.{SESSION_A}"}  # fmt: skip


def forged_token() -> str:
    """user_a's claims signed with another secret."""
    return mint_access_token(
        secret="not-the-server-secret-" + "y" * 40, issuer="http://test/auth/v1", lifetime=3600,
        user={"id": USERS["user_a"], "email": "user_a@team-a.test", "role": "authenticated",
              "aud": "authenticated"},
        session_id="00000000-0000-4000-8000-000000000000", aal="aal1", amr=[],
    ).token  # fmt: skip


async def test_a_join_with_an_expired_token_is_refused(world: World, mint: Mint) -> None:
    expired = await mint("user_a", lifetime=60, issued=int(time.time()) - 3600)
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        reply = await socket.join("realtime:rt-expired", [MESSAGES], expired)
        await socket.heartbeat()

    assert reply["payload"]["status"] == "error"
    assert reply["payload"]["response"]["reason"].startswith("InvalidJWTToken: ")
    assert socket.matching(lambda f: f["event"] in ("system", "postgres_changes")) == []


async def test_supabase_py_reports_the_refused_join(
    world: World, mint: Mint, py_clients: Clients, topic: str
) -> None:
    expired = await mint("user_a", lifetime=60, issued=int(time.time()) - 3600)
    sub = await py_clients(world.server, expired, topic, [Change(**MESSAGES)], expect=None)
    state, error = sub.statuses[0]
    assert state == "CHANNEL_ERROR"
    assert error is not None and "InvalidJWTToken" in error


async def test_a_forged_join_token_is_refused(world: World) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        reply = await socket.join("realtime:rt-forged", [MESSAGES], forged_token())
    assert reply["payload"]["status"] == "error"
    assert reply["payload"]["response"]["reason"].startswith("InvalidJWTToken: ")


async def test_a_token_that_expires_ends_the_channel(world: World, rows: Rows, mint: Mint) -> None:
    short = await mint("user_a", lifetime=3)
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        joined = await socket.join("realtime:rt-expiring", [MESSAGES], short)
        await socket.join("realtime:rt-fence")  # with the project key, which does not expire
        close = await socket.expect(lambda f: f["event"] == "phx_close")
        await rows.message(SESSION_A)
        await socket.barrier(world.server.url, world.server.anon_key, "realtime:rt-fence")

    assert joined["payload"]["status"] == "ok"
    error = socket.matching(lambda f: f["event"] == "system" and f["payload"]["status"] == "error")
    assert len(error) == 1
    assert error[0]["ref"] is None
    assert error[0]["payload"]["extension"] == "system"
    assert error[0]["payload"]["channel"] == "rt-expiring"
    assert "expired" in error[0]["payload"]["message"].lower()
    assert socket.frames.index(error[0]) < socket.frames.index(close)
    assert close["topic"] == "realtime:rt-expiring" and close["payload"] == {}
    assert socket.matching(lambda f: f["event"] == "postgres_changes") == []


async def test_supabase_py_sees_the_expired_channel_error_then_close(
    world: World, mint: Mint, py_clients: Clients, topic: str
) -> None:
    short = await mint("user_a", lifetime=3)
    sub = await py_clients(world.server, short, topic, [Change(**MESSAGES)])
    await sub.wait_until(lambda: any(state == "CLOSED" for state, _ in sub.statuses))

    states = [state for state, _ in sub.statuses]
    assert states[:3] == ["SUBSCRIBED", "CHANNEL_ERROR", "CLOSED"], sub.statuses
    assert "expired" in (sub.statuses[1][1] or "").lower()


async def test_a_refreshed_token_keeps_the_channel_past_the_old_expiry(
    world: World, rows: Rows, mint: Mint, py_clients: Clients, topic: str
) -> None:
    short = await mint("user_a", lifetime=3)
    expires = time.time() + 3
    sub = await py_clients(world.server, short, topic, [Change(**MESSAGES)])
    await sub.client.realtime.set_auth(await mint("user_a", lifetime=3600))
    await asyncio.sleep(max(expires - time.time(), 0) + 2)  # past the first token's expiry
    message = await rows.message(SESSION_A)
    await sub.wait_until(lambda: sub.rows("id", message))

    assert [state for state, _ in sub.statuses] == ["SUBSCRIBED"]


async def test_a_forged_access_token_ends_the_channel(world: World, rows: Rows) -> None:
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        joined = await socket.join("realtime:rt-forge", [MESSAGES], world.tokens["user_a"])
        await socket.join("realtime:rt-fence")
        await socket.push("realtime:rt-forge", "access_token", {"access_token": forged_token()},
                          join_ref=joined["ref"])  # fmt: skip
        close = await socket.expect(lambda f: f["event"] == "phx_close")
        await rows.message(SESSION_A)
        await socket.barrier(world.server.url, world.server.anon_key, "realtime:rt-fence")

    error = socket.matching(lambda f: f["event"] == "system" and f["payload"]["status"] == "error")
    assert [e["payload"]["extension"] for e in error] == ["system"]
    assert socket.frames.index(error[0]) < socket.frames.index(close)
    assert socket.matching(lambda f: f["event"] == "postgres_changes") == []


async def test_an_access_token_of_another_user_changes_what_the_channel_sees(
    world: World, rows: Rows
) -> None:
    gpts = {"event": "INSERT", "schema": "public", "table": "gpts",
            "filter": f"team_id=eq.{TEAM_A}"}  # fmt: skip
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        joined = await socket.join("realtime:rt-switch", [gpts], world.tokens["user_a"])
        seen_by_a = await rows.gpt(TEAM_A)
        await socket.expect(lambda f: f["event"] == "postgres_changes")
        refresh = {"access_token": world.tokens["user_b"]}
        await socket.push("realtime:rt-switch", "access_token", refresh, join_ref=joined["ref"])
        await socket.heartbeat()  # the token is applied before the next frame is read
        hidden_from_b = await rows.gpt(TEAM_A)
        public = await rows.gpt(TEAM_A, public=True)
        await socket.expect(
            lambda f: (
                f["event"] == "postgres_changes" and f["payload"]["data"]["record"]["id"] == public
            )
        )

    ids = [f["payload"]["data"]["record"]["id"]
           for f in socket.matching(lambda f: f["event"] == "postgres_changes")]  # fmt: skip
    assert ids == [seen_by_a, public]
    assert hidden_from_b not in ids
    assert socket.matching(lambda f: f["event"] == "phx_close") == []


async def test_the_rest_broadcast_refuses_a_bad_token(world: World, mint: Mint) -> None:
    expired = await mint("user_a", lifetime=60, issued=int(time.time()) - 3600)
    for token in (expired, forged_token()):
        response = await rest_broadcast(
            world.server.url, world.server.anon_key, "rt-any", "e", {}, token=token
        )
        assert response.status_code == 401, response.text
    async with httpx.AsyncClient(timeout=WAIT) as client:
        response = await client.post(
            f"{world.server.url}/realtime/v1/api/broadcast",
            json={"messages": [{"topic": "rt-any", "event": "e", "payload": {}}]},
        )
    assert response.status_code == 401, response.text
