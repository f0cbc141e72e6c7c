"""Answering analytics requests on a connection that runs as the caller (RLS decides)."""

import calendar
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from gptdesk.analytics import reports
from gptdesk.analytics.query import (
    DateRange,
    Filters,
    UsageQuery,
    Viewer,
    active_users_sql,
    relation_for,
    top_gpts_sql,
    totals_sql,
    usage_sql,
    where_clause,
)

TOP_GPTS = 10
_BUDGETS = """
select b.id::text, b.team_id::text, b.gpt_id::text, b.monthly_limit, b.currency,
       b.thresholds, b.hard_stop, b.webhook_url is not null as has_webhook,
       s.spent, round(100 * s.spent / b.monthly_limit, 2) as used_pct,
       s.spent >= b.monthly_limit as exhausted,
       coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                  'threshold', a.threshold, 'spent', a.spent, 'at', a.created_at,
                  'webhook_status', a.webhook_status) order by a.threshold)
                   from public.budget_alerts a
                  where a.budget_id = b.id and a.period = $1), '[]'::jsonb) as alerts
  from public.budgets b,
       lateral (select case when b.gpt_id is null
           then (select coalesce(sum(t.cost), 0) from public.usage_daily_teams t
                  where t.team_id = b.team_id and t.day >= $1)
           else (select coalesce(sum(g.cost), 0) from public.usage_daily_gpts g
                  where g.gpt_id = b.gpt_id and g.day >= $1) end as spent) s
 order by b.team_id, b.gpt_id nulls first
"""

COST_FIGURES = ("cost", "requests", "unpriced_requests")


async def viewer(conn: asyncpg.Connection, claims: dict[str, Any]) -> Viewer:
    """Who the caller is to analytics (their role's powers as the database sees them)."""
    if claims.get("role") == "service_role":
        return Viewer()
    row = await conn.fetchrow(
        "select public.get_user_role(auth.uid())::text as role,"
        " public.get_user_team_id(auth.uid())::text as team, auth.uid()::text as uid"
    )
    if row["role"] == "super_admin":
        return Viewer()
    if row["role"] == "admin" and row["team"]:
        return Viewer(team_id=row["team"])
    return Viewer(mine=True, user_id=row["uid"])


async def usage(conn: asyncpg.Connection, query: UsageQuery, mine: bool) -> list[dict[str, Any]]:
    """Usage rows per period and group."""
    sql, args = usage_sql(query, mine)
    return reports.usage_rows(await conn.fetch(sql, *args), query.group_by)


async def _totals(
    conn: asyncpg.Connection, range_: DateRange, filters: Filters, group_by: str, mine: bool
) -> list[dict[str, Any]]:
    sql, args = totals_sql(range_, filters, group_by, mine)
    rows = reports.usage_rows(await conn.fetch(sql, *args), group_by)
    for row in rows:
        row.pop("period_start")
    return rows


async def _total(
    conn: asyncpg.Connection, range_: DateRange, filters: Filters, mine: bool
) -> dict[str, Any]:
    rows = await _totals(conn, range_, filters, "none", mine)
    return rows[0] if rows else reports.figures({})


async def _active_users(
    conn: asyncpg.Connection, ends: tuple[date, ...], filters: Filters, mine: bool
) -> list[dict[str, int]]:
    """Distinct users on each of `ends` (latest last), in the 7 and in the 30 days to it: from
    the users' active days when only a team or user narrows it (one statement for all),
    else from the smallest relation that can."""
    relation = relation_for(filters.dimensions() | {"user"}, mine)
    if relation == "public.usage_daily_users":
        conditions = [
            (column, value)
            for column, value in (
                ("team_id", filters.team_id),
                ("user_id", filters.user_id),
                ("team_id", filters.within_team),
                ("user_id", filters.within_user),
            )
            if value
        ]
        sql, args = active_users_sql(ends, conditions)
        row = await conn.fetchrow(sql, *args)
        return [
            {w: row[f"{w}_{i}"] for w in ("daily", "weekly", "monthly")} for i in range(len(ends))
        ]
    found = []
    for end in ends:
        args = [end - timedelta(days=29), end]
        where = where_clause(filters, args)
        row = await conn.fetchrow(
            "select count(distinct r.user_id) filter (where r.day = $2) as daily,"
            " count(distinct r.user_id) filter (where r.day > $2 - 7) as weekly,"
            f" count(distinct r.user_id) as monthly from {relation} r"
            f" where {where} and r.requests > 0",
            *args,
        )
        found.append({"daily": row["daily"], "weekly": row["weekly"], "monthly": row["monthly"]})
    return found


async def dashboard(
    conn: asyncpg.Connection, range_: DateRange, filters: Filters, mine: bool
) -> dict[str, Any]:
    """The seed's getDashboardMetrics: usage, costs, active users, top GPTs and trends
    against the previous period of the same length, with the daily series."""
    previous = range_.previous()
    # both periods' days in one read: the totals are their sums, the series the current days
    sql, args = usage_sql(UsageQuery(DateRange(previous.start, range_.end), filters=filters), mine)
    days = await conn.fetch(sql, *args)
    current = [row for row in days if row["period_start"] >= range_.start]
    now_total = reports.figures(reports.summed(current))
    before_total = reports.figures(
        reports.summed([row for row in days if row["period_start"] < range_.start])
    )
    active_before, active = await _active_users(conn, (previous.end, range_.end), filters, mine)
    sql, args = top_gpts_sql(range_, filters, mine, TOP_GPTS)
    top_ids = tuple(row["gpt"] for row in await conn.fetch(sql, *args))
    top = await _totals(conn, range_, replace(filters, gpt_ids=top_ids), "gpt", mine)
    top.sort(key=lambda r: (-r["requests"], -r["cost"]))
    series = reports.usage_rows(current, "none")
    return {
        "range": {"from": range_.start, "to": range_.end},
        "previous_range": {"from": previous.start, "to": previous.end},
        "usage": {
            k: now_total[k]
            for k in (
                "requests",
                "failed_requests",
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "avg_response_ms",
                "p95_response_ms",
            )
        },
        "costs": {"total": now_total["cost"], "unpriced_requests": now_total["unpriced_requests"]},
        "active_users": active,
        "top_gpts": top,
        "trends": {
            "requests": reports.change(now_total["requests"], before_total["requests"]),
            "total_tokens": reports.change(now_total["total_tokens"], before_total["total_tokens"]),
            "cost": reports.change(now_total["cost"], before_total["cost"]),
            "active_users": reports.change(active["monthly"], active_before["monthly"]),
        },
        "series": [
            {
                "day": r["period_start"],
                "requests": r["requests"],
                "cost": r["cost"],
                "total_tokens": r["total_tokens"],
            }
            for r in series
        ],
    }


def month_projection(month_to_date: Decimal, now: datetime) -> Decimal:
    """The month's cost at its end if spending goes on at the pace so far (UTC month)."""
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    days = calendar.monthrange(now.year, now.month)[1]
    elapsed = (now - start).total_seconds()
    if elapsed <= 0:
        return month_to_date
    return (month_to_date * Decimal(days * 86400) / Decimal(elapsed)).quantize(Decimal("0.000001"))


async def costs(
    conn: asyncpg.Connection, range_: DateRange, filters: Filters, mine: bool, now: datetime
) -> dict[str, Any]:
    """Cost over the range by model, team and GPT; month to date and the projection."""
    by: dict[str, list[dict[str, Any]]] = {}
    for group in ("model", "team", "gpt"):
        rows = await _totals(conn, range_, filters, group, mine)
        by[group] = sorted(
            (
                {
                    k: r[k]
                    for k in (group, "name", "cost", "requests", "unpriced_requests")
                    if k in r
                }
                for r in rows
            ),
            key=lambda r: -r["cost"],
        )
    total = await _total(conn, range_, filters, mine)
    today = now.astimezone(UTC).date()
    month = DateRange(today.replace(day=1), today)
    to_date = (await _total(conn, month, filters, mine))["cost"]
    return {
        "range": {"from": range_.start, "to": range_.end},
        "total": total["cost"],
        "unpriced_requests": total["unpriced_requests"],
        "by_model": by["model"],
        "by_team": by["team"],
        "by_gpt": by["gpt"],
        "month": {
            "from": month.start,
            "to_date": to_date,
            "projected_month_end": month_projection(to_date, now),
        },
    }


async def gpt_stats(
    conn: asyncpg.Connection, gpt_id: str, range_: DateRange, who: Viewer
) -> dict[str, Any] | None:
    """The seed's getGPTStats for one GPT the caller can see (None when they cannot)."""
    gpt = await conn.fetchrow(
        "select id::text, name, status::text, approval_status::text, usage_count, rating,"
        " monthly_cost, team_id::text from public.gpts where id = $1::uuid",
        gpt_id,
    )
    if gpt is None:
        return None
    filters = who.narrow(Filters(gpt_id=gpt_id))
    mine = who.mine
    total = await _total(conn, range_, filters, mine)
    users = await conn.fetchval(
        "select count(distinct u.user_id) from public.usage_analytics u"
        " where u.gpt_id = $1::uuid and u.created_at >= $2::date::timestamp at time zone 'UTC'"
        " and u.created_at < ($3::date + 1)::timestamp at time zone 'UTC'",
        gpt_id,
        range_.start,
        range_.end,
    )
    series = await usage(conn, UsageQuery(range_, "day", "none", filters), mine)
    by_model = await _totals(conn, range_, filters, "model", mine)
    return {
        "gpt": dict(gpt),
        "range": {"from": range_.start, "to": range_.end},
        **total,
        "unique_users": users,
        "by_model": by_model,
        "series": series,
    }


async def budgets(conn: asyncpg.Connection, period: date) -> list[dict[str, Any]]:
    """The budgets the caller may see, with the spend of the month starting `period`."""
    return [dict(r) for r in await conn.fetch(_BUDGETS, period)]
