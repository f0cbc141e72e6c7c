"""The dashboard, cost analysis and per-GPT stats against figures worked out here: active
users on the range's last day and in the 7 and 30 days to it, the top GPTs by requests,
trends against the previous period of the same length, the daily series; costs by model,
team and GPT, the month to date and its projection to the month's end; one GPT's totals,
users and models (under both addresses). As the super admin, a team admin and a user.

The range is 28 days of May 2025 with usage before it (the previous period and the 30-day
windows reach back into April); team x has eleven GPTs, so the top ten is a real cut.
"""

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.analytics.crew import Crew
from tests.analytics.dataset import seed_usage
from tests.analytics.usage import Use, in_range, insert, raw_uses, span, totals

FIRST, DAYS = date(2025, 3, 20), 73  # to 2025-05-31
START, END = date(2025, 5, 1), date(2025, 5, 28)
PREV_START, PREV_END = date(2025, 4, 3), date(2025, 4, 30)
MODELS = ("dash-model-a", "dash-model-b", "dash-model-c", "dash-model-d")
ACTORS = ("super", "admin_x", "user_x")


@dataclass(frozen=True)
class Data:
    crew: Crew
    raw: list[Use]  # every stored row, as the owner read it after seeding
    month: list[Use]  # this month's rows of team x


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def data(owner: asyncpg.Connection, crew: Crew) -> AsyncIterator[Data]:
    await seed_usage(
        owner, crew, seed=4242, n=1600, first=FIRST, days=DAYS, models=MODELS, private=(10, 2)
    )
    now = datetime.now(UTC)
    month = [
        Use(str(uuid.uuid4()), crew.users[who], crew.teams["x"], crew.gpts_of("x")[0].id,
            MODELS[0], now - timedelta(seconds=i), cost, 120 + i, 10, 5)
        for i, (who, cost) in enumerate(
            [("user_x", Decimal("0.12345678")), ("admin_x", Decimal("1.5")),
             ("user_x", None), ("user_x2", Decimal("0.00000001"))]
        )
    ]  # fmt: skip
    await insert(owner, month)
    yield Data(crew, await raw_uses(owner), month)


def visible(crew: Crew, actor: str, uses: list[Use]) -> list[Use]:
    if actor == "super":
        return uses
    if actor.startswith("admin_"):
        return [u for u in uses if u.team_id == crew.team_of(actor)]
    return [u for u in uses if u.user_id == crew.users[actor]]


def active(uses: list[Use], end: date, days: int) -> int:
    """Distinct users with usage in the `days` days to `end`."""
    return len({u.user_id for u in in_range(uses, end - timedelta(days=days - 1), end)})


def check_change(got: dict[str, Any], current: Decimal | int, previous: Decimal | int) -> None:
    assert Decimal(str(got["current"])) == current, (got, current)
    assert Decimal(str(got["previous"])) == previous, (got, previous)
    if not previous:
        assert got["change_pct"] is None
    else:
        pct = (Decimal(current) - Decimal(previous)) * 100 / Decimal(previous)
        assert abs(Decimal(str(got["change_pct"])) - pct) <= Decimal("0.05"), (got, pct)


def dashboard(crew: Crew, actor: str, **params: str) -> dict[str, Any]:
    r = crew.get("/api/v1/analytics/dashboard", actor, **span(START, END), **params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json(parse_float=Decimal)
    return body


@pytest.mark.parametrize("actor", ACTORS)
def test_dashboard_figures(data: Data, actor: str) -> None:
    crew = data.crew
    body = dashboard(crew, actor)
    seen = visible(crew, actor, data.raw)
    now, before = in_range(seen, START, END), in_range(seen, PREV_START, PREV_END)
    assert now and before
    assert body["range"] == {"from": START.isoformat(), "to": END.isoformat()}
    assert body["previous_range"] == {"from": PREV_START.isoformat(), "to": PREV_END.isoformat()}

    total, total_before = totals(now, lambda u: 0)[0], totals(before, lambda u: 0)[0]
    total.check(
        {**body["usage"], "cost": body["costs"]["total"],
         "unpriced_requests": body["costs"]["unpriced_requests"]},
        "usage",
    )  # fmt: skip

    actives = {"daily": active(seen, END, 1), "weekly": active(seen, END, 7)}
    actives["monthly"] = active(seen, END, 30)
    assert body["active_users"] == actives
    assert actor != "user_x" or actives["monthly"] == 1

    trends = body["trends"]
    check_change(trends["requests"], total.requests, total_before.requests)
    tokens = total.prompt + total.completion
    check_change(trends["total_tokens"], tokens, total_before.prompt + total_before.completion)
    check_change(trends["cost"], total.cost, total_before.cost)
    check_change(trends["active_users"], actives["monthly"], active(seen, PREV_END, 30))

    daily = totals(now, lambda u: u.day.isoformat())
    assert [s["day"] for s in body["series"]] == sorted(daily)
    for point in body["series"]:
        sums = daily[point["day"]]
        assert (point["requests"], point["total_tokens"]) == (
            sums.requests, sums.prompt + sums.completion,
        )  # fmt: skip
        assert Decimal(str(point["cost"])) == sums.cost


@pytest.mark.parametrize("actor", ACTORS)
def test_top_gpts_are_the_most_used(data: Data, actor: str) -> None:
    crew = data.crew
    top = dashboard(crew, actor)["top_gpts"]
    now = in_range(visible(crew, actor, data.raw), START, END)
    by_gpt = totals([u for u in now if u.gpt_id], lambda u: u.gpt_id)
    ranked = sorted(by_gpt.items(), key=lambda kv: (-kv[1].requests, -kv[1].cost))
    assert len(top) == min(10, len(ranked))
    assert [(t["requests"], Decimal(str(t["cost"]))) for t in top] == [
        (s.requests, s.cost) for _, s in ranked[: len(top)]
    ]
    if len(ranked) > 10 and (ranked[9][1].requests, ranked[9][1].cost) != (
        ranked[10][1].requests, ranked[10][1].cost,
    ):  # fmt: skip
        assert {t["gpt"] for t in top} == {g for g, _ in ranked[:10]}
    for item in top:
        by_gpt[item["gpt"]].check(item, item["gpt"])
        assert item["name"] == crew.names.get(item["gpt"], item["name"])
    if actor != "user_x":
        assert len(ranked) > 10, "the cut is exercised"


def test_dashboard_filters_and_csv(data: Data) -> None:
    crew = data.crew
    team = {"team_id": crew.teams["x"]}
    body = dashboard(crew, "super", **team)
    assert body == dashboard(crew, "admin_x"), "the super admin on team x sees what its admin does"
    r = crew.get("/api/v1/analytics/dashboard", "admin_x", **span(START, END), format="csv")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    header, *lines = list(csv.reader(io.StringIO(r.text)))
    assert header == ["metric", "value"]
    metrics = dict(lines)
    expected: dict[str, Any] = {}
    for section in ("usage", "costs", "active_users"):
        expected.update({f"{section}.{k}": v for k, v in body[section].items()})
    for name, trend in body["trends"].items():
        expected.update({f"trends.{name}.{k}": v for k, v in trend.items()})
    assert set(metrics) == set(expected)
    for metric, value in expected.items():
        cell = metrics[metric]
        if value is None:
            assert cell == "", metric
        else:
            assert Decimal(cell) == Decimal(str(value)), metric


def projection(to_date: Decimal, at: datetime) -> Decimal:
    """The month's cost at its end at the pace of the month so far (UTC)."""
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    month_seconds = Decimal((following - start).total_seconds())
    return to_date * month_seconds / Decimal((at - start).total_seconds())


@pytest.mark.parametrize("actor", ("super", "admin_x", "user_x"))
def test_costs_by_model_team_and_gpt(data: Data, actor: str) -> None:
    crew = data.crew
    params = {"team_id": crew.teams["x"]} if actor == "super" else {}
    before = datetime.now(UTC)
    r = crew.get("/api/v1/analytics/costs", actor, **span(START, END), **params)
    after = datetime.now(UTC)
    assert r.status_code == 200, r.text
    body = r.json(parse_float=Decimal)
    seen = visible(crew, actor, data.raw)
    if params:
        seen = [u for u in seen if u.team_id == params["team_id"]]
    now = in_range(seen, START, END)
    total = totals(now, lambda u: 0)[0]
    assert (Decimal(str(body["total"])), body["unpriced_requests"]) == (total.cost, total.unpriced)
    for dimension, key in (("model", "model"), ("team", "team_id"), ("gpt", "gpt_id")):
        rows = body[f"by_{dimension}"]
        expected = totals(now, lambda u, key=key: getattr(u, key))
        assert {r[dimension] for r in rows} == set(expected)
        costs = [Decimal(str(r["cost"])) for r in rows]
        assert costs == sorted(costs, reverse=True), "the most costly first"
        for row in rows:
            sums = expected[row[dimension]]
            assert (Decimal(str(row["cost"])), row["requests"], row["unpriced_requests"]) == (
                sums.cost, sums.requests, sums.unpriced,
            )  # fmt: skip
            if dimension != "model" and row[dimension] in crew.names:
                assert row["name"] == crew.names[row[dimension]]

    today = after.date()
    month = in_range(seen, today.replace(day=1), today)
    to_date = sum((u.cost or Decimal(0) for u in month), Decimal(0))
    assert month, "this month has usage"
    assert body["month"]["from"] == today.replace(day=1).isoformat()
    assert Decimal(str(body["month"]["to_date"])) == to_date
    projected = Decimal(str(body["month"]["projected_month_end"]))
    step = Decimal("0.000001")
    assert projection(to_date, after) - step <= projected <= projection(to_date, before) + step
    assert projected >= to_date


def test_costs_csv_states_what_json_does(data: Data) -> None:
    crew = data.crew
    as_json = crew.get("/api/v1/analytics/costs", "admin_x", **span(START, END))
    body = as_json.json(parse_float=Decimal)
    r = crew.get("/api/v1/analytics/costs", "admin_x", **span(START, END), format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="costs.csv"'
    header, *lines = list(csv.reader(io.StringIO(r.text)))
    assert header == ["dimension", "key", "name", "cost", "requests", "unpriced_requests"]
    expected = [
        [dimension, row[dimension] or "", row.get("name") or "", row["cost"],
         str(row["requests"]), str(row["unpriced_requests"])]
        for dimension in ("model", "team", "gpt") for row in body[f"by_{dimension}"]
    ]  # fmt: skip
    assert len(lines) == len(expected) > 0
    for line, want in zip(lines, expected, strict=True):
        assert line[:3] + line[4:] == want[:3] + want[4:]
        assert Decimal(line[3]) == Decimal(str(want[3]))


def most_used_gpt(data: Data, user: str) -> str:
    now = in_range([u for u in data.raw if u.user_id == user and u.gpt_id], START, END)
    counts = totals(now, lambda u: u.gpt_id)
    return max(counts, key=lambda g: counts[g].requests)


@pytest.mark.parametrize("actor", ACTORS)
def test_gpt_stats(data: Data, actor: str) -> None:
    crew = data.crew
    gpt = most_used_gpt(data, crew.users["user_x"])
    r = crew.get(f"/api/v1/analytics/gpts/{gpt}", actor, **span(START, END))
    assert r.status_code == 200, r.text
    alias = crew.get(f"/api/v1/gpts/{gpt}/stats", actor, **span(START, END))
    assert alias.status_code == 200 and alias.json() == r.json()
    body = r.json(parse_float=Decimal)
    assert (body["gpt"]["id"], body["gpt"]["name"]) == (gpt, crew.names[gpt])
    now = [u for u in in_range(visible(crew, actor, data.raw), START, END) if u.gpt_id == gpt]
    totals(now, lambda u: 0)[0].check(body, "total")
    assert body["unique_users"] == len({u.user_id for u in now})
    assert actor != "user_x" or body["unique_users"] == 1
    by_model = totals(now, lambda u: u.model)
    assert {m["model"] for m in body["by_model"]} == set(by_model)
    for row in body["by_model"]:
        by_model[row["model"]].check(row, row["model"])
    daily = totals(now, lambda u: u.day.isoformat())
    assert [p["period_start"] for p in body["series"]] == sorted(daily)
    for point in body["series"]:
        daily[point["period_start"]].check(point, point["period_start"])


def test_gpt_stats_csv_is_the_series(data: Data) -> None:
    crew = data.crew
    gpt = most_used_gpt(data, crew.users["user_x"])
    body = crew.get(f"/api/v1/gpts/{gpt}/stats", "admin_x", **span(START, END)).json()
    r = crew.get(f"/api/v1/gpts/{gpt}/stats", "admin_x", **span(START, END), format="csv")
    assert r.status_code == 200, r.text
    header, *lines = list(csv.reader(io.StringIO(r.text)))
    assert header[0] == "period_start" and len(lines) == len(body["series"]) > 0
    assert [line[0] for line in lines] == [p["period_start"] for p in body["series"]]
    assert [int(line[1]) for line in lines] == [p["requests"] for p in body["series"]]
