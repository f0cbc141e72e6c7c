"""Ban durations in Go's syntax."""

from datetime import timedelta

import pytest

from gptdesk.auth.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("1h30m", timedelta(minutes=90)),
        ("90s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
    ],
)
def test_valid(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "24", "24d", "1h x", "-1h", "9999999999h"])
def test_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
