"""The pure helpers of gptdesk.analytics.query that the dashboard's SQL is built from: the
months a range touches, and each month's day bits (the same bits analytics.day_mask and the
rollup trigger keep)."""

from datetime import date, timedelta

import asyncpg

from gptdesk.analytics.query import DateRange, Filters, day_mask, month_starts, top_gpts_sql


def test_month_starts_cover_every_month_touched() -> None:
    assert month_starts(date(2024, 11, 15), date(2025, 2, 1)) == [
        date(2024, 11, 1),
        date(2024, 12, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
    ]
    assert month_starts(date(2024, 2, 29), date(2024, 2, 29)) == [date(2024, 2, 1)]
    assert month_starts(date(9999, 11, 2), date.max) == [date(9999, 11, 1), date(9999, 12, 1)]


def test_day_masks_hold_the_days_of_the_window_in_the_month() -> None:
    month = date(2024, 2, 1)
    assert day_mask(month, date(2024, 2, 1), date(2024, 2, 1)) == 1
    assert day_mask(month, date(2024, 1, 1), date(2024, 12, 31)) == (1 << 29) - 1
    assert day_mask(month, date(2024, 2, 3), date(2024, 2, 4)) == 0b1100
    assert day_mask(month, date(2024, 3, 1), date(2024, 3, 9)) == 0
    assert day_mask(date(9999, 12, 1), date(9999, 12, 31), date.max) == 1 << 30


async def test_day_masks_equal_the_databases(owner: asyncpg.Connection) -> None:
    cases = [
        (month, month + timedelta(days=lo), month + timedelta(days=lo + length))
        for month in (date(2023, 2, 1), date(2024, 2, 1), date(2024, 7, 1), date(2024, 12, 1))
        for lo in range(-40, 40, 3)
        for length in (0, 6, 29, 45)
    ]
    found = await owner.fetch(
        "select analytics.day_mask(c.month, c.lo, c.hi) as mask"
        " from unnest($1::date[], $2::date[], $3::date[]) with ordinality as c (month, lo, hi, n)"
        " order by c.n",
        *(list(column) for column in zip(*cases, strict=True)),
    )
    assert [row["mask"] for row in found] == [day_mask(*case) for case in cases]


async def test_top_gpts_from_running_totals_keep_every_filter(owner: asyncpg.Connection) -> None:
    """Each narrowing the running totals can answer is stated in their SQL (and the statement
    runs); a user or model narrowing goes to the rollups instead."""
    team, gpt = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
    range_ = DateRange(date(2024, 1, 20), date(2024, 3, 5))
    for filters, needle in (
        (Filters(team_id=team), "r.team_id = $4::uuid"),
        (Filters(within_team=team), "r.team_id = $4::uuid"),
        (Filters(gpt_id=gpt), "r.gpt_id = $4::uuid"),
        (Filters(gpt_ids=(gpt,)), "r.gpt_id = any($4::uuid[])"),
    ):
        sql, args = top_gpts_sql(range_, filters, False, 10)
        assert "gpt_running_totals" in sql and needle in sql, filters
        assert args[:3] == [
            [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)],
            [19, 0, 0],
            [31, 29, 5],
        ]
        assert await owner.fetch(sql, *args) == []
    for filters in (Filters(model="m"), Filters(user_id=team)):
        sql, _ = top_gpts_sql(range_, filters, False, 10)
        assert "gpt_running_totals" not in sql, filters
    sql, _ = top_gpts_sql(range_, Filters(), True, 10)
    assert "gpt_running_totals" not in sql
