"""What the storage tests share: the backend a server keeps bodies in and how to look into
it, official clients per actor, Storage's error shape, raw uploads, and owner-side checks.

Pure helpers only; the fixtures built on them live in tests/storage/conftest.py.
"""

import hashlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from supabase import ClientOptions, create_client

from gptdesk.storage.service import body_key
from tests.conftest import LiveServer, MigratedDatabase
from tests.helpers import owner_query
from tests.rest.world import TEAM_A, TEAM_B, USERS, World

__all__ = ["BUCKET", "TEAM_A", "TEAM_B", "USERS"]

BUCKET = "gpt-desk-files"
MOTO_REGION = "us-east-1"


@dataclass(frozen=True)
class Backend:
    """A server and the store it keeps bodies in: a folder (local) or an S3 bucket (s3)."""

    kind: str
    server: LiveServer
    root: Path | None = None  # <data dir>/storage, for local
    s3: Any = None  # a boto3 client of the moto server, for s3
    s3_bucket: str | None = None

    def bodies(self) -> set[str]:
        """Every body stored: each file under the root (temporary ones too), or S3 key."""
        if self.kind == "local":
            assert self.root is not None
            if not self.root.exists():
                return set()
            return {str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file()}
        return s3_keys(self.s3, str(self.s3_bucket))

    def pending(self) -> list[str]:
        """Writes under way: temporary files (local), unfinished multipart uploads (s3)."""
        if self.kind == "local":
            return sorted(b for b in self.bodies() if b.endswith(".part"))
        return pending_uploads(self.s3, str(self.s3_bucket))


def s3_keys(s3: Any, bucket: str) -> set[str]:
    """Every key of an S3 bucket."""
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def pending_uploads(s3: Any, bucket: str) -> list[str]:
    """Keys of the bucket's multipart uploads neither completed nor aborted."""
    answer = s3.list_multipart_uploads(Bucket=bucket)
    return sorted(upload["Key"] for upload in answer.get("Uploads", []))


def empty_s3_bucket(s3: Any, bucket: str) -> None:
    """Delete every key and abort every pending upload of an S3 bucket."""
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    keys = sorted(s3_keys(s3, bucket))
    for first in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[first : first + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll until `check()` holds (an event to wait for, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout} s")
        time.sleep(0.05)


# ---- actors and clients -------------------------------------------------------------------


def headers(world: World, actor: str, **extra: str) -> dict[str, str]:
    """The headers a client of `actor` sends ('anon', 'service_role' or a world user)."""
    return {**world.headers(actor), **extra}


def storage_for(
    world: World, actor: str, transport: httpx.Client, **extra_headers: str
) -> SyncStorageClient:
    """supabase-py's storage client for `actor`: the user's token as ClientOptions'
    Authorization header, the project key (service_role's for the server) as the key."""
    server = world.server
    key = server.service_role_key if actor == "service_role" else server.anon_key
    given = dict(extra_headers)
    if actor in world.tokens:
        given["Authorization"] = f"Bearer {world.tokens[actor]}"
    options = ClientOptions(headers=given, httpx_client=transport)
    return create_client(server.url, key, options=options).storage


def expect_error(response: httpx.Response, status: str, code: str | None = None) -> dict[str, Any]:
    """Check Storage's error quirk: HTTP 400, the real status as a string in the body."""
    assert response.status_code == 400, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert body["statusCode"] == status, body
    assert isinstance(body["error"], str) and isinstance(body["message"], str), body
    if code is not None:
        assert body["code"] == code, body
    return body


def expect_api_error(caught: pytest.ExceptionInfo[StorageApiError], status: str) -> None:
    """Check what storage3 raised: the status string Storage sent."""
    assert str(caught.value.status) == status, caught.value.to_dict()
    assert isinstance(caught.value.status, str), "statusCode must be sent as a string"


def md5(data: bytes) -> str:
    """The hex MD5 of `data` (what the ETag carries)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# ---- raw uploads ----------------------------------------------------------------------------


def multipart(
    boundary: str,
    *,
    before: dict[str, str] | None = None,
    file: tuple[str, str, str | None, bytes] | None = None,
    after: dict[str, str] | None = None,
    close: bool = True,
) -> bytes:
    """A multipart/form-data body: fields, a file part (field name, filename, content
    type, bytes), more fields, and the closing boundary unless `close` is False."""
    out = bytearray()

    def field(name: str, value: str) -> None:
        out.extend(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        )
        out.extend(value.encode() + b"\r\n")

    for name, value in (before or {}).items():
        field(name, value)
    if file is not None:
        name, filename, kind, data = file
        out.extend(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\n'.encode()
        )
        if kind is not None:
            out.extend(f"Content-Type: {kind}\r\n".encode())
        out.extend(b"\r\n" + data + b"\r\n")
    for name, value in (after or {}).items():
        field(name, value)
    if close:
        out.extend(f"--{boundary}--\r\n".encode())
    return bytes(out)


def open_request(
    url: str, method: str, path: str, request_headers: dict[str, str]
) -> socket.socket:
    """A raw HTTP/1.1 connection with the request line and headers sent (the body to follow)."""
    parts = urlsplit(url)
    conn = socket.create_connection((parts.hostname, parts.port), timeout=30)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in request_headers.items()]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return conn


def read_response(conn: socket.socket) -> bytes:
    """Whatever the server answers until it closes the connection."""
    received = bytearray()
    while chunk := conn.recv(65536):
        received.extend(chunk)
    return bytes(received)


def status_of(raw: bytes) -> int:
    """The status code of a raw HTTP response."""
    return int(raw.split(b" ", 2)[1])


def pattern_bytes(size: int, seed: int = 0) -> bytes:
    """`size` deterministic bytes that are not all alike."""
    block = bytes((i * 31 + seed) % 251 for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


# ---- the database, as the owner sees it ---------------------------------------------------


def object_row(db: MigratedDatabase, bucket: str, name: str) -> dict[str, Any] | None:
    """An object's row (version, owner, metadata …), or None."""
    rows = owner_query(
        db,
        "select id::text, version, owner::text, metadata, user_metadata, updated_at "
        "from storage.objects where bucket_id = $1 and name = $2",
        bucket,
        name,
    )
    if not rows:
        return None
    keys = ("id", "version", "owner", "metadata", "user_metadata", "updated_at")
    row = dict(zip(keys, rows[0], strict=True))
    for key in ("metadata", "user_metadata"):
        row[key] = None if row[key] is None else json.loads(row[key])
    return row


def object_names(db: MigratedDatabase, bucket: str, like: str) -> set[str]:
    """Names of the bucket's objects containing `like`."""
    rows = owner_query(
        db,
        "select name from storage.objects where bucket_id = $1 and strpos(name, $2) > 0",
        bucket,
        like,
    )
    return {row[0] for row in rows}


def body_of(row: dict[str, Any]) -> str:
    """Where the body of an object row is stored."""
    return body_key(str(row["version"]))


def bucket_row(db: MigratedDatabase, bucket: str) -> dict[str, Any] | None:
    """A bucket's row, or None."""
    rows = owner_query(
        db,
        "select id, public, file_size_limit, allowed_mime_types, owner::text "
        "from storage.buckets where id = $1",
        bucket,
    )
    if not rows:
        return None
    keys = ("id", "public", "file_size_limit", "allowed_mime_types", "owner")
    return dict(zip(keys, rows[0], strict=True))


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    """`data` in pieces of `size` bytes."""
    for first in range(0, len(data), size):
        yield data[first : first + size]
