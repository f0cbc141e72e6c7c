"""A socket's joined channels and their postgres_changes bindings (state, no I/O)."""

import asyncio
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from gptdesk.realtime.filters import Condition
from gptdesk.realtime.protocol import Frame, encode

EVENTS = frozenset({"INSERT", "UPDATE", "DELETE", "*"})
MAX_QUEUED_FRAMES = 10_000  # a client this far behind is disconnected


@dataclass(eq=False)
class Binding:
    """One postgres_changes subscription of a channel."""

    id: int
    event: str
    schema: str
    table: str | None
    conditions: tuple[Condition, ...]
    channel: "Channel"

    def wants(self, change_type: str) -> bool:
        return self.event in ("*", change_type)


def binding_id(event: str, schema: str, table: str | None, filter_text: str | None) -> int:
    """The id a binding is echoed with: stable for the same parameters, as Realtime's."""
    text = orjson.dumps([event, schema, table, filter_text or None])
    return zlib.crc32(text) & 0x7FFFFFFF


class Outbox:
    """A socket's outgoing frames: queued without blocking the fan-out, written in order by
    the socket's writer task."""

    def __init__(self, vsn: str) -> None:
        self.vsn = vsn
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.overflowed = False

    def push(self, frame: Frame) -> None:
        """Queue `frame`; a client that stopped reading is cut off instead of growing memory."""
        if self.overflowed:
            return
        if self.queue.qsize() >= MAX_QUEUED_FRAMES:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(encode(frame, self.vsn))

    def close(self) -> None:
        """Ask the writer to stop."""
        self.queue.put_nowait(None)


@dataclass(eq=False)
class Channel:
    """A joined topic of one socket."""

    topic: str
    join_ref: str | None
    claims: dict[str, Any]
    outbox: Outbox
    broadcast_self: bool = False
    broadcast_ack: bool = False
    presence_key: str = ""
    bindings: list[Binding] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    expiry: asyncio.TimerHandle | None = None
    tracked: str | None = None  # the phx_ref of this channel's presence, when tracked
    _claims_key: str | None = field(default=None, repr=False)
    _claims_of: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def claims_key(self) -> str:
        """The claims as one string: channels with equal claims share an RLS check."""
        if self._claims_key is None or self._claims_of is not self.claims:
            self._claims_of = self.claims
            self._claims_key = orjson.dumps(self.claims, option=orjson.OPT_SORT_KEYS).decode()
        return self._claims_key

    @property
    def name(self) -> str:
        """The topic without its `realtime:` prefix, as system messages name it."""
        return self.topic.removeprefix("realtime:")

    def push(self, event: str, payload: Any) -> None:
        """Send the channel a server push (ref null)."""
        self.outbox.push(Frame(self.topic, event, payload, None, self.join_ref))

    def system(self, extension: str, status: str, message: str) -> None:
        """A `system` message, with the four keys supabase-py requires."""
        self.push(
            "system",
            {"channel": self.name, "extension": extension, "status": status, "message": message},
        )
