"""An upload's body, streamed: a raw body, or the first file part of a multipart form.

supabase-py always sends `multipart/form-data` (fields `cacheControl`, maybe `metadata`,
then the file part `name="file"`); supabase-js sends a multipart form whose file part has
an empty name, or a raw body with `Content-Type` and `Cache-Control` headers. The first
part with a filename is the body, whatever its name. The parser is fed from the request
stream as the body is written, so nothing is buffered beyond a chunk; fields are small
and capped. A form that ends before its closing boundary is a truncated upload.
"""

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from python_multipart.multipart import MultipartParser, parse_options_header

from gptdesk.storage.errors import invalid_request

MAX_FIELD_BYTES = 64 * 1024


@dataclass
class UploadBody:
    """An upload: its attributes (complete once `chunks` is exhausted) and its bytes."""

    content_type: str
    cache_control: str
    user_metadata: dict[str, Any] | None
    chunks: AsyncIterator[bytes]
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None  # the file part's, for multipart uploads


def _metadata(raw: str | None) -> dict[str, Any] | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_request("metadata must be a JSON object") from None
    if not isinstance(value, dict):
        raise invalid_request("metadata must be a JSON object")
    return value


def raw_body(headers: Mapping[str, str], stream: AsyncIterator[bytes]) -> UploadBody:
    """A raw upload: the body is the request's, its attributes its headers."""
    return UploadBody(
        content_type=headers.get("content-type") or "application/octet-stream",
        cache_control=headers.get("cache-control") or "no-cache",
        user_metadata=None,
        chunks=stream,
    )


class _FormReader:
    """Drives python-multipart over the request stream, handing on the file part's bytes."""

    def __init__(self, boundary: bytes, stream: AsyncIterator[bytes]) -> None:
        self.stream = stream
        self.fields: dict[str, str] = {}
        self.file_type: str | None = None
        self.filename: str | None = None
        self.in_file = False
        self.file_seen = False
        self.file_done = False
        self.finished = False
        self.pending: list[bytes] = []
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._field_name: str | None = None
        self._field_value = bytearray()
        self.parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_part,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def _part_begin(self) -> None:
        self._headers = {}
        self._field_name = None
        self._field_value = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"filename" in options and not self.file_seen:
            self.in_file = self.file_seen = True
            self.filename = options[b"filename"].decode("utf-8", "replace")
            kind = self._headers.get(b"content-type", b"").decode("latin-1").strip()
            self.file_type = kind or None
        else:
            self._field_name = options.get(b"name", b"").decode("utf-8", "replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.pending.append(data[start:end])
        elif self._field_name is not None:
            self._field_value += data[start:end]
            if len(self._field_value) > MAX_FIELD_BYTES:
                raise invalid_request(f"form field {self._field_name!r} is too large")

    def _part_end(self) -> None:
        if self.in_file:
            self.in_file = False
            self.file_done = True
        elif self._field_name:
            self.fields.setdefault(self._field_name, self._field_value.decode("utf-8", "replace"))

    def _end(self) -> None:
        self.finished = True

    async def feed(self) -> bool:
        """Parse the next chunk of the request; False once the request has ended."""
        try:
            chunk = await anext(self.stream)
        except StopAsyncIteration:
            return False
        if chunk:
            self.parser.write(chunk)
        return True

    async def until_file(self) -> None:
        """Read up to the start of the file part."""
        while not self.file_seen:
            if not await self.feed():
                raise invalid_request("the form has no file part")

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file part's bytes, then the rest of the form read (its fields kept)."""
        while True:
            while self.pending:
                yield self.pending.pop(0)
            if self.file_done:
                break
            if not await self.feed():
                raise invalid_request("the upload ended before the file was complete")
        while not self.finished:
            if not await self.feed():
                raise invalid_request("the upload ended before the form was complete")


async def form_body(content_type: str, stream: AsyncIterator[bytes]) -> UploadBody:
    """A multipart upload, read up to its file part (the rest streams with `chunks`)."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise invalid_request("multipart/form-data needs a boundary")
    reader = _FormReader(boundary, stream)
    await reader.until_file()
    fields = reader.fields
    cache = fields.get("cacheControl")
    upload = UploadBody(
        content_type=fields.get("contentType") or reader.file_type or "text/plain;charset=UTF-8",
        cache_control=f"max-age={cache}" if cache else "no-cache",
        user_metadata=_metadata(fields.get("metadata")),
        chunks=reader.file_chunks(),
        fields=fields,
        filename=reader.filename,
    )
    return upload


async def upload_body(headers: Mapping[str, str], stream: AsyncIterator[bytes]) -> UploadBody:
    """The upload a request carries, raw or multipart."""
    content_type = headers.get("content-type") or ""
    if content_type.lower().startswith("multipart/form-data"):
        return await form_body(content_type, stream)
    return raw_body(headers, stream)
