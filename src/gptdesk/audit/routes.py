"""/api/v1/audit: export the trail the caller may read (JSONL or CSV, streamed, in chain
order; RLS decides the rows: team admins their team's, super admins all) and purge old rows
(super admins; the purge is itself audited)."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, StreamingResponse

from gptdesk.api import ApiError, json_object, signed_in_claims
from gptdesk.audit import trail
from gptdesk.audit.export import FORMATS, FilterError, parse_filters, parse_time
from gptdesk.auth.routes import request_info

router = APIRouter(prefix="/api/v1/audit")
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]


@router.get("/export")
async def export_audit(request: Request, claims: Claims) -> StreamingResponse:
    """Rows matching the query's filters (since, until, action, resource_type, resource_id,
    team_id, user_id) as `format` jsonl (default) or csv."""
    params = dict(request.query_params)
    fmt = params.get("format", "jsonl")
    if fmt not in FORMATS:
        raise ApiError(400, "invalid_format", "format must be jsonl or csv")
    try:
        filters = parse_filters(params)
    except FilterError as exc:
        raise ApiError(400, "invalid_filter", str(exc)) from None
    scope = request.app.state.scope
    info = request_info(request)

    async def lines() -> AsyncIterator[bytes]:
        async with scope.as_claims(claims, request=info, read_only=True) as conn:
            async for line in trail.export(conn, filters, fmt):
                yield line

    extension = "jsonl" if fmt == "jsonl" else "csv"
    return StreamingResponse(
        lines(),
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="audit.{extension}"'},
    )


@router.post("/purge")
async def purge_audit(request: Request, claims: Claims) -> JSONResponse:
    """Remove rows older than `older_than` from the start of the chain, with a
    `justification`; super admins only."""
    body = await json_object(request)
    older_than, justification = body.get("older_than"), body.get("justification")
    if not isinstance(older_than, str) or not older_than:
        raise ApiError(400, "invalid_request", "older_than must be an ISO date or timestamp")
    if not isinstance(justification, str) or not justification.strip():
        raise ApiError(400, "invalid_request", "A justification is required")
    try:
        cutoff = parse_time("older_than", older_than)
    except FilterError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    try:
        async with request.app.state.scope.as_claims(claims, request=request_info(request)) as conn:
            removed = await trail.purge(conn, cutoff, justification)
    except asyncpg.InsufficientPrivilegeError:
        raise ApiError(403, "forbidden", "Only super admins may purge audit logs") from None
    except asyncpg.InvalidParameterValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    return JSONResponse({"removed": removed, "older_than": cutoff.isoformat()})
