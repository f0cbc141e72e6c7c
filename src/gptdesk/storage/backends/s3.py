"""Bodies as objects of an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, moto …).

boto3 calls run in worker threads. A body is sent as one PUT when it fits in a part, else
as a multipart upload of PART_BYTES parts (only one part is held in memory), aborted on
any failure so nothing is left under the key; reads stream the GET's body (with a Range
header for ranges).
"""

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any

import anyio
import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from gptdesk.storage.backends.base import CHUNK_BYTES, Missing, Stored, TooLarge

PART_BYTES = 8 << 20  # S3's minimum part is 5 MiB
_DELETE_BATCH = 1000


class S3Store:
    """Keys as objects of one S3 bucket."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32),
        )

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], limit: int | None = None
    ) -> Stored:
        """One PUT for a small body, a multipart upload for a large one."""
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        part = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise TooLarge
                digest.update(chunk)
                part += chunk
                if len(part) >= PART_BYTES:
                    if upload_id is None:
                        created = await self._call(
                            "create_multipart_upload", Bucket=self.bucket, Key=key
                        )
                        upload_id = str(created["UploadId"])
                    parts.append(await self._part(key, upload_id, len(parts) + 1, bytes(part)))
                    part.clear()
            if upload_id is None:
                await self._call("put_object", Bucket=self.bucket, Key=key, Body=bytes(part))
            else:
                if part:
                    parts.append(await self._part(key, upload_id, len(parts) + 1, bytes(part)))
                await self._call(
                    "complete_multipart_upload", Bucket=self.bucket, Key=key,
                    UploadId=upload_id, MultipartUpload={"Parts": parts},
                )  # fmt: skip
        except BaseException:
            if upload_id is not None:
                with anyio.CancelScope(shield=True):
                    await self._call(
                        "abort_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
            raise
        return Stored(size, digest.hexdigest())

    async def _part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        answer = await self._call(
            "upload_part", Bucket=self.bucket, Key=key, UploadId=upload_id,
            PartNumber=number, Body=body,
        )  # fmt: skip
        return {"PartNumber": number, "ETag": answer["ETag"]}

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The object's bytes start..end, streamed."""
        extra = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            answer = await self._call("get_object", Bucket=self.bucket, Key=key, **extra)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise Missing(key) from None
            raise
        body = answer["Body"]
        try:
            while chunk := await anyio.to_thread.run_sync(body.read, CHUNK_BYTES):
                yield chunk
        finally:
            body.close()

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete in batches of a thousand."""
        for first in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[first : first + _DELETE_BATCH]]
            await self._call(
                "delete_objects", Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )

    async def copy(self, source: str, target: str) -> None:
        """A server-side copy (managed: multipart for large objects)."""
        await anyio.to_thread.run_sync(
            lambda: self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target)
        )

    async def close(self) -> None:
        """Close the client's connections."""
        await anyio.to_thread.run_sync(self.client.close)

    async def _call(self, operation: str, **arguments: Any) -> Any:
        method = getattr(self.client, operation)
        return await anyio.to_thread.run_sync(lambda: method(**arguments))
