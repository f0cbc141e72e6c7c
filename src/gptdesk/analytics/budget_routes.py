"""/api/v1/budgets: the budgets the caller may see (team admins their team's, super admins
all) with this month's spend, the share used and the alerts fired. Budgets are set through
/rest/v1/budgets, where RLS and the table's checks decide."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gptdesk.analytics import service
from gptdesk.analytics.rendering import to_json
from gptdesk.api import signed_in_claims
from gptdesk.auth.routes import request_info

router = APIRouter(prefix="/api/v1/budgets")
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]


@router.get("")
async def list_budgets(request: Request, claims: Claims) -> Response:
    """Budgets with this month's (UTC) spend, share used and alerts."""
    period = datetime.now(UTC).date().replace(day=1)
    scope = request.app.state.scope
    async with scope.as_claims(claims, request=request_info(request), read_only=True) as conn:
        rows = await service.budgets(conn, period)
    return Response(to_json({"period": period, "budgets": rows}), media_type="application/json")
