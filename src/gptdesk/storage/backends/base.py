"""The interface every storage backend offers: bodies in and out as streams of bytes.

Keys are opaque to the backend (the service makes them: `<bucket>/<version>`). A write
either stores the whole body under its key or leaves nothing there; a body over `limit`
bytes is refused with TooLarge, and a failed or abandoned write (the client went away)
leaves no file.
"""

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

CHUNK_BYTES = 1 << 20


class TooLarge(Exception):
    """The body went over the write's limit; nothing was stored."""


class Missing(Exception):
    """No body is stored under the key."""


@dataclass(frozen=True)
class Stored:
    """What a write stored: its size and MD5 (hex), the ETag clients see."""

    size: int
    md5: str


class ObjectStore(Protocol):
    """Object bodies by key."""

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], limit: int | None = None
    ) -> Stored:
        """Store the body `chunks` yields under `key`, whole or not at all."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The body under `key` from byte `start` to `end` (inclusive), in chunks."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove the bodies under `keys` (missing ones are ignored)."""
        ...

    async def copy(self, source: str, target: str) -> None:
        """Store a copy of the body under `source` under `target`."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
