"""supabase-py's async Realtime client as the tests drive it: one channel, and what it got.

`subscribe` makes a client the way an app does (`acreate_client` with the user's token in
the headers, then `realtime.set_auth`), registers callbacks for the given postgres_changes
bindings, broadcasts and presence, subscribes and waits for the join's outcome. The
`PySubscriber` records everything the callbacks receive, so a test waits for what it expects
(`wait_until`) and then asserts on the whole record.
"""

import asyncio
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from supabase import AsyncClient, AsyncClientOptions, acreate_client

from realtime import AsyncRealtimeChannel, RealtimeSubscribeStates
from tests.conftest import LiveServer
from tests.realtime.wire import WAIT, rest_broadcast

BARRIER = "barrier"


@dataclass(frozen=True)
class Change:
    """One postgres_changes binding: what the app passes to on_postgres_changes."""

    event: str
    table: str | None = None
    filter: str | None = None
    schema: str = "public"


@dataclass
class PySubscriber:
    """A supabase-py client joined to one channel, and everything its callbacks received."""

    server: LiveServer
    client: AsyncClient
    channel: AsyncRealtimeChannel
    changes: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    broadcasts: list[dict[str, Any]] = field(default_factory=list)
    joins: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    leaves: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    statuses: list[tuple[str, str | None]] = field(default_factory=list)
    system: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, into: list[Any], item: Any) -> None:
        """Keep what a callback received, and wake whoever waits."""
        into.append(item)
        self.arrived.set()

    @property
    def topic(self) -> str:
        return self.channel.topic

    def data(self, binding: int | None = None) -> list[dict[str, Any]]:
        """The `data` of the changes received (by the callback of `binding`, or any)."""
        return [p["data"] for i, p in self.changes if binding is None or i == binding]

    def rows(self, key: str, value: Any) -> list[dict[str, Any]]:
        """The change data about the row whose `key` (in record or old_record) is `value`."""
        return [
            d for d in self.data()
            if (d.get("record") or {}).get(key) == value
            or (d.get("old_record") or {}).get(key) == value
        ]  # fmt: skip

    def user_broadcasts(self) -> list[dict[str, Any]]:
        """The broadcasts received, less the barriers."""
        return [b for b in self.broadcasts if b["event"] != BARRIER]

    async def wait_until(self, condition: Callable[[], object], within: float = WAIT) -> None:
        """Wait for `condition()` to hold; fail with what was received if it never does."""

        async def wait() -> None:
            while not condition():
                self.arrived.clear()
                await self.arrived.wait()

        try:
            await asyncio.wait_for(wait(), within)
        except TimeoutError:
            raise AssertionError(
                f"not received in {within} s: changes={self.changes} "
                f"broadcasts={self.broadcasts} statuses={self.statuses} system={self.system}"
            ) from None

    async def barrier(self) -> None:
        """Wait until everything sent to this channel before now has arrived."""
        marker = secrets.token_hex(8)
        key = self.server.anon_key
        response = await rest_broadcast(self.server.url, key, self.topic, BARRIER, {"m": marker})
        assert response.status_code == 202, response.text
        await self.wait_until(lambda: any(b["payload"] == {"m": marker} for b in self.broadcasts))

    async def close(self) -> None:
        await self.client.realtime.remove_all_channels()


async def subscribe(
    server: LiveServer,
    token: str | None,
    topic: str,
    changes: Sequence[Change] = (),
    *,
    broadcasts: Sequence[str] = (),
    broadcast_self: bool = False,
    ack: bool = False,
    presence_key: str | None = None,
    expect: RealtimeSubscribeStates | None = RealtimeSubscribeStates.SUBSCRIBED,
) -> PySubscriber:
    """A supabase-py client of `token` (None: signed out) joined to `topic`."""
    options = AsyncClientOptions(headers={"Authorization": f"Bearer {token}"} if token else {})
    client = await acreate_client(server.url, server.anon_key, options=options)
    if token:
        await client.realtime.set_auth(token)
    params: Any = {
        "config": {
            "broadcast": {"ack": ack, "self": broadcast_self},
            "presence": {"key": presence_key or "", "enabled": presence_key is not None},
            "private": False,
        }
    }
    channel = client.channel(topic, params)
    subscriber = PySubscriber(server, client, channel)
    for index, change in enumerate(changes):
        channel.on_postgres_changes(
            change.event,
            lambda payload, index=index: subscriber.record(
                subscriber.changes, (index, dict(payload))
            ),
            table=change.table,
            schema=change.schema,
            filter=change.filter,
        )
    for event in (*broadcasts, BARRIER):
        channel.on_broadcast(
            event, lambda payload: subscriber.record(subscriber.broadcasts, dict(payload))
        )
    if presence_key is not None:
        channel.on_presence_join(
            lambda key, _current, new: subscriber.record(subscriber.joins, (key, new))
        )
        channel.on_presence_leave(
            lambda key, _current, left: subscriber.record(subscriber.leaves, (key, left))
        )
        channel.on_presence_sync(subscriber.arrived.set)
    channel.on_system(lambda payload: subscriber.record(subscriber.system, payload.model_dump()))

    def status(state: RealtimeSubscribeStates, error: Exception | None) -> None:
        subscriber.record(subscriber.statuses, (state.value, str(error) if error else None))

    await channel.subscribe(status)
    if expect is not None:
        assert subscriber.statuses and subscriber.statuses[0][0] == expect.value, (
            subscriber.statuses
        )
    return subscriber
