"""/api/v1/analytics: usage stats, cost analysis, dashboard metrics and per-GPT stats, as
JSON or (`format=csv`) CSV. Everything runs as the caller: users see their own usage, team
admins their team's, super admins everything."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gptdesk.analytics import rendering, service
from gptdesk.analytics.query import (
    QueryError,
    Viewer,
    parse_filters,
    parse_range,
    parse_usage,
    refuse_unknown,
)
from gptdesk.analytics.reports import FIGURES
from gptdesk.api import ApiError, signed_in_claims
from gptdesk.auth.routes import request_info

router = APIRouter(prefix="/api/v1/analytics")
gpt_router = APIRouter(prefix="/api/v1/gpts")
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]
RANGE_PARAMS = {"from", "to", "format", "team_id", "gpt_id", "user_id", "model"}


def _format(params: dict[str, str]) -> str:
    fmt = params.get("format", "json")
    if fmt not in rendering.FORMATS:
        raise ApiError(400, "invalid_format", "format must be json or csv")
    return fmt


def _answer(
    fmt: str, body: Any, rows: list[dict[str, Any]], columns: list[str], name: str
) -> Response:
    if fmt == "csv":
        return Response(
            rendering.to_csv(rows, columns),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(rendering.to_json(body), media_type="application/json")


async def _run(
    request: Request,
    claims: dict[str, Any],
    work: Callable[[asyncpg.Connection, Viewer], Awaitable[Any]],
) -> Any:
    scope = request.app.state.scope
    async with scope.as_claims(claims, request=request_info(request), read_only=True) as conn:
        return await work(conn, await service.viewer(conn, claims))


def _parsed(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except QueryError as exc:
        raise ApiError(400, exc.code, str(exc)) from None


def _today() -> Any:
    return datetime.now(UTC).date()


@router.get("/usage")
async def usage_stats(request: Request, claims: Claims) -> Response:
    """Usage over `from`..`to` per `period` (day, week, month) and `group_by` (none, team,
    user, gpt, model): requests, tokens, cost, average and p95 response time."""
    params = dict(request.query_params)
    fmt = _format(params)
    query = _parsed(lambda: parse_usage(params, _today()))
    rows = await _run(
        request,
        claims,
        lambda conn, who: service.usage(
            conn, replace(query, filters=who.narrow(query.filters)), who.mine
        ),
    )
    key = [] if query.group_by == "none" else [query.group_by]
    named = ["name"] if query.group_by in ("team", "user", "gpt") else []
    body = {
        "range": {"from": query.range.start, "to": query.range.end},
        "period": query.period,
        "group_by": query.group_by,
        "rows": rows,
    }
    return _answer(fmt, body, rows, ["period_start", *key, *named, *FIGURES], "usage")


@router.get("/costs")
async def cost_analysis(request: Request, claims: Claims) -> Response:
    """Cost by model, team and GPT over the range; month to date and projected month end."""
    params = dict(request.query_params)
    fmt = _format(params)
    _parsed(lambda: refuse_unknown(params, RANGE_PARAMS))
    range_ = _parsed(lambda: parse_range(params, _today()))
    filters = _parsed(lambda: parse_filters(params))
    now = datetime.now(UTC)
    body = await _run(
        request,
        claims,
        lambda conn, who: service.costs(conn, range_, who.narrow(filters), who.mine, now),
    )
    rows = [
        {"dimension": dimension, "key": r.get(dimension), "name": r.get("name"), **r}
        for dimension in ("model", "team", "gpt")
        for r in body[f"by_{dimension}"]
    ]
    columns = ["dimension", "key", "name", "cost", "requests", "unpriced_requests"]
    return _answer(fmt, body, rows, columns, "costs")


@router.get("/dashboard")
async def dashboard_metrics(request: Request, claims: Claims) -> Response:
    """Usage, costs, active users (daily, weekly, monthly), top GPTs and trends against the
    previous period of the same length (default: the last 30 days)."""
    params = dict(request.query_params)
    fmt = _format(params)
    _parsed(lambda: refuse_unknown(params, RANGE_PARAMS))
    range_ = _parsed(lambda: parse_range(params, _today()))
    filters = _parsed(lambda: parse_filters(params))
    body = await _run(
        request,
        claims,
        lambda conn, who: service.dashboard(conn, range_, who.narrow(filters), who.mine),
    )
    metrics: list[dict[str, Any]] = []
    rendering.flatten(
        "", {k: body[k] for k in ("usage", "costs", "active_users", "trends")}, metrics
    )
    return _answer(fmt, body, metrics, ["metric", "value"], "dashboard")


async def _gpt_stats(request: Request, claims: dict[str, Any], gpt_id: str) -> Response:
    params = dict(request.query_params)
    fmt = _format(params)
    _parsed(lambda: refuse_unknown(params, {"from", "to", "format"}))
    range_ = _parsed(lambda: parse_range(params, _today()))
    try:
        gpt_id = str(uuid.UUID(gpt_id))
    except ValueError:
        raise ApiError(404, "gpt_not_found", "No GPT with this id is one you may see") from None
    body = await _run(
        request, claims, lambda conn, who: service.gpt_stats(conn, gpt_id, range_, who)
    )
    if body is None:
        raise ApiError(404, "gpt_not_found", "No GPT with this id is one you may see")
    return _answer(fmt, body, body["series"], ["period_start", *FIGURES], "gpt-stats")


@router.get("/gpts/{gpt_id}")
async def gpt_stats(request: Request, claims: Claims, gpt_id: str) -> Response:
    """One GPT's usage over the range (the seed's getGPTStats)."""
    return await _gpt_stats(request, claims, gpt_id)


@gpt_router.get("/{gpt_id}/stats")
async def gpt_stats_alias(request: Request, claims: Claims, gpt_id: str) -> Response:
    """The same as /api/v1/analytics/gpts/{gpt_id}."""
    return await _gpt_stats(request, claims, gpt_id)
