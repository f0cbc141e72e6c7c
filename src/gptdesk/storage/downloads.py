"""Serving an object's body: headers from its metadata, Range and If-None-Match (pure
helpers, plus the response that streams from the backend)."""

import re
from collections.abc import AsyncIterator, Mapping
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from gptdesk.storage.backends.base import Missing, ObjectStore
from gptdesk.storage.errors import no_such_key

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    """A Range outside the body."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive of a single-range `Range` header, None for the whole body.

    Multiple ranges and malformed headers are ignored (the whole body is sent), as HTTP
    allows; a range starting past the end is Unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        if size == 0:  # a suffix of an empty body: the (empty) body itself
            return None
        length = int(last)
        if length == 0:
            raise Unsatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise Unsatisfiable
    return start, end


def object_headers(row: Mapping[str, Any], download: str | None) -> dict[str, str]:
    """Content-Type, Cache-Control, ETag, Last-Modified (and Content-Disposition)."""
    metadata = row["metadata"] or {}
    headers = {
        "Content-Type": str(metadata.get("mimetype") or "application/octet-stream"),
        "Cache-Control": str(metadata.get("cacheControl") or "no-cache"),
        "ETag": str(metadata.get("eTag") or ""),
        "Last-Modified": format_datetime(row["updated_at"], usegmt=True),
        "Accept-Ranges": "bytes",
    }
    if download is not None:
        filename = download or str(row["name"]).rsplit("/", 1)[-1]
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return headers


async def _primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` with its first chunk read already, so a missing body fails before headers."""
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except Missing:
        raise no_such_key() from None

    async def rest() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return rest()


async def serve(
    store: ObjectStore,
    key: str,
    row: Mapping[str, Any],
    request_headers: Mapping[str, str],
    *,
    head: bool = False,
    download: str | None = None,
) -> Response:
    """The response for a GET (or HEAD) of the object `row` whose body is under `key`."""
    headers = object_headers(row, download)
    size = int((row["metadata"] or {}).get("size") or 0)
    if headers["ETag"] and request_headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    try:
        span = byte_range(request_headers.get("range"), size)
    except Unsatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    status = 200
    start, end = 0, size - 1
    if span is not None:
        start, end = span
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(max(end - start + 1, 0))
    if head:
        return Response(status_code=status, headers=headers)
    body = await _primed(store.read(key, start, end if size else None))
    return StreamingResponse(body, status_code=status, headers=headers)
