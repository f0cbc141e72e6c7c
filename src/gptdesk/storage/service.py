"""Storage operations: object rows under the caller's RLS, bodies in the backend.

A body is stored under a key of its own (a fresh version per write, `ab/cd/<version>`), so
writing never touches the file a committed row points at: the body is written first, the
row then inserted or replaced in one transaction, and on any failure the new body is
removed — no row without a file, no file left by a failed write. After commit, the body a
replaced or removed row pointed at is deleted. A move only renames the row.

Before a body is read from the client, the row write is tried as the caller and rolled
back, so RLS refuses an upload before a byte of it is stored. The only read past RLS is a
signed-URL download (`signed_object`), after the token was checked.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gptdesk.db.scope import RequestInfo, Scope
from gptdesk.storage import errors, repository
from gptdesk.storage.backends.base import ObjectStore, Stored, TooLarge
from gptdesk.storage.bodies import UploadBody


def body_key(version: str) -> str:
    """Where the body of `version` is stored."""
    return f"{version[:2]}/{version[2:4]}/{version}"


def mime_allowed(mime: str, allowed: list[str] | None) -> bool:
    """Whether the bucket's `allowed_mime_types` (None: any; 'image/*' wildcards) admit it."""
    if not allowed:
        return True
    kind = mime.split(";", 1)[0].strip().lower()
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern == kind or (pattern.endswith("/*") and kind.startswith(pattern[:-1])):
            return True
    return False


def database_error(error: asyncpg.PostgresError) -> errors.StorageError:
    """The storage error for a refused statement."""
    state = getattr(error, "sqlstate", "")
    if state == "42501":
        return errors.access_denied()
    if state == "23505":
        return errors.duplicate()
    if state == "23503":
        return errors.StorageError(404, "NoSuchBucket", "Bucket not found", "Bucket not found")
    if state in ("23514", "22P02", "22023", "22001"):
        return errors.invalid_request(getattr(error, "message", str(error)))
    raise error


def object_metadata(stored_size: int, md5: str, mime: str, cache_control: str) -> dict[str, Any]:
    """The metadata Storage keeps for a body (and serves as headers)."""
    return {
        "eTag": f'"{md5}"',
        "size": stored_size,
        "mimetype": mime,
        "cacheControl": cache_control,
        "lastModified": datetime.now(UTC).isoformat(),
        "contentLength": stored_size,
        "httpStatusCode": 200,
    }


@dataclass(frozen=True)
class Uploaded:
    """A stored object: its row id and the key clients see (`bucket/name`)."""

    id: str
    key: str
    extra: Any = None  # what the upload's `also` returned


class StorageService:
    """Buckets and objects for callers, as their claims allow."""

    def __init__(self, scope: Scope, store: ObjectStore, max_file_bytes: int) -> None:
        self.scope = scope
        self.store = store
        self.max_file_bytes = max_file_bytes

    async def upload(
        self,
        claims: dict[str, Any],
        request: RequestInfo,
        *,
        bucket_id: str,
        name: str,
        upsert: bool,
        content_length: int | None,
        read_body: Callable[[], Awaitable[UploadBody]],
        also: Callable[[asyncpg.Connection, str, UploadBody, Stored], Awaitable[Any]] | None = None,
    ) -> Uploaded:
        """Store the body `read_body` gives as `bucket_id/name`, as the caller; `also` runs
        in the transaction that records the object (with its id), so both happen or neither."""
        owner = claims.get("sub")
        async with self.scope.as_claims(claims, request=request) as conn:
            bucket = await repository.bucket(conn, bucket_id)
            if bucket is None:
                raise errors.no_such_bucket()
            await self._try_put(conn, bucket_id, name, owner, upsert)
        limit = min(bucket["file_size_limit"] or self.max_file_bytes, self.max_file_bytes)
        raw = not request.headers.get("content-type", "").lower().startswith("multipart/")
        if raw and content_length is not None and content_length > limit:
            raise errors.entity_too_large()
        body = await read_body()
        if not mime_allowed(body.content_type, bucket["allowed_mime_types"]):
            raise errors.invalid_mime_type(body.content_type)
        version = uuid.uuid4().hex
        key = body_key(version)
        try:
            stored = await self.store.write(key, body.chunks, limit)
        except TooLarge:
            raise errors.entity_too_large() from None
        try:
            if not mime_allowed(body.content_type, bucket["allowed_mime_types"]):
                raise errors.invalid_mime_type(body.content_type)
            metadata = object_metadata(
                stored.size, stored.md5, body.content_type, body.cache_control
            )
            try:
                async with self.scope.as_claims(claims, request=request) as conn:
                    object_id, replaced = await repository.put_object(
                        conn, bucket_id=bucket_id, name=name, owner=owner, metadata=metadata,
                        user_metadata=body.user_metadata, version=version, upsert=upsert,
                    )  # fmt: skip
                    extra = await also(conn, object_id, body, stored) if also else None
            except asyncpg.PostgresError as error:
                raise database_error(error) from None
        except BaseException:
            await self.store.delete([key])
            raise
        if replaced:
            await self.store.delete([body_key(replaced)])
        return Uploaded(object_id, f"{bucket_id}/{name}", extra)

    async def _try_put(
        self, conn: asyncpg.Connection, bucket_id: str, name: str, owner: str | None, upsert: bool
    ) -> None:
        """Try the row write as the caller and roll it back: RLS and duplicates, early."""
        await conn.execute("savepoint trial_put")
        try:
            await repository.put_object(
                conn, bucket_id=bucket_id, name=name, owner=owner, metadata={},
                user_metadata=None, version="trial", upsert=upsert,
            )  # fmt: skip
        except asyncpg.PostgresError as error:
            raise database_error(error) from None
        finally:
            await conn.execute("rollback to savepoint trial_put")

    async def check_upload(
        self, claims: dict[str, Any], request: RequestInfo, bucket_id: str, name: str, upsert: bool
    ) -> None:
        """Whether the caller could upload `bucket_id/name` now (for signing an upload URL)."""
        async with self.scope.as_claims(claims, request=request) as conn:
            if await repository.bucket(conn, bucket_id) is None:
                raise errors.no_such_bucket()
            await self._try_put(conn, bucket_id, name, claims.get("sub"), upsert)

    async def visible_object(
        self, claims: dict[str, Any], request: RequestInfo, bucket_id: str, name: str
    ) -> asyncpg.Record:
        """The object's row, as the caller may see it; NoSuchBucket / NoSuchKey."""
        async with self.scope.as_claims(claims, request=request, read_only=True) as conn:
            row = await repository.object_row(conn, bucket_id, name)
            if row is None:
                if await repository.bucket(conn, bucket_id) is None:
                    raise errors.no_such_bucket()
                raise errors.no_such_key()
        return row

    async def signed_object(self, bucket_id: str, name: str) -> asyncpg.Record:
        """THE read past RLS: an object whose signed-URL token the caller has shown."""
        async with self.scope.as_claims({"role": "service_role"}, read_only=True) as conn:
            row = await repository.object_row(conn, bucket_id, name)
        if row is None:
            raise errors.no_such_key()
        return row

    async def remove(
        self, claims: dict[str, Any], request: RequestInfo, bucket_id: str, names: list[str]
    ) -> list[dict[str, Any]]:
        """Remove the named objects the caller may remove; their rows (bodies deleted after)."""
        try:
            async with self.scope.as_claims(claims, request=request) as conn:
                rows = await repository.delete_objects(conn, bucket_id, names)
        except asyncpg.PostgresError as error:
            raise database_error(error) from None
        await self.store.delete([body_key(r["version"]) for r in rows if r["version"]])
        return [dict(r) for r in rows]

    async def empty_bucket(
        self, claims: dict[str, Any], request: RequestInfo, bucket_id: str
    ) -> None:
        """Remove every object of the bucket the caller may remove."""
        async with self.scope.as_claims(claims, request=request) as conn:
            if await repository.bucket(conn, bucket_id) is None:
                raise errors.no_such_bucket()
            versions = await repository.delete_all_objects(conn, bucket_id)
        await self.store.delete([body_key(v) for v in versions])

    async def move(
        self,
        claims: dict[str, Any],
        request: RequestInfo,
        *,
        bucket_id: str,
        source: str,
        target_bucket: str,
        target: str,
    ) -> str:
        """Rename an object (to another bucket too); its id."""
        try:
            async with self.scope.as_claims(claims, request=request) as conn:
                moved = await repository.move_object(conn, bucket_id, source, target_bucket, target)
        except asyncpg.PostgresError as error:
            raise database_error(error) from None
        if moved is None:
            raise errors.no_such_key()
        return moved

    async def copy(
        self,
        claims: dict[str, Any],
        request: RequestInfo,
        *,
        bucket_id: str,
        source: str,
        target_bucket: str,
        target: str,
        upsert: bool = False,
    ) -> Uploaded:
        """Copy an object's body and row to a new name, as the caller."""
        owner = claims.get("sub")
        async with self.scope.as_claims(claims, request=request) as conn:
            row = await repository.object_row(conn, bucket_id, source)
            if row is None:
                raise errors.no_such_key()
            await self._try_put(conn, target_bucket, target, owner, upsert)
        version = uuid.uuid4().hex
        key = body_key(version)
        await self.store.copy(body_key(row["version"]), key)
        try:
            try:
                async with self.scope.as_claims(claims, request=request) as conn:
                    object_id, replaced = await repository.put_object(
                        conn, bucket_id=target_bucket, name=target, owner=owner,
                        metadata=dict(row["metadata"] or {}),
                        user_metadata=row["user_metadata"], version=version, upsert=upsert,
                    )  # fmt: skip
            except asyncpg.PostgresError as error:
                raise database_error(error) from None
        except BaseException:
            await self.store.delete([key])
            raise
        if replaced:
            await self.store.delete([body_key(replaced)])
        return Uploaded(object_id, f"{target_bucket}/{target}")
