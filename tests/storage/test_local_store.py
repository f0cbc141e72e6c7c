"""LocalStore: bodies as files under a root — written whole or not at all (a failing
stream, a body over the limit, a cancelled write leave no file, not even a temporary one),
read by range, copied, deleted — and no key reaches outside the root."""

import gc
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from gptdesk.storage.backends import create_store
from gptdesk.storage.backends.base import Missing, TooLarge
from gptdesk.storage.backends.local import LocalStore
from tests.storage.helpers import chunks_of, md5, pattern_bytes

KEY = "ab/cd/abcd0123"


class Broken(Exception):
    """The client went away."""


async def stream(
    data: bytes, size: int = 1000, fail_after: int | None = None
) -> AsyncIterator[bytes]:
    """`data` in chunks; raise Broken after `fail_after` chunks."""
    for n, chunk in enumerate(chunks_of(data, size)):
        if fail_after is not None and n == fail_after:
            raise Broken
        yield chunk


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def read(store: LocalStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start, end)])


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "storage")


async def test_write_and_read(store: LocalStore) -> None:
    data = pattern_bytes(3 << 20)  # more than a read chunk
    stored = await store.write(KEY, stream(data, 65536))
    assert (stored.size, stored.md5) == (len(data), md5(data))
    assert files_under(store.root) == [store.root / KEY]
    assert await read(store, KEY) == data


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 0), (0, 9), (10, 99), (2_000_000, None), (3_145_727, 3_145_727), (5, 4_000_000)],
)
async def test_ranges(store: LocalStore, start: int, end: int | None) -> None:
    data = pattern_bytes(3 << 20, seed=1)
    await store.write(KEY, stream(data, 1 << 20))
    assert await read(store, KEY, start, end) == data[start : None if end is None else end + 1]


async def test_a_failing_stream_leaves_no_file(store: LocalStore) -> None:
    with pytest.raises(Broken):
        await store.write(KEY, stream(pattern_bytes(10_000), fail_after=5))
    assert files_under(store.root) == []


async def test_a_failed_write_leaves_an_earlier_body_alone(store: LocalStore) -> None:
    await store.write(KEY, stream(b"the first body"))
    with pytest.raises(Broken):
        await store.write(KEY, stream(pattern_bytes(10_000), fail_after=3))
    assert await read(store, KEY) == b"the first body"
    assert files_under(store.root) == [store.root / KEY]


async def test_over_the_limit_is_too_large_and_leaves_no_file(store: LocalStore) -> None:
    with pytest.raises(TooLarge):
        await store.write(KEY, stream(b"x" * 1001, 100), limit=1000)
    assert files_under(store.root) == []
    stored = await store.write(KEY, stream(b"x" * 1000, 100), limit=1000)
    assert stored.size == 1000


async def _cancel_a_write(store: LocalStore) -> None:
    """Start a write, cancel it midway, and collect what it left to the garbage collector."""
    started = anyio.Event()

    async def endless() -> AsyncIterator[bytes]:
        yield b"x" * 100
        started.set()
        await anyio.sleep_forever()
        yield b""  # pragma: no cover

    async with anyio.create_task_group() as group:
        group.start_soon(store.write, KEY, endless())
        await started.wait()
        group.cancel_scope.cancel()
    gc.collect()


async def test_a_cancelled_write_leaves_no_file(store: LocalStore) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # see the next test
        await _cancel_a_write(store)
    assert files_under(store.root) == []


async def test_a_cancelled_write_closes_its_file(store: LocalStore) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        await _cancel_a_write(store)
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_an_empty_body(store: LocalStore) -> None:
    stored = await store.write(KEY, stream(b""))
    assert (stored.size, stored.md5) == (0, md5(b""))
    assert await read(store, KEY) == b""


async def test_missing_bodies(store: LocalStore) -> None:
    with pytest.raises(Missing):
        await read(store, "no/such/key")
    await store.delete(["no/such/key"])  # ignored


async def test_copy_and_delete(store: LocalStore) -> None:
    await store.write(KEY, stream(b"original"))
    await store.copy(KEY, "ef/01/ef01")
    await store.delete([KEY])
    assert await read(store, "ef/01/ef01") == b"original"
    assert files_under(store.root) == [store.root / "ef/01/ef01"]


@pytest.mark.parametrize("key", ["../outside", "a/../../outside", "/etc/passwd"])
async def test_no_key_leaves_the_root(store: LocalStore, key: str) -> None:
    with pytest.raises(ValueError, match="leaves the storage root"):
        await store.write(key, stream(b"x"))
    with pytest.raises(ValueError, match="leaves the storage root"):
        await store.delete([key])
    assert not (store.root.parent / "outside").exists()


def test_the_factory(tmp_path: Path) -> None:
    store = create_store("local", root=tmp_path)
    assert isinstance(store, LocalStore) and store.root == tmp_path
    with pytest.raises(ValueError, match="unknown storage backend"):
        create_store("ftp", root=tmp_path)
