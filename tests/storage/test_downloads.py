"""byte_range: a Range header against a body's size (pure), and the headers an object row
gives a download."""

from datetime import UTC, datetime

import pytest

from gptdesk.storage.downloads import Unsatisfiable, byte_range, object_headers


@pytest.mark.parametrize(
    ("header", "size", "span"),
    [
        (None, 10, None),
        ("", 10, None),
        ("bytes=0-4", 10, (0, 4)),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=9-", 10, (9, 9)),
        ("bytes=8-100", 10, (8, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-10", 10, (0, 9)),
        ("bytes=-20", 10, (0, 9)),
        (" bytes=2-3 ", 10, (2, 3)),
        ("bytes=-", 10, None),
        ("bytes=a-b", 10, None),
        ("bytes=1-2,4-5", 10, None),  # several ranges: the whole body
        ("items=0-1", 10, None),
        ("bytes 0-1", 10, None),
        ("bytes=0-1048575", 1 << 30, (0, 1048575)),
    ],
)
def test_ranges(header: str | None, size: int, span: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == span


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=10-", 10),
        ("bytes=10-20", 10),
        ("bytes=-0", 10),
        ("bytes=5-4", 10),
        ("bytes=0-", 0),
        ("bytes=0-0", 0),
    ],
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, size)


def test_a_suffix_range_of_an_empty_body() -> None:
    assert byte_range("bytes=-5", 0) is None


def test_object_headers() -> None:
    row = {
        "name": "team/reports/Q3 report.pdf",
        "updated_at": datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC),
        "metadata": {
            "mimetype": "application/pdf",
            "cacheControl": "max-age=60",
            "eTag": '"abc"',
            "size": 3,
        },
    }
    headers = object_headers(row, None)
    assert headers == {
        "Content-Type": "application/pdf",
        "Cache-Control": "max-age=60",
        "ETag": '"abc"',
        "Last-Modified": "Wed, 04 Mar 2026 05:06:07 GMT",
        "Accept-Ranges": "bytes",
    }
    named = object_headers(row, "")
    assert named["Content-Disposition"] == "attachment; filename*=UTF-8''Q3%20report.pdf"
    renamed = object_headers(row, "année.pdf")
    assert renamed["Content-Disposition"] == "attachment; filename*=UTF-8''ann%C3%A9e.pdf"


def test_object_headers_without_metadata() -> None:
    row = {"name": "x", "updated_at": datetime(2026, 1, 1, tzinfo=UTC), "metadata": None}
    headers = object_headers(row, None)
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Cache-Control"] == "no-cache"
