"""A server of two workers: sockets spread over both, and row changes, broadcasts and
presence reach the clients of every worker (each worker's hub hears the others through
PostgreSQL LISTEN/NOTIFY).

Which worker a socket lands on cannot be chosen or seen from outside, so each test opens
SOCKETS clients and requires every one of them to receive: with a single-worker fan-out
that breaks as soon as the sockets do not all share a worker.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from tests.conftest import MigratedDatabase, running_server
from tests.realtime.conftest import SESSION_A, Rows
from tests.realtime.pyclient import Change, PySubscriber
from tests.realtime.wire import WAIT
from tests.rest.world import TEAM_A, World

Clients = Callable[..., Awaitable[PySubscriber]]
SOCKETS = 6


@pytest.fixture(scope="module")
def two_workers(world: World, db: MigratedDatabase) -> Iterator[World]:
    """The world's users, served by a server of two workers."""
    with running_server(db, workers="2") as server:
        yield World(server, world.tokens)


async def many(clients: Clients, world: World, topic: str, **kwargs: object) -> list[PySubscriber]:
    """SOCKETS subscribers, each on its own socket, alternating user_a and its admin."""
    actors = ["user_a", "admin_a"]
    return [
        await clients(world.server, world.tokens[actors[n % 2]], topic, **kwargs)
        for n in range(SOCKETS)
    ]


async def test_a_change_reaches_subscribers_on_every_worker(
    two_workers: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    binding = Change("INSERT", "gpts", f"team_id=eq.{TEAM_A}")
    subs = await many(py_clients, two_workers, topic, changes=[binding])
    by_owner = await rows.gpt()
    async with httpx.AsyncClient(timeout=WAIT) as client:
        response = await client.post(
            f"{two_workers.server.url}/rest/v1/gpts",
            json={"name": "rt made through a worker", "team_id": TEAM_A},
            headers={**two_workers.headers("user_a"), "Prefer": "return=representation"},
        )
    assert response.status_code == 201, response.text
    through_api = response.json()[0]["id"]
    rows.gpts.append(through_api)
    for sub in subs:
        await sub.wait_until(
            lambda sub=sub: sub.rows("id", by_owner) and sub.rows("id", through_api)
        )


async def test_a_chat_message_reaches_only_its_owner_on_every_worker(
    two_workers: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    binding = Change("INSERT", "chat_messages", f"session_id=eq.{SESSION_A}")
    subs = await many(py_clients, two_workers, topic, changes=[binding])
    message = await rows.message(SESSION_A)
    for sub in subs[0::2]:  # user_a's
        await sub.wait_until(lambda sub=sub: sub.rows("id", message))
    for sub in subs[1::2]:  # admin_a may not read user_a's chats
        await sub.barrier()
        assert sub.rows("id", message) == []


async def test_broadcasts_reach_clients_on_every_worker(
    two_workers: World, py_clients: Clients, topic: str
) -> None:
    subs = await many(py_clients, two_workers, topic, broadcasts=["hello"])
    for n, sub in enumerate(subs):
        await sub.channel.send_broadcast("hello", {"from": n})
    await subs[0].channel.http_send("hello", {"from": "rest"})
    everyone = {*range(SOCKETS), "rest"}
    for n, sub in enumerate(subs):
        await sub.wait_until(
            lambda sub=sub, n=n: (
                {b["payload"]["from"] for b in sub.user_broadcasts()} == everyone - {n}
            )
        )


async def test_presence_is_shared_by_every_worker(
    two_workers: World, py_clients: Clients, topic: str
) -> None:
    keys = [f"client-{n}" for n in range(SOCKETS)]
    subs = [await py_clients(two_workers.server, None, topic, presence_key=key) for key in keys]
    await asyncio.gather(
        *(sub.channel.track({"key": key}) for sub, key in zip(subs, keys, strict=True))
    )
    for sub in subs:
        await sub.wait_until(lambda sub=sub: sorted(sub.channel.presence_state()) == keys)

    late = await py_clients(two_workers.server, None, topic, presence_key="late")
    await late.wait_until(lambda: sorted(late.channel.presence_state()) == keys)

    await subs[0].client.realtime.close()
    for sub in [*subs[1:], late]:
        await sub.wait_until(lambda sub=sub: sorted(sub.channel.presence_state()) == keys[1:])
