"""What the budget tests share: budgets and alerts through /rest/v1 as a crew member, usage
charged to a team this month as the owner, and the alerts and audit rows that follow."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from tests.analytics.crew import Crew
from tests.analytics.usage import Use, insert


def rest(
    crew: Crew,
    method: str,
    path: str,
    actor: str,
    *,
    json: object = None,
    prefer: str | None = "return=representation",
) -> httpx.Response:
    """A /rest/v1 request as `actor` (service_role: the service key)."""
    if actor == "service_role":
        key = crew.server.service_role_key
        headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    else:
        headers = crew.headers(actor)
    if prefer:
        headers["Prefer"] = prefer
    return httpx.request(
        method, f"{crew.server.url}/rest/v1/{path}", headers=headers, json=json, timeout=30
    )


def new_budget(crew: Crew, actor: str = "admin_x", **fields: Any) -> dict[str, Any]:
    """A budget made through /rest/v1 by `actor` (team x's, 10 USD, unless said otherwise)."""
    body = {"team_id": crew.teams["x"], "monthly_limit": 10, **fields}
    r = rest(crew, "POST", "budgets", actor, json=body)
    assert r.status_code == 201, r.text
    [row] = r.json()
    return dict(row)


async def charge(
    conn: asyncpg.Connection,
    crew: Crew,
    cost: str | None,
    *,
    actor: str = "user_x",
    gpt: str | None = None,
    at: datetime | None = None,
    team: str | None = None,
) -> str:
    """One usage row of `actor` costing `cost` now (or `at`), written as the owner; its id."""
    use = Use(
        id=str(uuid.uuid4()),
        user_id=crew.users[actor],
        team_id=team or crew.team_of(actor),
        gpt_id=gpt,
        model="budget-model",
        created_at=at or datetime.now(UTC),
        cost=None if cost is None else Decimal(cost),
        response_ms=200,
        prompt=10,
        completion=10,
    )
    await insert(conn, [use])
    return use.id


async def alerts(conn: asyncpg.Connection, budget_id: str) -> list[dict[str, Any]]:
    """A budget's alerts, lowest threshold first."""
    rows = await conn.fetch(
        "select threshold, spent, monthly_limit, currency, period, team_id::text, gpt_id::text,"
        " webhook_status, webhook_attempts, webhook_error, id::text"
        " from public.budget_alerts where budget_id = $1 order by threshold",
        uuid.UUID(budget_id),
    )
    return [dict(r) for r in rows]


async def thresholds_fired(conn: asyncpg.Connection, budget_id: str) -> list[int]:
    return [a["threshold"] for a in await alerts(conn, budget_id)]


async def audit_rows(conn: asyncpg.Connection, budget_id: str) -> list[dict[str, Any]]:
    """The budget's `budget.threshold_reached` audit rows, oldest first."""
    rows = await conn.fetch(
        "select team_id::text, details::text from public.audit_logs"
        " where action = 'budget.threshold_reached' and resource_type = 'budget'"
        " and resource_id = $1 order by created_at, (details ->> 'threshold')::int",
        uuid.UUID(budget_id),
    )
    return [{"team_id": r["team_id"], **json.loads(r["details"])} for r in rows]


def this_month() -> str:
    return datetime.now(UTC).date().replace(day=1).isoformat()
