"""postgres_changes filters, parsed and evaluated without a server (realtime/filters.py).

Each operator on the column types the published tables have, the SQL treatment of null
(unknown is not a pass, negated or not), comma-AND, and the filters a join must refuse.
"""

import pytest

from gptdesk.realtime.filters import Condition, FilterError, matches, parse_filter

COLUMNS = {
    "id": "uuid",
    "name": "varchar",
    "description": "text",
    "category": "varchar",
    "max_tokens": "int4",
    "usage": "int8",
    "temperature": "numeric",
    "is_public": "bool",
    "created_at": "timestamptz",
    "day": "date",
    "settings": "jsonb",
}
ROW = {
    "id": "5a0c3a4e-0000-4000-8000-00000000000a",
    "name": "Sales Coach",
    "description": "Helps with 50% of deals_closed",
    "category": None,
    "max_tokens": 2000,
    "usage": 9007199254740993,
    "temperature": 0.7,
    "is_public": True,
    "created_at": "2026-03-01T12:30:00.123456+00:00",
    "day": "2026-03-01",
    "settings": {"tone": "warm"},
}


def holds(text: str, row: dict[str, object] = ROW) -> bool:
    return matches(parse_filter(text, COLUMNS), row, COLUMNS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # eq / neq, compared as the column's type
        ("max_tokens=eq.2000", True),
        ("max_tokens=eq.02000", True),
        ("max_tokens=eq.2001", False),
        ("max_tokens=neq.2001", True),
        ("max_tokens=neq.2000", False),
        ("name=eq.Sales Coach", True),
        ("name=eq.sales coach", False),
        ("id=eq.5A0C3A4E-0000-4000-8000-00000000000A", True),
        ("usage=eq.9007199254740993", True),
        ("temperature=eq.0.70", True),
        ("is_public=eq.true", True),
        ("is_public=eq.false", False),
        # lt lte gt gte: numbers as numbers, not as text ("10" < "9" as text)
        ("max_tokens=lt.10000", True),
        ("max_tokens=lt.2000", False),
        ("max_tokens=lte.2000", True),
        ("max_tokens=gt.999", True),
        ("max_tokens=gt.2000", False),
        ("max_tokens=gte.2000", True),
        ("temperature=gt.0.65", True),
        ("temperature=lt.0.65", False),
        ("name=gt.Sales", True),
        ("name=lt.Sales", False),
        # instants compare as instants, whatever the offset they are written with
        ("created_at=gt.2026-03-01T12:00:00Z", True),
        ("created_at=lt.2026-03-01T14:00:00+02:00", False),
        ("created_at=eq.2026-03-01T13:30:00.123456+01:00", True),
        ("day=lt.2026-03-02", True),
        ("day=gte.2026-03-02", False),
        # in
        ("max_tokens=in.(1000,2000,3000)", True),
        ("max_tokens=in.(1000,3000)", False),
        ("name=in.(Writer,Sales Coach)", True),
        ('name=in.("Sales Coach","a,b")', True),
        ('description=in.("Helps with 50% of deals_closed")', True),
        # like / ilike: % any run, _ one character, the rest literal
        ("name=like.Sales%", True),
        ("name=like.sales%", False),
        ("name=like.%Coac_", True),
        ("name=like.Sales", False),
        ("name=ilike.sales%", True),
        ("name=ilike.%COACH", True),
        ("description=like.Helps with 50% of deals_closed", True),
        ("description=like.Helps.with%", False),
        # match / imatch: POSIX-style regular expressions, unanchored
        ("name=match.^Sales", True),
        ("name=match.Coach$", True),
        ("name=match.^sales", False),
        ("name=match.s C", True),
        ("name=imatch.^sales", True),
        ("name=imatch.^writer", False),
        # is
        ("category=is.null", True),
        ("name=is.null", False),
        ("is_public=is.true", True),
        ("is_public=is.false", False),
        ("category=is.unknown", True),
        # isdistinct: null-safe inequality
        ("category=isdistinct.null", False),
        ("name=isdistinct.null", True),
        ("category=isdistinct.sales", True),
        ("max_tokens=isdistinct.2000", False),
        ("max_tokens=isdistinct.1", True),
        # not. negates any operator
        ("max_tokens=not.eq.2000", False),
        ("max_tokens=not.in.(1,2)", True),
        ("name=not.like.Sales%", False),
        ("name=not.ilike.writer%", True),
        ("category=not.is.null", False),
        ("name=not.is.null", True),
        ("max_tokens=not.isdistinct.2000", True),
        ("name=not.match.^Sales", False),
        ("name=not.imatch.^writer", True),
        ("max_tokens=not.gt.5000", True),
        # comma-AND
        ("max_tokens=gt.100,name=in.(Sales Coach,Writer)", True),
        ("max_tokens=gt.100,name=in.(Writer)", False),
        ("max_tokens=gt.100,is_public=is.true,name=like.S%", True),
    ],
)
def test_each_operator_compares_as_postgresql_would(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "category=eq.sales",
        "category=neq.sales",
        "category=gt.a",
        "category=in.(sales,support)",
        "category=like.%",
        "category=match..*",
        # negating unknown is still unknown: SQL's `not (null = 'x')` is null
        "category=not.eq.sales",
        "category=not.in.(sales)",
        "category=not.like.x%",
    ],
)
def test_a_comparison_with_null_never_passes(text: str) -> None:
    assert holds(text) is False


def test_no_filter_passes_every_row_and_no_row_passes_a_filter() -> None:
    assert parse_filter(None, COLUMNS) == ()
    assert parse_filter("  ", COLUMNS) == ()
    assert matches((), ROW, COLUMNS)
    assert matches((), None, COLUMNS)
    assert not matches(parse_filter("max_tokens=gt.1", COLUMNS), None, COLUMNS)


def test_a_filter_parses_into_its_conditions() -> None:
    assert parse_filter("max_tokens=not.in.(1,2),name=eq.a.b", COLUMNS) == (
        Condition("max_tokens", "in", True, ("1", "2")),
        Condition("name", "eq", False, "a.b"),
    )


def test_in_takes_up_to_a_hundred_values() -> None:
    values = ",".join(str(n) for n in range(100))
    with pytest.raises(FilterError):
        parse_filter(f"max_tokens=in.({values},2000)", COLUMNS)
    hundred = ",".join(str(n) for n in range(1901, 2001))
    assert holds(f"max_tokens=in.({hundred})") is True


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens",  # no =
        "=eq.1",  # no column
        "nope=eq.1",  # no such column
        "max_tokens=eq",  # no value part
        "max_tokens=equals.1",  # unknown operator
        "max_tokens=not.equals.1",
        "max_tokens=2000",  # no operator
        "category=is.maybe",  # is takes null, true, false, unknown
        "name=match.(unclosed",  # not a regular expression
        "max_tokens=in.1,2",  # in needs parentheses
        "max_tokens=gt.1,",  # a dangling comma-AND
    ],
)
def test_a_filter_that_does_not_parse_is_refused(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text, COLUMNS)


def test_a_date_compared_with_an_instant_is_midnight_utc() -> None:
    assert holds("created_at=gt.2020-01-01")
    assert holds("created_at=lt.2027-01-01 00:00:00")
