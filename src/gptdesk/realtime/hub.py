"""One worker's realtime fan-out: its channels, the changes, broadcasts and presence that
reach them, and the PostgreSQL LISTEN/NOTIFY that joins the workers.

Every worker listens (one connection) on three channels: `gptdesk_realtime` (row changes,
from the capture trigger), `gptdesk_broadcast` and `gptdesk_presence` (sent by the workers
themselves). So a change made through any worker, and a broadcast or presence event from
a client of any worker or host, reaches the subscribers of every worker — through
PostgreSQL, with no protocol of our own between workers.

Changes are handled in batches (whatever arrived together): matched against the local
bindings (event, filters), then authorized with one call per table for all distinct
claims of the matching channels (changes.authorize), then pushed to each channel with the
ids of its bindings that matched.
"""

import asyncio
import contextlib
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import orjson
import structlog

from gptdesk.realtime import changes as capture
from gptdesk.realtime.channels import Binding, Channel
from gptdesk.realtime.filters import matches

log = structlog.get_logger("gptdesk.realtime")
CHANGES = "gptdesk_realtime"
BROADCASTS = "gptdesk_broadcast"
PRESENCE = "gptdesk_presence"
MAX_NOTIFY_BYTES = 7900
BATCH = 1000


class NotifyTooLarge(Exception):
    """A broadcast or presence payload over what a notification carries."""


class Hub:
    """The worker's subscriptions and its LISTEN connection."""

    def __init__(self, pool: asyncpg.Pool, listen_dsn: str) -> None:
        self.pool = pool
        self.listen_dsn = listen_dsn
        self.worker = uuid.uuid4().hex
        self.by_table: dict[tuple[str, str], set[Binding]] = defaultdict(set)
        self.by_schema: dict[str, set[Binding]] = defaultdict(set)
        self.topics: dict[str, set[Channel]] = defaultdict(set)
        # presence of every worker: topic → key → phx_ref → meta
        self.presence: dict[str, dict[str, dict[str, dict[str, Any]]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        self._columns: dict[str, list[dict[str, str]]] = {}
        self._inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._listener: asyncpg.Connection | None = None
        self._pump: asyncio.Task[None] | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, and ask the other workers for their presence."""
        self._listener = await asyncpg.connect(self.listen_dsn)
        for channel in (CHANGES, BROADCASTS, PRESENCE):
            await self._listener.add_listener(channel, self._heard)
        self._pump = asyncio.create_task(self._run())
        await self._notify(PRESENCE, {"op": "sync", "origin": self.worker})

    async def close(self) -> None:
        """Stop listening."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._listener is not None:
            await self._listener.close()

    def _heard(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        self._inbox.put_nowait((channel, payload))

    async def _run(self) -> None:
        while True:
            batch = [await self._inbox.get()]
            while not self._inbox.empty() and len(batch) < BATCH:
                batch.append(self._inbox.get_nowait())
            try:
                await self._handle(batch)
            except Exception:
                log.exception("realtime batch failed", size=len(batch))

    async def _handle(self, batch: list[tuple[str, str]]) -> None:
        changes: list[str] = []
        for channel, payload in batch:
            if channel == CHANGES:
                changes.append(payload)
                continue
            if changes:  # keep the order of changes relative to other events
                await self._deliver_changes(changes)
                changes = []
            message = orjson.loads(payload)
            if channel == BROADCASTS:
                self._deliver_broadcast(message)
            else:
                await self._apply_presence(message)
        if changes:
            await self._deliver_changes(changes)

    # ---- subscriptions ----------------------------------------------------------------------

    def join(self, channel: Channel) -> None:
        """Start delivering to `channel`."""
        self.topics[channel.topic].add(channel)
        for binding in channel.bindings:
            if binding.table is None:
                self.by_schema[binding.schema].add(binding)
            else:
                self.by_table[(binding.schema, binding.table)].add(binding)

    async def leave(self, channel: Channel) -> None:
        """Stop delivering to `channel` (and untrack its presence)."""
        self.topics[channel.topic].discard(channel)
        if not self.topics[channel.topic]:
            del self.topics[channel.topic]
        for binding in channel.bindings:
            if binding.table is None:
                self.by_schema[binding.schema].discard(binding)
            else:
                self.by_table[(binding.schema, binding.table)].discard(binding)
        if channel.tracked:
            await self.untrack(channel)

    async def published(self, schema: str, table: str | None) -> bool:
        """Whether the table (any table of the schema, when None) publishes its changes."""
        async with self.pool.acquire() as conn:
            found: bool = await conn.fetchval(
                "select exists (select from realtime.published_tables p"
                " join pg_catalog.pg_class c on c.oid = p.relation"
                " join pg_catalog.pg_namespace n on n.oid = c.relnamespace"
                " where n.nspname = $1 and ($2::text is null or c.relname = $2))",
                schema, table,
            )  # fmt: skip
        return found

    async def columns(self, relation: str) -> list[dict[str, str]]:
        """The columns of a table (cached per worker)."""
        found = self._columns.get(relation)
        if found is None:
            async with self.pool.acquire() as conn:
                found = self._columns[relation] = await capture.columns_of(conn, relation)
        return found

    # ---- changes ----------------------------------------------------------------------------

    async def _deliver_changes(self, payloads: list[str]) -> None:
        """Match, authorize (one call per table), then push in commit order."""
        async with self.pool.acquire() as conn:
            parsed = [await capture.read_notification(conn, p) for p in payloads]
            matched: list[tuple[capture.Change, list[Binding], list[dict[str, str]]]] = []
            for change in parsed:
                hit, columns = await self._matching(change)
                matched.append((change, hit, columns))
            by_relation: dict[str, list[int]] = defaultdict(list)
            for index, (change, hit, _) in enumerate(matched):
                if hit:
                    by_relation[change.relation].append(index)
            allowed: dict[int, set[str]] = {}  # change index → claims keys that may see it
            for relation, indexes in by_relation.items():
                distinct: dict[str, int] = {}
                claims_list: list[dict[str, Any]] = []
                for index in indexes:
                    for binding in matched[index][1]:
                        key = binding.channel.claims_key
                        if key not in distinct:
                            distinct[key] = len(claims_list)
                            claims_list.append(binding.channel.claims)
                changed = [matched[i][0] for i in indexes]
                visible = await capture.authorize(conn, relation, changed, claims_list)
                keys = list(distinct)
                for claims_index, position in visible:
                    allowed.setdefault(indexes[position], set()).add(keys[claims_index])
        for index, (change, hit, columns) in enumerate(matched):
            seen = allowed.get(index)
            if not seen:
                continue
            ids: dict[Channel, list[int]] = defaultdict(list)
            for binding in hit:
                if binding.channel.claims_key in seen:
                    ids[binding.channel].append(binding.id)
            # serialized once, shared by every channel's frame
            data = orjson.Fragment(orjson.dumps(_data(change, columns)))
            for channel, channel_ids in ids.items():
                channel.push("postgres_changes", {"ids": channel_ids, "data": data})

    async def _matching(self, change: capture.Change) -> tuple[list[Binding], list[dict[str, str]]]:
        """The local bindings whose event and filters `change` matches, and its columns."""
        candidates = self.by_table.get((change.schema, change.table), set()) | self.by_schema.get(
            change.schema, set()
        )
        if not candidates:
            return [], []
        columns = await self.columns(change.relation)
        types = {c["name"]: c["type"] for c in columns}
        row = change.full_old if change.type == "DELETE" else change.record
        hit = [b for b in candidates if b.wants(change.type) and matches(b.conditions, row, types)]
        return hit, columns

    # ---- broadcast ---------------------------------------------------------------------------

    async def broadcast(
        self, topic: str, event: str, payload: Any, sender: str | None = None
    ) -> None:
        """Send a broadcast to the topic's subscribers on every worker."""
        await self._notify(
            BROADCASTS, {"topic": topic, "event": event, "payload": payload, "sender": sender}
        )

    def _deliver_broadcast(self, message: dict[str, Any]) -> None:
        body = {"type": "broadcast", "event": message["event"], "payload": message["payload"]}
        for channel in self.topics.get(message["topic"], ()):
            if channel.id == message.get("sender") and not channel.broadcast_self:
                continue
            channel.push("broadcast", body)

    # ---- presence ------------------------------------------------------------------------------

    def presence_state(self, topic: str) -> dict[str, Any]:
        """The topic's presence on every worker: key → {"metas": [...]}."""
        return {
            key: {"metas": [{**_shown(meta), "phx_ref": ref} for ref, meta in metas.items()]}
            for key, metas in self.presence.get(topic, {}).items()
            if metas
        }

    async def track(self, channel: Channel, meta: dict[str, Any]) -> None:
        """Track (or update) the channel's presence."""
        if channel.tracked:
            await self.untrack(channel)
        channel.tracked = uuid.uuid4().hex[:20]
        await self._notify(
            PRESENCE,
            {"op": "join", "topic": channel.topic, "key": channel.presence_key,
             "ref": channel.tracked, "meta": meta, "origin": self.worker},
        )  # fmt: skip

    async def untrack(self, channel: Channel) -> None:
        """Stop tracking the channel's presence."""
        if not channel.tracked:
            return
        ref, channel.tracked = channel.tracked, None
        await self._notify(
            PRESENCE,
            {"op": "leave", "topic": channel.topic, "key": channel.presence_key, "ref": ref,
             "origin": self.worker},
        )  # fmt: skip

    async def _apply_presence(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "sync":
            if message.get("origin") != self.worker:
                await self._announce_local_presence()
            return
        topic, key, ref = message["topic"], message["key"], message["ref"]
        metas = self.presence[topic][key]
        if op == "join":
            if ref in metas:
                return  # a re-announcement this worker has seen
            meta = {**message["meta"], "origin": message["origin"]}
            metas[ref] = meta
            diff = {"joins": {key: {"metas": [{**message["meta"], "phx_ref": ref}]}}, "leaves": {}}
        else:
            meta = metas.pop(ref, None)
            if not metas:
                self.presence[topic].pop(key, None)
            if meta is None:
                return
            diff = {"joins": {}, "leaves": {key: {"metas": [{**_shown(meta), "phx_ref": ref}]}}}
        for channel in self.topics.get(topic, ()):
            channel.push("presence_diff", diff)

    async def _announce_local_presence(self) -> None:
        for channels in list(self.topics.values()):
            for channel in list(channels):
                if channel.tracked:
                    meta = self.presence[channel.topic][channel.presence_key].get(channel.tracked)
                    if meta is not None:
                        await self._notify(
                            PRESENCE,
                            {"op": "join", "topic": channel.topic, "key": channel.presence_key,
                             "ref": channel.tracked,
                             "meta": _shown(meta),
                             "origin": self.worker},
                        )  # fmt: skip

    async def _notify(self, channel: str, message: dict[str, Any]) -> None:
        text = orjson.dumps(message).decode()
        if len(text.encode()) > MAX_NOTIFY_BYTES:
            raise NotifyTooLarge(f"the message is larger than {MAX_NOTIFY_BYTES} bytes")
        async with self.pool.acquire() as conn:
            await conn.execute("select pg_notify($1, $2)", channel, text)


def _shown(meta: dict[str, Any]) -> dict[str, Any]:
    """A presence meta as clients see it (without the worker that holds it)."""
    return {k: v for k, v in meta.items() if k != "origin"}


def _data(change: capture.Change, columns: list[dict[str, str]]) -> dict[str, Any]:
    """The `data` of a postgres_changes push, as the clients parse it."""
    data: dict[str, Any] = {
        "schema": change.schema,
        "table": change.table,
        "commit_timestamp": change.commit_timestamp,
        "type": change.type,
        "columns": columns,
        "errors": None,
    }
    if change.type != "DELETE":
        data["record"] = change.record
    if change.type != "INSERT":
        data["old_record"] = change.old_record or {}
    return data
