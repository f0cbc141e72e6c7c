"""The upload body parser (pure): raw bodies, and multipart forms fed in tiny chunks — fields
before and after the file part, a file part with an empty name, file bytes that look like a
boundary, forms cut short."""

from collections.abc import AsyncIterator

import pytest

from gptdesk.storage.bodies import MAX_FIELD_BYTES, UploadBody, form_body, raw_body, upload_body
from gptdesk.storage.errors import StorageError
from tests.storage.helpers import chunks_of, multipart

BOUNDARY = "----py-boundary-0d1e"
FORM = f"multipart/form-data; boundary={BOUNDARY}"
# all byte values, and near-boundaries that must not end the part
AWKWARD = bytes(range(256)) + f"\r\n--{BOUNDARY[:-1]}\r\n--{BOUNDARY}x".encode() + b"\r\n\r\n--"


async def stream(data: bytes, size: int) -> AsyncIterator[bytes]:
    """`data` as a request stream of `size`-byte chunks."""
    for chunk in chunks_of(data, size):
        yield chunk


async def read_all(upload: UploadBody) -> bytes:
    """The whole file of an upload."""
    return b"".join([chunk async for chunk in upload.chunks])


@pytest.mark.parametrize("size", [1, 3, 7, 64, 100_000])
async def test_a_form_as_supabase_py_sends_it(size: int) -> None:
    body = multipart(
        BOUNDARY,
        before={"cacheControl": "3600", "metadata": '{"owner": "me", "n": 1}'},
        file=("file", "report.pdf", "application/pdf", AWKWARD * 3),
        after={"gpt_id": "g-1", "note": "after the file"},
    )
    upload = await upload_body({"content-type": FORM}, stream(body, size))
    assert upload.content_type == "application/pdf"
    assert upload.cache_control == "max-age=3600"
    assert upload.user_metadata == {"owner": "me", "n": 1}
    assert upload.filename == "report.pdf"
    assert await read_all(upload) == AWKWARD * 3
    assert upload.fields["gpt_id"] == "g-1"  # read once the file was
    assert upload.fields["note"] == "after the file"


@pytest.mark.parametrize("size", [1, 5])
async def test_a_file_part_with_an_empty_name_as_supabase_js_sends_it(size: int) -> None:
    body = multipart(
        BOUNDARY, before={"cacheControl": "60"}, file=("", "blob", "image/png", b"\x89PNG")
    )
    upload = await form_body(FORM, stream(body, size))
    assert upload.filename == "blob"
    assert upload.content_type == "image/png"
    assert upload.cache_control == "max-age=60"
    assert await read_all(upload) == b"\x89PNG"


async def test_defaults_of_a_form() -> None:
    body = multipart(BOUNDARY, file=("file", "x", None, b"x"))
    upload = await form_body(FORM, stream(body, 2))
    assert upload.content_type == "text/plain;charset=UTF-8"
    assert upload.cache_control == "no-cache"
    assert upload.user_metadata is None
    assert await read_all(upload) == b"x"


async def test_a_content_type_field_wins_over_the_parts() -> None:
    body = multipart(
        BOUNDARY, before={"contentType": "text/csv"}, file=("file", "x.csv", "text/plain", b"a,b")
    )
    upload = await form_body(FORM, stream(body, 4))
    assert upload.content_type == "text/csv"


async def test_the_first_file_part_is_the_body() -> None:
    first = multipart(BOUNDARY, file=("file", "one.txt", "text/plain", b"one"), close=False)
    second = multipart(BOUNDARY, file=("other", "two.txt", "text/plain", b"two"))
    upload = await form_body(FORM, stream(first + second, 3))
    assert upload.filename == "one.txt"
    assert await read_all(upload) == b"one"


async def test_an_empty_file() -> None:
    upload = await form_body(FORM, stream(multipart(BOUNDARY, file=("file", "e", None, b"")), 1))
    assert await read_all(upload) == b""


@pytest.mark.parametrize("size", [1, 9])
async def test_a_form_that_ends_inside_the_file(size: int) -> None:
    body = multipart(BOUNDARY, file=("file", "x", "text/plain", b"z" * 500))
    upload = await form_body(FORM, stream(body[:-200], size))
    with pytest.raises(StorageError) as caught:
        await read_all(upload)
    assert caught.value.code == "InvalidRequest"
    assert "before the file was complete" in caught.value.message


async def test_a_form_that_ends_after_the_file_but_before_its_closing_boundary() -> None:
    body = multipart(BOUNDARY, file=("file", "x", "text/plain", b"z" * 50), after={"a": "b"})
    cut = body[: body.rindex(b'name="a"')]  # the next part begun, never finished
    upload = await form_body(FORM, stream(cut, 4))
    with pytest.raises(StorageError) as caught:
        await read_all(upload)
    assert "before the form was complete" in caught.value.message


async def test_a_form_that_ends_before_any_file() -> None:
    body = multipart(BOUNDARY, before={"cacheControl": "3600"}, close=False)
    with pytest.raises(StorageError) as caught:
        await form_body(FORM, stream(body, 2))
    assert caught.value.message == "the form has no file part"


async def test_a_form_without_a_file_part() -> None:
    with pytest.raises(StorageError) as caught:
        await form_body(FORM, stream(multipart(BOUNDARY, before={"a": "b"}), 3))
    assert caught.value.message == "the form has no file part"


async def test_a_form_without_a_boundary() -> None:
    with pytest.raises(StorageError) as caught:
        await form_body("multipart/form-data", stream(b"", 1))
    assert caught.value.code == "InvalidRequest"


@pytest.mark.parametrize("metadata", ["[1, 2]", "{not json", '"text"'])
async def test_metadata_must_be_a_json_object(metadata: str) -> None:
    body = multipart(BOUNDARY, before={"metadata": metadata}, file=("file", "x", None, b"x"))
    with pytest.raises(StorageError) as caught:
        await form_body(FORM, stream(body, 5))
    assert caught.value.message == "metadata must be a JSON object"


async def test_a_field_over_the_cap() -> None:
    body = multipart(
        BOUNDARY, before={"metadata": "x" * (MAX_FIELD_BYTES + 1)}, file=("file", "x", None, b"x")
    )
    with pytest.raises(StorageError) as caught:
        await form_body(FORM, stream(body, 4096))
    assert "too large" in caught.value.message


async def test_a_raw_body() -> None:
    upload = raw_body(
        {"content-type": "image/png", "cache-control": "max-age=3600"}, stream(AWKWARD, 10)
    )
    assert (upload.content_type, upload.cache_control) == ("image/png", "max-age=3600")
    assert upload.user_metadata is None and upload.filename is None
    assert await read_all(upload) == AWKWARD


async def test_a_raw_body_without_headers() -> None:
    upload = await upload_body({}, stream(b"abc", 1))
    assert (upload.content_type, upload.cache_control) == ("application/octet-stream", "no-cache")
    assert await read_all(upload) == b"abc"


async def test_the_content_type_picks_the_parser() -> None:
    form = multipart(BOUNDARY, file=("file", "x", "text/plain", b"body"))
    kind = f"Multipart/Form-Data; boundary={BOUNDARY}"
    upload = await upload_body({"content-type": kind}, stream(form, 8))
    assert await read_all(upload) == b"body"
