"""S3Store against moto's S3 server: one PUT for a small body, a multipart upload for one
over a part (8 MiB), aborted on any failure so neither the key nor an unfinished upload
is left; ranged reads, server-side copies, deletes."""

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gptdesk.storage.backends import create_store
from gptdesk.storage.backends.base import Missing, TooLarge
from gptdesk.storage.backends.s3 import PART_BYTES, S3Store
from tests.storage.helpers import MOTO_REGION, md5, pattern_bytes, pending_uploads, s3_keys

KEY = "ab/cd/abcd0123"
MIB = 1 << 20
LARGE = 20 * MIB + 12345  # three parts: 8 MiB, 8 MiB, the rest


class Broken(Exception):
    """The client went away."""


def pieces(total: int, fail_at: int | None = None) -> Iterator[bytes]:
    """`total` bytes, a MiB at a time, made as they are asked for."""
    for first in range(0, total, MIB):
        if fail_at is not None and first >= fail_at:
            raise Broken
        yield pattern_bytes(min(MIB, total - first), seed=first // MIB)


async def lazy(total: int, fail_at: int | None = None) -> AsyncIterator[bytes]:
    """`pieces` as a request stream."""
    for piece in pieces(total, fail_at):
        yield piece


def digest(total: int) -> str:
    hasher = hashlib.md5(usedforsecurity=False)
    for piece in pieces(total):
        hasher.update(piece)
    return hasher.hexdigest()


async def read(store: S3Store, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start, end)])


async def once(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def store(moto_endpoint: str, s3_bucket: str) -> AsyncIterator[S3Store]:
    made = S3Store(
        bucket=s3_bucket,
        endpoint_url=moto_endpoint,
        region=MOTO_REGION,
        access_key_id="test",
        secret_access_key="test",
    )
    try:
        yield made
    finally:
        await made.close()


def etag(s3: Any, bucket: str, key: str) -> str:
    return str(s3.head_object(Bucket=bucket, Key=key)["ETag"])


def nothing_under(s3: Any, bucket: str) -> None:
    assert s3_keys(s3, bucket) == set()
    assert pending_uploads(s3, bucket) == []


async def test_a_small_body_is_one_put(store: S3Store, s3: Any, s3_bucket: str) -> None:
    data = pattern_bytes(100_000)
    stored = await store.write(KEY, once(data))
    assert (stored.size, stored.md5) == (len(data), md5(data))
    assert etag(s3, s3_bucket, KEY) == f'"{md5(data)}"'  # a single PUT's ETag is its MD5
    assert await read(store, KEY) == data
    assert pending_uploads(s3, s3_bucket) == []


async def test_an_empty_body(store: S3Store) -> None:
    stored = await store.write(KEY, once(b""))
    assert (stored.size, stored.md5) == (0, md5(b""))
    assert await read(store, KEY) == b""


async def test_a_large_body_is_a_multipart_upload(store: S3Store, s3: Any, s3_bucket: str) -> None:
    assert LARGE > 2 * PART_BYTES
    stored = await store.write(KEY, lazy(LARGE))
    assert (stored.size, stored.md5) == (LARGE, digest(LARGE))
    assert etag(s3, s3_bucket, KEY).endswith('-3"')  # a multipart upload of three parts
    assert pending_uploads(s3, s3_bucket) == []
    hasher = hashlib.md5(usedforsecurity=False)
    async for chunk in store.read(KEY):
        hasher.update(chunk)
    assert hasher.hexdigest() == stored.md5


async def test_a_failure_mid_upload_aborts_it(store: S3Store, s3: Any, s3_bucket: str) -> None:
    with pytest.raises(Broken):
        await store.write(KEY, lazy(LARGE, fail_at=12 * MIB))  # after the first part went
    nothing_under(s3, s3_bucket)


async def test_over_the_limit_aborts_and_is_too_large(
    store: S3Store, s3: Any, s3_bucket: str
) -> None:
    with pytest.raises(TooLarge):
        await store.write(KEY, lazy(LARGE), limit=10 * MIB)
    nothing_under(s3, s3_bucket)
    with pytest.raises(TooLarge):
        await store.write(KEY, once(b"x" * 11), limit=10)
    nothing_under(s3, s3_bucket)


async def test_a_failed_write_leaves_an_earlier_body_alone(
    store: S3Store, s3: Any, s3_bucket: str
) -> None:
    await store.write(KEY, once(b"the first body"))
    with pytest.raises(Broken):
        await store.write(KEY, lazy(LARGE, fail_at=9 * MIB))
    assert await read(store, KEY) == b"the first body"
    assert pending_uploads(s3, s3_bucket) == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 0),
        (0, 99),
        (100, None),
        (PART_BYTES - 5, PART_BYTES + 5),
        (LARGE - 1, LARGE - 1),
        (LARGE - 10, None),
    ],
)
async def test_ranges(store: S3Store, start: int, end: int | None) -> None:
    await store.write(KEY, lazy(LARGE))
    expected = b"".join(pieces(LARGE))[start : None if end is None else end + 1]
    assert await read(store, KEY, start, end) == expected


async def test_copy_and_delete(store: S3Store, s3: Any, s3_bucket: str) -> None:
    await store.write(KEY, once(b"original"))
    await store.copy(KEY, "ef/01/ef01")
    await store.delete([KEY, "no/such/key"])
    assert await read(store, "ef/01/ef01") == b"original"
    assert s3_keys(s3, s3_bucket) == {"ef/01/ef01"}
    with pytest.raises(Missing):
        await read(store, KEY)


async def test_a_missing_body(store: S3Store) -> None:
    with pytest.raises(Missing):
        await read(store, "no/such/key")
    with pytest.raises(Missing):
        await read(store, "no/such/key", 0, 10)


async def test_an_unknown_bucket_is_an_error_not_missing(moto_endpoint: str) -> None:
    store = S3Store(
        bucket="gptdesk-no-such-bucket",
        endpoint_url=moto_endpoint,
        region=MOTO_REGION,
        access_key_id="test",
        secret_access_key="test",
    )
    try:
        with pytest.raises(ClientError):
            await store.write(KEY, once(b"x"))
    finally:
        await store.close()


async def test_the_factory(moto_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    store = create_store(
        "s3",
        root=tmp_path,
        s3={
            "bucket": s3_bucket,
            "endpoint_url": moto_endpoint,
            "region": MOTO_REGION,
            "access_key_id": "test",
            "secret_access_key": "test",
        },
    )
    try:
        assert isinstance(store, S3Store) and store.bucket == s3_bucket
        await store.write(KEY, once(b"made by the factory"))
        assert await read(store, KEY) == b"made by the factory"
    finally:
        await store.close()
