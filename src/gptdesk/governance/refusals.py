"""Refused governance actions, audited after the refusal rolled their transaction back.

A transition function refuses with SQLSTATE PT403 and a stable code as the detail; the
attempt (say, a user approving their own GPT) must still leave a trace, so the server
records it in a transaction of its own, as the same caller, through record_gpt_refusal.
"""

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson
import structlog

from gptdesk.db.scope import RequestInfo, Scope

# The transition functions (as /rest/v1/rpc names them) and the action each records.
TRANSITIONS = {
    "approve_gpt": "approve",
    "reject_gpt": "reject",
    "suspend_gpt": "suspend",
    "reinstate_gpt": "reinstate",
    "rollback_gpt": "rollback",
    "override_gpt_risk": "override_risk",
}
log = structlog.get_logger(__name__)


def refused_rpc(path: str, query: Mapping[str, str], body: bytes) -> tuple[str, str] | None:
    """(action, gpt_id) when a /rest/v1 path is a transition call naming a GPT."""
    function = path.removeprefix("rpc/") if path.startswith("rpc/") else None
    action = TRANSITIONS.get(function or "")
    if action is None:
        return None
    gpt_id: Any = query.get("gpt_id")
    if gpt_id is None and body.strip():
        try:
            arguments = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        gpt_id = arguments.get("gpt_id") if isinstance(arguments, dict) else None
    try:
        return action, str(uuid.UUID(str(gpt_id)))
    except ValueError:
        return None


async def record_refusal(
    scope: Scope,
    claims: Mapping[str, Any] | None,
    request: RequestInfo,
    action: str,
    gpt_id: str,
    code: str,
    message: str,
) -> None:
    """Audit `gpt.<action>_refused` as the caller; a failure here is logged, not raised."""
    if not claims or claims.get("role") not in ("authenticated", "service_role"):
        return
    try:
        async with scope.as_claims(claims, request=request) as conn:
            await conn.execute(
                "select public.record_gpt_refusal($1::uuid, $2, $3, $4)",
                gpt_id,
                action,
                code,
                message,
            )
    except (asyncpg.PostgresError, OSError) as exc:
        log.warning("governance.refusal_not_recorded", action=action, gpt_id=gpt_id, error=str(exc))
