"""The governance functions of migrations/0023 as the routes call them: each action's SQL
and the body fields that are its arguments, and what reviewers see of a GPT."""

from typing import Any

import asyncpg

# action → (function call with $1 the GPT, the body fields in argument order)
ACTIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "approve": ("approve", "select public.approve_gpt($1::uuid, $2)", ("comment",)),
    "reject": ("reject", "select public.reject_gpt($1::uuid, $2)", ("comment",)),
    "suspend": ("suspend", "select public.suspend_gpt($1::uuid, $2)", ("reason",)),
    "reinstate": ("reinstate", "select public.reinstate_gpt($1::uuid, $2)", ("comment",)),
    "rollback": (
        "rollback",
        "select public.rollback_gpt($1::uuid, $2::integer, $3)",
        ("version", "comment"),
    ),
    "risk-override": (
        "override_risk",
        "select public.override_gpt_risk($1::uuid, $2::public.risk_level, $3::integer, $4)",
        ("risk_level", "compliance_score", "justification"),
    ),
}
_REVIEW = """
select pg_catalog.jsonb_build_object(
  'gpt', governance_state,
  'versions', coalesce((select pg_catalog.jsonb_agg(pg_catalog.to_jsonb(v) order by v.version desc)
                          from public.gpt_versions v where v.gpt_id = g.id), '[]'::jsonb))
  from public.gpts g,
       lateral (select pg_catalog.jsonb_build_object(
         'id', g.id, 'name', g.name, 'team_id', g.team_id, 'creator_id', g.creator_id,
         'status', g.status, 'approval_status', g.approval_status, 'version', g.version,
         'approved_version', g.approved_version, 'published', g.published,
         'risk_level', g.risk_level, 'compliance_score', g.compliance_score,
         'risk_reasons', g.risk_reasons, 'risk_override', g.risk_override,
         'reviewer', g.reviewer) as governance_state) s
 where g.id = $1::uuid
"""


async def transition(conn: asyncpg.Connection, sql: str, gpt_id: str, arguments: list[Any]) -> Any:
    """Run one action's function as the connection's caller; the GPT's state after it."""
    return await conn.fetchval(sql, gpt_id, *arguments)


async def review(conn: asyncpg.Connection, gpt_id: str) -> Any:
    """The GPT's state and versions, or None when the caller cannot see it."""
    return await conn.fetchval(_REVIEW, gpt_id)
