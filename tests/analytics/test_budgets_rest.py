"""Budgets and budget alerts through /rest/v1, as a table of cases: who may read, make,
change and remove which team's budgets (team admins their team's, super admins all, users
and the signed-out nothing), that alerts are read-only for every request role, and that
invalid budgets are refused with PostgREST's 400 and leave nothing behind."""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.analytics.budget_world import new_budget, rest
from tests.analytics.crew import Crew, Gpt, add_gpt
from tests.conftest import MigratedDatabase
from tests.helpers import owner_query


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gpts(owner: asyncpg.Connection, crew: Crew) -> AsyncIterator[dict[str, Gpt]]:
    """A GPT of each team."""
    yield {
        "x": await add_gpt(owner, crew, "x", "budget-rest-model"),
        "y": await add_gpt(owner, crew, "y", "budget-rest-model"),
    }


@pytest.fixture
def budgets(crew: Crew, db: MigratedDatabase) -> Iterator[None]:
    """The test's budgets (and their alerts) are removed afterwards."""
    yield
    owner_query(
        db, "delete from public.budgets where team_id = any($1::uuid[])", list(crew.teams.values())
    )


def stored(db: MigratedDatabase, crew: Crew) -> list[tuple[Any, ...]]:
    return owner_query(
        db,
        "select team_id::text, gpt_id::text, monthly_limit from public.budgets"
        " where team_id = any($1::uuid[]) order by team_id, gpt_id nulls first",
        list(crew.teams.values()),
    )


# actor, team the budget is for -> status of the POST (PostgREST: RLS refusals are 403,
# the signed-out 401)
MAKE = [
    ("super", "x", 201),
    ("super", "y", 201),
    ("service_role", "y", 201),
    ("admin_x", "x", 201),
    ("admin_x", "y", 403),
    ("admin_y", "x", 403),
    ("user_x", "x", 403),
    ("user_y", "y", 403),
    ("anon", "x", 401),
]


@pytest.mark.parametrize(("actor", "team", "status"), MAKE)
def test_who_may_make_a_team_budget(
    crew: Crew, db: MigratedDatabase, budgets: None, actor: str, team: str, status: int
) -> None:
    r = rest(crew, "POST", "budgets", actor, json={"team_id": crew.teams[team], "monthly_limit": 5})
    assert r.status_code == status, r.text
    expected = [(crew.teams[team], None, Decimal("5.00"))] if status == 201 else []
    assert stored(db, crew) == expected
    if status == 201:
        [row] = r.json()
        assert (row["thresholds"], row["currency"], row["hard_stop"]) == ([80, 100], "USD", False)


@pytest.mark.parametrize(
    ("actor", "gpt", "claimed", "status"),
    [
        ("admin_x", "x", "x", 201),
        ("admin_x", "y", "x", 403),  # the GPT's team decides, not the request
        ("admin_y", "y", "x", 201),  # stored as team y's
        ("user_x", "x", "x", 403),
        ("super", "y", "x", 201),
    ],
)
def test_a_gpt_budget_belongs_to_the_gpts_team(
    crew: Crew, db: MigratedDatabase, budgets: None, gpts: dict[str, Gpt],
    actor: str, gpt: str, claimed: str, status: int,
) -> None:  # fmt: skip
    body = {"team_id": crew.teams[claimed], "gpt_id": gpts[gpt].id, "monthly_limit": 3}
    r = rest(crew, "POST", "budgets", actor, json=body)
    assert r.status_code == status, r.text
    expected = [(crew.teams[gpt], gpts[gpt].id, Decimal("3.00"))] if status == 201 else []
    assert stored(db, crew) == expected


def test_who_reads_changes_and_removes_which_budgets(
    crew: Crew, db: MigratedDatabase, budgets: None
) -> None:
    bx = new_budget(crew, "super", team_id=crew.teams["x"])
    by = new_budget(crew, "super", team_id=crew.teams["y"])
    seen = {
        actor: {row["id"] for row in rest(crew, "GET", "budgets?select=id", actor).json()}
        for actor in ("super", "admin_x", "admin_y", "user_x", "user_y")
    }
    assert seen == {
        "super": {bx["id"], by["id"]}, "admin_x": {bx["id"]}, "admin_y": {by["id"]},
        "user_x": set(), "user_y": set(),
    }  # fmt: skip
    assert rest(crew, "GET", "budgets", "anon").status_code == 401

    # changes and removals of rows one may not see touch nothing
    for actor, target in (("admin_x", by), ("user_x", bx), ("user_y", by)):
        r = rest(crew, "PATCH", f"budgets?id=eq.{target['id']}", actor, json={"monthly_limit": 1})
        assert r.status_code == 200 and r.json() == [], (actor, r.text)
        r = rest(crew, "DELETE", f"budgets?id=eq.{target['id']}", actor)
        assert r.status_code == 200 and r.json() == [], (actor, r.text)
    assert [row[2] for row in stored(db, crew)] == [Decimal("10.00"), Decimal("10.00")]

    # an admin changes their team's budget, but cannot hand it to the other team
    r = rest(crew, "PATCH", f"budgets?id=eq.{bx['id']}", "admin_x", json={"monthly_limit": 12.5})
    assert r.status_code == 200 and r.json()[0]["monthly_limit"] == 12.5, r.text
    moved = {"team_id": crew.teams["y"]}
    r = rest(crew, "PATCH", f"budgets?id=eq.{bx['id']}", "admin_x", json=moved)
    assert r.status_code == 403, r.text
    r = rest(crew, "DELETE", f"budgets?id=eq.{bx['id']}", "admin_x")
    assert r.status_code == 200 and [row["id"] for row in r.json()] == [bx["id"]]
    assert stored(db, crew) == [(crew.teams["y"], None, Decimal("10.00"))]


@pytest_asyncio.fixture(loop_scope="session")
async def two_alerts(
    owner: asyncpg.Connection, crew: Crew, budgets: None
) -> AsyncIterator[dict[str, str]]:
    """An alert of each team's budget, written as the owner."""
    made = {}
    period = datetime.now(UTC).date().replace(day=1)
    for team in ("x", "y"):
        budget = await owner.fetchval(
            "insert into public.budgets (team_id, monthly_limit) values ($1, 10) returning id",
            uuid.UUID(crew.teams[team]),
        )
        made[team] = str(
            await owner.fetchval(
                "insert into public.budget_alerts (budget_id, team_id, period, threshold, spent,"
                " monthly_limit, currency) values ($1, $2, $3, 80, 8, 10, 'USD') returning id",
                budget, uuid.UUID(crew.teams[team]), period,
            )
        )  # fmt: skip
    yield made


def test_alerts_are_read_by_admins_and_written_by_no_request_role(
    crew: Crew, two_alerts: dict[str, str]
) -> None:
    seen = {
        actor: {row["id"] for row in rest(crew, "GET", "budget_alerts?select=id", actor).json()}
        for actor in ("super", "admin_x", "admin_y", "user_x", "user_y")
    }
    assert seen == {
        "super": set(two_alerts.values()), "admin_x": {two_alerts["x"]},
        "admin_y": {two_alerts["y"]}, "user_x": set(), "user_y": set(),
    }  # fmt: skip
    assert rest(crew, "GET", "budget_alerts", "anon").status_code == 401
    for actor in ("super", "admin_x", "service_role"):
        r = rest(crew, "PATCH", f"budget_alerts?id=eq.{two_alerts['x']}", actor,
                 json={"threshold": 1})  # fmt: skip
        assert r.status_code == 403, (actor, r.text)
        r = rest(crew, "DELETE", f"budget_alerts?id=eq.{two_alerts['x']}", actor)
        assert r.status_code == 403, (actor, r.text)
        r = rest(crew, "POST", "budget_alerts", actor, json={"threshold": 1})
        assert r.status_code == 403, (actor, r.text)
    assert {row["id"] for row in rest(crew, "GET", "budget_alerts?select=id", "super").json()} == (
        set(two_alerts.values())
    )


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("negative limit", {"monthly_limit": -5}, "23514"),
    ("zero limit", {"monthly_limit": 0}, "23514"),
    ("rounded to zero", {"monthly_limit": 0.001}, "23514"),
    ("text limit", {"monthly_limit": "ten"}, "22P02"),
    ("missing limit", {"monthly_limit": None}, "23502"),
    ("huge limit", {"monthly_limit": 10**13}, "22003"),
    ("no thresholds", {"thresholds": []}, "23514"),
    ("zero threshold", {"thresholds": [0, 80]}, "23514"),
    ("threshold too high", {"thresholds": [1001]}, "23514"),
    ("null threshold", {"thresholds": [50, None]}, "23514"),
    ("eleven thresholds", {"thresholds": list(range(10, 120, 10))}, "23514"),
    ("text threshold", {"thresholds": ["half"]}, "22P02"),
    ("lowercase currency", {"currency": "usd"}, "23514"),
    ("short currency", {"currency": "US"}, "23514"),
    ("long currency", {"currency": "DOLLARS"}, "22001"),
    ("ftp webhook", {"webhook_url": "ftp://example.com/hook"}, "23514"),
    ("script webhook", {"webhook_url": "javascript:alert(1)"}, "23514"),
    ("hostless webhook", {"webhook_url": "https://"}, "23514"),
    ("spaced webhook", {"webhook_url": "https://example.com/a b"}, "23514"),
    ("unknown gpt", {"gpt_id": str(uuid.uuid4())}, "23514"),
]


@pytest.mark.parametrize(("fields", "code"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
@pytest.mark.parametrize("actor", ("admin_x", "super"))
def test_invalid_budgets_are_refused(
    crew: Crew, db: MigratedDatabase, budgets: None, actor: str, fields: dict[str, Any], code: str
) -> None:
    body = {"team_id": crew.teams["x"], "monthly_limit": 10, **fields}
    r = rest(crew, "POST", "budgets", actor, json=body)
    assert r.status_code == 400, r.text
    error = r.json()
    assert set(error) == {"code", "details", "hint", "message"} and error["code"] == code, error
    assert stored(db, crew) == []


def test_invalid_changes_are_refused_and_thresholds_kept_tidy(
    crew: Crew, db: MigratedDatabase, budgets: None
) -> None:
    made = new_budget(crew, thresholds=[100, 50, 80, 50], currency="EUR")
    assert (made["thresholds"], made["currency"]) == ([50, 80, 100], "EUR")
    for fields in ({"monthly_limit": -1}, {"monthly_limit": "lots"}, {"thresholds": []}):
        r = rest(crew, "PATCH", f"budgets?id=eq.{made['id']}", "admin_x", json=fields)
        assert r.status_code == 400, (fields, r.text)
    assert stored(db, crew) == [(crew.teams["x"], None, Decimal("10.00"))]
    again = rest(crew, "POST", "budgets", "admin_x",
                 json={"team_id": crew.teams["x"], "monthly_limit": 20})  # fmt: skip
    assert again.status_code == 409 and again.json()["code"] == "23505", again.text
