"""Budget alerts: each threshold the month's spend reaches fires once per month — an alert
row, an audit row `budget.threshold_reached`, a realtime INSERT that reaches the team's
admins and super admins only — however much more is spent; usage of other teams, of last
month and without a price does not count; a GPT's budget counts that GPT's usage by anyone.
GET /api/v1/budgets reports spend, share, exhaustion and alerts to whom may see them.

Usage is written as the owner, as the gateway's close_turn writes it; each test has a crew
of its own, so its teams start the month with nothing spent.
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from tests.analytics.budget_world import (
    alerts,
    audit_rows,
    charge,
    new_budget,
    this_month,
    thresholds_fired,
)
from tests.analytics.crew import Crew, add_gpt
from tests.realtime.pyclient import Change, PySubscriber, subscribe


async def test_each_threshold_fires_once_a_month(
    owner: asyncpg.Connection, fresh_crew: Crew
) -> None:
    crew = fresh_crew
    budget = new_budget(crew, thresholds=[50, 80, 100, 150])["id"]
    steps = [
        ("4.00", []),  # 40 %
        (None, []),  # unpriced: nothing spent
        ("1.50", [50]),  # 55 %
        ("0.30", [50]),  # 58 %: 50 % already fired
        ("3.00", [50, 80]),  # 88 %
        ("1.20", [50, 80, 100]),  # exactly 100 %
        ("10.00", [50, 80, 100, 150]),  # 200 %
        ("5.00", [50, 80, 100, 150]),  # more spending fires nothing again
    ]
    for cost, fired in steps:
        await charge(owner, crew, cost)
        assert await thresholds_fired(owner, budget) == fired, cost

    spent = {50: "5.5", 80: "8.8", 100: "10", 150: "20"}
    found = await alerts(owner, budget)
    for alert in found:
        assert alert["spent"] == Decimal(spent[alert["threshold"]])
        assert (alert["monthly_limit"], alert["currency"], alert["webhook_status"]) == (
            Decimal("10.00"), "USD", "none",
        )  # fmt: skip
        assert (alert["period"].isoformat(), alert["team_id"], alert["gpt_id"]) == (
            this_month(), crew.teams["x"], None,
        )  # fmt: skip
    audit = await audit_rows(owner, budget)
    assert [a["threshold"] for a in audit] == [50, 80, 100, 150]
    for row, alert in zip(audit, found, strict=True):
        assert row["team_id"] == crew.teams["x"]
        assert row["alert_id"] == alert["id"] and Decimal(str(row["spent"])) == alert["spent"]
        assert (row["period"], row["monthly_limit"], row["currency"], row["hard_stop"]) == (
            this_month(), 10.0, "USD", False,
        )  # fmt: skip


async def test_what_does_not_count_towards_a_team_budget(
    owner: asyncpg.Connection, fresh_crew: Crew
) -> None:
    crew = fresh_crew
    budget = new_budget(crew, monthly_limit=1)["id"]
    last_month = datetime.now(UTC).replace(day=1) - timedelta(days=3)
    await charge(owner, crew, "50", actor="user_y")  # the other team
    await charge(owner, crew, "50", at=last_month)  # last month
    await charge(owner, crew, None)  # unpriced
    await charge(owner, crew, "0.79")  # 79 %
    assert await thresholds_fired(owner, budget) == []
    await charge(owner, crew, "0.01", actor="admin_x")  # anyone of the team counts
    assert await thresholds_fired(owner, budget) == [80]


async def test_one_charge_fires_every_threshold_it_passes(
    owner: asyncpg.Connection, fresh_crew: Crew
) -> None:
    crew = fresh_crew
    budget = new_budget(crew, thresholds=[25, 50, 100, 300])["id"]
    await charge(owner, crew, "12")
    assert await thresholds_fired(owner, budget) == [25, 50, 100]
    assert [a["threshold"] for a in await audit_rows(owner, budget)] == [25, 50, 100]


async def test_a_gpt_budget_counts_that_gpts_usage_by_anyone(
    owner: asyncpg.Connection, fresh_crew: Crew
) -> None:
    crew = fresh_crew
    shared = await add_gpt(owner, crew, "x", "budget-model", public=True)
    other = await add_gpt(owner, crew, "x", "budget-model")
    budget = new_budget(crew, gpt_id=shared.id, monthly_limit=2, thresholds=[50])["id"]
    await charge(owner, crew, "5", gpt=other.id)  # the team's other GPT
    await charge(owner, crew, "5")  # no GPT
    assert await thresholds_fired(owner, budget) == []
    await charge(owner, crew, "0.6", actor="user_y", gpt=shared.id)  # team y uses it
    await charge(owner, crew, "0.4", actor="user_x", gpt=shared.id)
    [alert] = await alerts(owner, budget)
    assert (alert["gpt_id"], alert["team_id"], alert["spent"]) == (
        shared.id, crew.teams["x"], Decimal("1.0"),
    )  # fmt: skip


async def test_correcting_a_usage_row_fires_only_what_is_reached(
    owner: asyncpg.Connection, fresh_crew: Crew
) -> None:
    crew = fresh_crew
    budget = new_budget(crew, thresholds=[80])["id"]
    row = await charge(owner, crew, "5")  # 50 %
    await owner.execute(
        "update public.usage_analytics set cost = 6 where id = $1", uuid.UUID(row)
    )  # 60 %
    assert await owner.fetchval(
        "select sum(cost) from public.usage_daily_teams where team_id = $1",
        uuid.UUID(crew.teams["x"]),
    ) == Decimal(6)
    assert await thresholds_fired(owner, budget) == []


async def test_the_budget_list_reports_spend_to_whom_may_see_it(
    owner: asyncpg.Connection, fresh_crew: Crew
) -> None:
    crew = fresh_crew
    bx = new_budget(crew, monthly_limit=4, hard_stop=True, webhook_url="https://192.0.2.1/h")
    by = new_budget(crew, "admin_y", team_id=crew.teams["y"], monthly_limit=100)
    await charge(owner, crew, "5")
    await charge(owner, crew, "1.25", actor="user_y")

    def listed(actor: str) -> dict[str, dict[str, object]]:
        r = crew.get("/api/v1/budgets", actor)
        assert r.status_code == 200, r.text
        body = r.json(parse_float=Decimal)
        assert body["period"] == this_month()
        return {b["id"]: b for b in body["budgets"] if b["team_id"] in crew.teams.values()}

    assert set(listed("super")) == {bx["id"], by["id"]}
    assert listed("user_x") == {} and listed("user_y") == {}
    assert set(listed("admin_y")) == {by["id"]}
    [x] = listed("admin_x").values()
    assert (x["monthly_limit"], x["spent"], x["used_pct"], x["exhausted"]) == (
        Decimal("4.00"), 5, 125, True,
    )  # fmt: skip
    assert (x["hard_stop"], x["has_webhook"], x["currency"], x["thresholds"]) == (
        True, True, "USD", [80, 100],
    )  # fmt: skip
    assert "webhook_url" not in x
    assert [a["threshold"] for a in x["alerts"]] == [80, 100]
    assert {a["webhook_status"] for a in x["alerts"]} <= {"pending", "sending"}
    y = listed("admin_y")[by["id"]]
    assert (y["spent"], y["used_pct"], y["exhausted"], y["alerts"]) == (
        Decimal("1.25"), Decimal("1.25"), False, [],
    )  # fmt: skip


Clients = Callable[..., Awaitable[PySubscriber]]


async def test_alerts_reach_the_teams_admins_and_super_admins_only(
    owner: asyncpg.Connection, fresh_crew: Crew
) -> None:
    crew = fresh_crew
    budget = new_budget(crew, monthly_limit=1, thresholds=[100])["id"]
    watchers: dict[str, PySubscriber] = {}
    try:
        for actor in ("admin_x", "super", "user_x", "user_x2", "admin_y", "user_y"):
            watchers[actor] = await subscribe(
                crew.server, crew.tokens[actor], f"budgets-{uuid.uuid4().hex[:8]}",
                [Change("INSERT", "budget_alerts")],
            )  # fmt: skip
        await charge(owner, crew, "1")
        [alert] = await alerts(owner, budget)
        for actor in ("admin_x", "super"):
            sub = watchers[actor]
            await sub.wait_until(lambda sub=sub: sub.rows("id", alert["id"]))
            [change] = sub.rows("id", alert["id"])
            assert (change["type"], change["table"]) == ("INSERT", "budget_alerts")
            record = change["record"]
            assert (record["budget_id"], record["threshold"], record["team_id"]) == (
                budget, 100, crew.teams["x"],
            )  # fmt: skip
        for actor in ("user_x", "user_x2", "admin_y", "user_y"):
            sub = watchers[actor]
            await sub.barrier()
            assert sub.rows("id", alert["id"]) == [], actor
            assert [d for d in sub.data() if d.get("table") == "budget_alerts"] == [], actor
    finally:
        for sub in watchers.values():
            await sub.close()
