"""/api/v1/budgets: the budgets the caller may see (team admins their team's, super admins
all) with this month's spend, the share used and the alerts fired. Budgets are set through
/rest/v1/budgets, where RLS and the table's checks decide."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gptdesk.analytics.rendering import to_json
from gptdesk.api import signed_in_claims
from gptdesk.auth.routes import request_info

router = APIRouter(prefix="/api/v1/budgets")
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]
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


@router.get("")
async def list_budgets(request: Request, claims: Claims) -> Response:
    """Budgets with this month's (UTC) spend, share used and alerts."""
    period = datetime.now(UTC).date().replace(day=1)
    scope = request.app.state.scope
    async with scope.as_claims(claims, request=request_info(request), read_only=True) as conn:
        rows = [dict(r) for r in await conn.fetch(_BUDGETS, period)]
    return Response(to_json({"period": period, "budgets": rows}), media_type="application/json")
