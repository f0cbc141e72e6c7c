"""Bodies as files under a root folder (the default backend).

A write goes to a temporary file in the target's folder and is renamed into place once
complete, so a crash, a client that disconnects or a body over the limit never leaves a
partial file under a real key. File I/O runs in worker threads, a chunk at a time: a 1 GB
body is never held in memory.
"""

import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from gptdesk.storage.backends.base import CHUNK_BYTES, Missing, Stored, TooLarge


class LocalStore:
    """Files under `root`, one per key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} leaves the storage root")
        return path

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], limit: int | None = None
    ) -> Stored:
        """Stream into a temporary file, then rename it to the key's path.

        Chunks are gathered into CHUNK_BYTES blocks; each block is hashed and written in
        worker threads, side by side, so a large body costs few thread hops, hashing adds
        little to the disk's time, and the event loop stays free."""
        target = self._path(key)
        await anyio.to_thread.run_sync(lambda: target.parent.mkdir(parents=True, exist_ok=True))
        temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.part"
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        block = bytearray()
        sink = await anyio.to_thread.run_sync(open, temporary, "wb")

        async def flush(data: bytes) -> None:
            # hashing and writing a block run side by side (each releases the GIL)
            async with anyio.create_task_group() as both:
                both.start_soon(anyio.to_thread.run_sync, digest.update, data)
                both.start_soon(anyio.to_thread.run_sync, sink.write, data)

        try:
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise TooLarge
                    block += chunk
                    if len(block) >= CHUNK_BYTES:
                        await flush(bytes(block))
                        block.clear()
                if block:
                    await flush(bytes(block))
            finally:
                sink.close()  # at once: a cancelled write must not leave its handle open
            await anyio.to_thread.run_sync(os.replace, temporary, target)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: temporary.unlink(missing_ok=True))
            raise
        return Stored(size, digest.hexdigest())

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The file's bytes start..end, a chunk at a time."""
        path = self._path(key)
        try:
            source = await anyio.open_file(path, "rb")
        except FileNotFoundError:
            raise Missing(key) from None
        async with source:
            await source.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                size = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
                chunk = await source.read(size)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    async def delete(self, keys: Sequence[str]) -> None:
        """Unlink the keys' files."""

        def unlink() -> None:
            for key in keys:
                self._path(key).unlink(missing_ok=True)

        await anyio.to_thread.run_sync(unlink)

    async def copy(self, source: str, target: str) -> None:
        """Copy through a temporary file, as a write does."""
        await self.write(target, self.read(source))

    async def close(self) -> None:
        """Nothing to release."""
