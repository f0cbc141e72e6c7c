"""Search parameters and cursors, pure: what a query string means, and what is refused."""

import uuid
from datetime import UTC, datetime

import pytest

from gptdesk.api import ApiError
from gptdesk.chat.search import Cursor, decode_cursor, encode_cursor, parse_search


def test_defaults_and_filters() -> None:
    gpt = uuid.uuid4()
    query = parse_search(
        {"q": " travel policy ", "gpt_id": str(gpt), "from": "2026-01-01T00:00:00Z", "limit": "5"}
    )
    assert (query.text, query.gpt_id, query.limit) == ("travel policy", gpt, 5)
    assert query.since == datetime(2026, 1, 1, tzinfo=UTC) and query.until is None


def test_cursors_round_trip() -> None:
    cursor = Cursor(0.0607927, datetime(2026, 11, 24, 12, 0, tzinfo=UTC), uuid.uuid4())
    assert decode_cursor(encode_cursor(cursor)) == cursor


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "invalid_query"),
        ({"q": "   "}, "invalid_query"),
        ({"q": "x" * 1001}, "invalid_query"),
        ({"q": "a\x00b"}, "invalid_query"),
        ({"q": "a", "limit": "0"}, "invalid_limit"),
        ({"q": "a", "limit": "101"}, "invalid_limit"),
        ({"q": "a", "limit": "-1"}, "invalid_limit"),
        ({"q": "a", "gpt_id": "nope"}, "invalid_gpt_id"),
        ({"q": "a", "from": "yesterday"}, "invalid_from"),
        ({"q": "a", "from": "2026-01-01T00:00:00"}, "invalid_from"),
        ({"q": "a", "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "invalid_to"),
        ({"q": "a", "cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"q": "a", "cursor": "W10"}, "invalid_cursor"),
    ],
)
def test_bad_input_is_a_400_with_a_code(params: dict[str, str], code: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_search(params)
    assert (caught.value.status, caught.value.code) == (400, code)
