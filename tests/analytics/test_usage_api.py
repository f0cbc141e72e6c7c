"""GET /api/v1/analytics/usage against sums worked out here from the raw rows: every period
and grouping, for the super admin (everything), team admins (their team's rows, never the
other team's), plain users (their own rows) and the service role; filters narrow within
what the caller sees and never widen it; CSV states exactly what JSON does.

The range cuts through weeks and months (2025-01-08 to 2025-02-12) and rows lie on the
first and last instants of UTC days, some just outside the range.
"""

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from tests.analytics.crew import Crew
from tests.analytics.dataset import seed_usage
from tests.analytics.usage import Use, check_usage, in_range, insert, per_period, raw_uses, span

FIRST = date(2025, 1, 6)
DAYS = 84
START, END = date(2025, 1, 8), date(2025, 2, 12)
MODELS = ("usage-model-a", "usage-model-b", "usage-model-c")
PERIODS = ("day", "week", "month")
GROUPS = ("none", "team", "user", "gpt", "model")
ROLES = ("super", "admin_x", "admin_y", "user_x", "user_x2", "service_role")
FIGURES = (
    "requests", "failed_requests", "unpriced_requests", "prompt_tokens", "completion_tokens",
    "total_tokens", "cost", "avg_response_ms", "p95_response_ms",
)  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def raw(owner: asyncpg.Connection, crew: Crew) -> AsyncIterator[list[Use]]:
    """The module's rows (and rows just outside the range), then every stored row of the
    range as the owner reads it."""
    uses = await seed_usage(
        owner, crew, seed=20250106, n=1400, first=FIRST, days=DAYS, models=MODELS
    )
    edge = uses[0]
    outside = [
        _at(edge, datetime.combine(START, datetime.min.time(), UTC) - timedelta(microseconds=1)),
        _at(edge, datetime.combine(END + timedelta(days=1), datetime.min.time(), UTC)),
        _at(edge, datetime.combine(START, datetime.min.time(), UTC)),
        _at(edge, datetime.combine(END, datetime.max.time(), UTC)),
    ]
    await insert(owner, outside)
    yield in_range(await raw_uses(owner, START, END), START, END)


def _at(use: Use, moment: datetime) -> Use:
    return replace(use, id=str(uuid.uuid4()), created_at=moment)


def visible(crew: Crew, actor: str, uses: list[Use]) -> list[Use]:
    """The rows `actor` may see: all (super admin, service role), their team's (admins) or
    their own (users)."""
    if actor in ("super", "service_role"):
        return uses
    if actor.startswith("admin_"):
        return [u for u in uses if u.team_id == crew.team_of(actor)]
    return [u for u in uses if u.user_id == crew.users[actor]]


def headers(crew: Crew, actor: str) -> dict[str, str]:
    if actor == "service_role":
        key = crew.server.service_role_key
        return {"apikey": key, "Authorization": f"Bearer {key}"}
    return crew.headers(actor)


def get_usage(crew: Crew, actor: str, **params: str) -> httpx.Response:
    """GET /usage over the module's range as `actor` (the service role: its key)."""
    return httpx.get(
        f"{crew.server.url}/api/v1/analytics/usage",
        headers=headers(crew, actor),
        params={**span(START, END), **params},
        timeout=30,
    )


def fetch(crew: Crew, actor: str, **params: str) -> httpx.Response:
    """A JSON answer of /usage (asserted 200)."""
    r = get_usage(crew, actor, **params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r


def check_names(crew: Crew, rows: list[dict[str, Any]], group_by: str) -> None:
    """Named groups carry the name the caller may see: team and GPT names, a user's full
    name or else their e-mail; a missing key, no name."""
    for row in rows:
        if group_by in ("none", "model"):
            assert "name" not in row
            continue
        key = row[group_by]
        if key is None:
            assert row["name"] is None, row
        elif key in crew.names:
            assert row["name"] == crew.names[key], row


@pytest.mark.parametrize("group_by", GROUPS)
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("actor", ROLES)
def test_rows_equal_the_raw_sums(
    crew: Crew, raw: list[Use], actor: str, period: str, group_by: str
) -> None:
    body = fetch(crew, actor, period=period, group_by=group_by).json(parse_float=Decimal)
    assert body["range"] == {"from": START.isoformat(), "to": END.isoformat()}
    assert (body["period"], body["group_by"]) == (period, group_by)
    seen = visible(crew, actor, raw)
    assert seen, "the role sees some rows"
    check_usage(body["rows"], per_period(seen, period, group_by), group_by)
    starts = [r["period_start"] for r in body["rows"]]
    assert starts == sorted(starts), "rows come ordered by period"
    check_names(crew, body["rows"], group_by)


def filters(crew: Crew) -> dict[str, dict[str, str]]:
    x_public, y_public = crew.gpts_of("x")[0], crew.gpts_of("y")[0]
    return {
        "team_x": {"team_id": crew.teams["x"]},
        "team_y": {"team_id": crew.teams["y"]},
        "user_x": {"user_id": crew.users["user_x"]},
        "user_y": {"user_id": crew.users["user_y"]},
        "gpt_x_public": {"gpt_id": x_public.id},
        "gpt_y_public": {"gpt_id": y_public.id},
        "gpt_x_private": {"gpt_id": crew.gpts_of("x")[1].id},
        "model": {"model": MODELS[1]},
        "model_and_team": {"model": MODELS[0], "team_id": crew.teams["x"]},
        "user_and_gpt": {"user_id": crew.users["user_x"], "gpt_id": x_public.id},
        "unknown_model": {"model": "no-such-model'; select 1 --"},
    }


def matches(use: Use, given: dict[str, str]) -> bool:
    checks = {"team_id": use.team_id, "user_id": use.user_id, "gpt_id": use.gpt_id}
    checks["model"] = use.model
    return all(checks[k] == v for k, v in given.items())


@pytest.mark.parametrize(
    "which",
    ["team_x", "team_y", "user_x", "user_y", "gpt_x_public", "gpt_y_public", "gpt_x_private",
     "model", "model_and_team", "user_and_gpt", "unknown_model"],
)  # fmt: skip
@pytest.mark.parametrize("actor", ("super", "admin_x", "user_x"))
def test_filters_narrow_within_what_the_caller_sees(
    crew: Crew, raw: list[Use], actor: str, which: str
) -> None:
    given = filters(crew)[which]
    for group_by in ("none", "gpt", "user"):
        rows = fetch(crew, actor, period="month", group_by=group_by, **given).json(
            parse_float=Decimal
        )["rows"]
        seen = [u for u in visible(crew, actor, raw) if matches(u, given)]
        check_usage(rows, per_period(seen, "month", group_by), group_by)


def test_a_team_admin_never_sees_the_other_team(crew: Crew, raw: list[Use]) -> None:
    other_users = {crew.users["admin_y"], crew.users["user_y"], crew.users["super"]}
    for group_by in ("team", "user"):
        rows = fetch(crew, "admin_x", group_by=group_by, period="month").json()["rows"]
        keys = {r[group_by] for r in rows}
        assert keys and keys <= {crew.teams["x"], *crew.users.values()} - other_users
    for leak in (
        {"team_id": crew.teams["y"]},
        {"user_id": crew.users["user_y"]},
        {"user_id": crew.users["super"]},
        {"gpt_id": crew.gpts_of("y")[1].id},  # team y's private GPT
    ):
        assert fetch(crew, "admin_x", **leak).json()["rows"] == [], leak
    for leak in ({"user_id": crew.users["user_x2"]}, {"team_id": crew.teams["y"]}):
        assert fetch(crew, "user_x", **leak).json()["rows"] == [], leak


@pytest.mark.parametrize("group_by", GROUPS)
@pytest.mark.parametrize("actor", ("super", "admin_x", "user_x"))
def test_csv_states_what_json_does(crew: Crew, actor: str, group_by: str) -> None:
    params = {"period": "week", "group_by": group_by}
    as_json = fetch(crew, actor, **params).json(parse_float=Decimal)["rows"]
    r = get_usage(crew, actor, **params, format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="usage.csv"'
    header, *lines = list(csv.reader(io.StringIO(r.text)))
    key = [] if group_by == "none" else [group_by]
    named = ["name"] if group_by in ("team", "user", "gpt") else []
    assert header == ["period_start", *key, *named, *FIGURES]
    assert len(lines) == len(as_json) > 0
    for line, row in zip(lines, as_json, strict=True):
        for column, cell in zip(header, line, strict=True):
            value = row[column]
            if value is None:
                assert cell == "", (column, line)
            elif column in ("cost", "avg_response_ms", "p95_response_ms"):
                assert Decimal(cell) == Decimal(str(value)), (column, cell, value)
            else:
                assert cell == str(value), (column, cell, value)


def test_both_ends_left_out_is_the_last_30_days(crew: Crew) -> None:
    before = datetime.now(UTC).date()
    r = crew.get("/api/v1/analytics/usage", "admin_x")
    after = datetime.now(UTC).date()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["range"] in (
        {"from": (d - timedelta(days=29)).isoformat(), "to": d.isoformat()} for d in (before, after)
    )
    assert (body["period"], body["group_by"], body["rows"]) == ("day", "none", [])
