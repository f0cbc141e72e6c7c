"""/api/v1/gpts/{id}/…: the approval workflow (approve, reject, suspend, reinstate,
rollback, risk override) and what reviewers see (versions, scores and their reasons).

Each action calls its SECURITY DEFINER function as the caller — the same function
/rest/v1/rpc exposes — so the checks live in one place; a refusal is answered with its
status and code, and audited.
"""

import uuid
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gptdesk.api import ApiError, json_object, signed_in_claims
from gptdesk.auth.routes import request_info
from gptdesk.governance import repository
from gptdesk.governance.refusals import record_refusal

router = APIRouter(prefix="/api/v1/gpts")
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]
RISK_LEVELS = ("low", "medium", "high")


def _gpt_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(404, "gpt_not_found", "No GPT with this id is one you may see") from None


def _arguments(action: str, body: dict[str, Any], fields: tuple[str, ...]) -> list[Any]:
    """The body's fields in argument order, with their types checked."""
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise ApiError(400, "invalid_request", f"Unknown field {unknown[0]!r}")
    values: list[Any] = []
    for field in fields:
        value = body.get(field)
        if field == "version" or field == "compliance_score":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ApiError(400, "invalid_request", f"{field} must be an integer")
            if field == "version" and value is None:
                raise ApiError(400, "invalid_request", "version is required")
        elif field == "risk_level":
            if value is not None and value not in RISK_LEVELS:
                raise ApiError(400, "invalid_request", "risk_level must be low, medium or high")
        elif value is not None and not isinstance(value, str):
            raise ApiError(400, "invalid_request", f"{field} must be a string")
        elif isinstance(value, str) and len(value) > 5000:
            raise ApiError(400, "invalid_request", f"{field} is too long")
        values.append(value)
    return values


def _refusal(error: asyncpg.PostgresError) -> ApiError | None:
    state = getattr(error, "sqlstate", "") or ""
    if state.startswith("PT") and state[2:].isdigit():
        message = getattr(error, "message", None) or "refused"
        return ApiError(int(state[2:]), getattr(error, "detail", None) or "refused", message)
    if state == "42501":
        return ApiError(403, "forbidden", getattr(error, "message", None) or "forbidden")
    return None


@router.post("/{gpt_id}/{action}")
async def transition(request: Request, claims: Claims, gpt_id: str, action: str) -> Response:
    """Run one governance action on the GPT; the body holds its fields (repository.ACTIONS)."""
    if action not in repository.ACTIONS:
        known = ", ".join(repository.ACTIONS)
        raise ApiError(404, "unknown_action", f"No action {action!r}; use {known}")
    name, sql, fields = repository.ACTIONS[action]
    gpt = _gpt_id(gpt_id)
    arguments = _arguments(action, await json_object(request), fields)
    info = request_info(request)
    scope = request.app.state.scope
    try:
        async with scope.as_claims(claims, request=info) as conn:
            state = await repository.transition(conn, sql, gpt, arguments)
    except asyncpg.PostgresError as exc:
        refused = _refusal(exc)
        if refused is None:
            raise
        if refused.status == 403:
            await record_refusal(scope, claims, info, name, gpt, refused.code, refused.message)
        raise refused from None
    return Response(orjson.dumps(state), media_type="application/json")


@router.get("/{gpt_id}/review")
async def review(request: Request, claims: Claims, gpt_id: str) -> Response:
    """What reviewers see: the GPT's state, scores with their reasons, every version."""
    gpt = _gpt_id(gpt_id)
    scope = request.app.state.scope
    async with scope.as_claims(claims, request=request_info(request), read_only=True) as conn:
        found = await repository.review(conn, gpt)
    if found is None:
        raise ApiError(404, "gpt_not_found", "No GPT with this id is one you may see")
    return Response(
        found if isinstance(found, str) else orjson.dumps(found), media_type="application/json"
    )
