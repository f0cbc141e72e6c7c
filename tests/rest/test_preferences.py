"""Prefer, Range and limit/offset, as supabase-py and supabase-js send them."""

import pytest

from gptdesk.rest.preferences import (
    MAX_LIMIT,
    Page,
    PreferenceError,
    Preferences,
    parse_page,
    parse_prefer,
)


def test_what_the_clients_send() -> None:
    upsert = parse_prefer(["return=representation,resolution=ignore-duplicates,missing=default"])
    assert upsert == Preferences(
        return_="representation",
        resolution="ignore-duplicates",
        missing_default=True,
        applied=("return=representation", "resolution=ignore-duplicates", "missing=default"),
    )
    assert parse_prefer(["count=exact"]).count == "exact"
    assert parse_prefer([]) == Preferences()


def test_repeated_headers_and_the_rest() -> None:
    prefs = parse_prefer(["return=minimal", "tx=rollback, max-affected=5, timezone=UTC"])
    assert prefs.return_ == "minimal" and prefs.rollback and prefs.max_affected == 5
    assert prefs.timezone == "UTC"


def test_unknown_preferences_are_ignored_unless_strict() -> None:
    assert parse_prefer(["return=everything,frobnicate"]).return_ is None
    with pytest.raises(PreferenceError) as failure:
        parse_prefer(["handling=strict, return=everything"])
    assert (failure.value.code, failure.value.status) == ("PGRST122", 400)
    assert "return=everything" in str(failure.value.details)


@pytest.mark.parametrize(
    ("limit", "offset", "range_header", "page"),
    [
        (None, None, None, Page()),
        ("10", "20", None, Page(20, 10)),
        (None, None, "0-9", Page(0, 10)),
        (None, None, "items=10-", Page(10, None)),
        ("5", None, "10-19", Page(10, 5)),
        ("0", None, None, Page(0, 0)),
        (str(10**12), None, None, Page(0, MAX_LIMIT)),
    ],
)
def test_pages(limit: str | None, offset: str | None, range_header: str | None, page: Page) -> None:
    assert parse_page(limit, offset, range_header) == page


@pytest.mark.parametrize("header", ["9-0", "a-b", "10", "bytes=0-9", "-5", "0-x"])
def test_bad_ranges_are_416(header: str) -> None:
    with pytest.raises(PreferenceError) as failure:
        parse_page(None, None, header)
    assert (failure.value.code, failure.value.status) == ("PGRST103", 416)


@pytest.mark.parametrize(
    ("limit", "offset"), [("-1", None), ("ten", None), (None, "1.5"), ("9" * 40, None)]
)
def test_bad_limits_are_400(limit: str | None, offset: str | None) -> None:
    with pytest.raises(PreferenceError) as failure:
        parse_page(limit, offset, None)
    assert (failure.value.code, failure.value.status) == ("PGRST100", 400)
