"""The client tests' world: the catalog of GPTs, its ids, and helpers for supabase-py queries.

The client tests (tests/rest/test_client_*.py) run against the RLS world (tests/rls/world.sql)
plus a catalog of GPTs the owner adds for each module (the `catalog` fixture in
tests/rest/conftest.py), so ordering, paging, search and array/JSON filters have rows to
work on. Every row a test writes is named or titled `tmp …` (or is a rating of the world's
public GPT) and is removed by the `scratch` fixture after the test, so no test sees
another's writes; the catalog itself is removed when its module is done. Where the client
hides the status or headers, a test makes the same request over raw HTTP (`rest`).
"""

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from postgrest.exceptions import APIError
from supabase import Client

from tests.conftest import MigratedDatabase
from tests.rest.world import TEAM_A, TEAM_B, USERS

ClientFor = Callable[[str], Client]

USER_A = USERS["user_a"]
ADMIN_A = USERS["admin_a"]
USER_B = USERS["user_b"]
GPT_A_PRIVATE = "30000000-0000-4000-8000-0000000000a1"
GPT_A_PUBLIC = "30000000-0000-4000-8000-0000000000a2"
GPT_B_PRIVATE = "30000000-0000-4000-8000-0000000000b1"
SESSION_A = "40000000-0000-4000-8000-0000000000a1"
QUESTION = "What is our travel policy?"
ANSWER = "Book economy and file receipts within 30 days."

DESK_HELPER = "31000000-0000-4000-8000-000000000001"
DESK_WRITER = "31000000-0000-4000-8000-000000000002"
CODE_BOT = "31000000-0000-4000-8000-000000000003"
SALES_COACH = "31000000-0000-4000-8000-000000000004"
LEGAL_REVIEWER = "31000000-0000-4000-8000-000000000005"
B_DESK_BOT = "31000000-0000-4000-8000-000000000021"
WRITER_DESCRIPTION = 'Drafts replies, "politely"'
ACTIVE_IN_A = 14  # the world's two GPTs, four catalog GPTs and eight fillers (usage 11 … 18)
ALL_IN_A = 15  # and the inactive Legal Reviewer

CATALOG = f"""
insert into public.gpts
  (id, name, description, category, status, team_id, creator_id, usage_count, tags,
   settings, is_public, approval_status)
values
  ('{DESK_HELPER}', 'Desk Helper', 'Answers helpdesk tickets', 'support', 'active',
   '{TEAM_A}', '{ADMIN_A}', 50, '{{support,email,"customer care"}}',
   '{{"model": "gpt-4o", "voice": {{"tone": "formal"}}, "languages": ["en", "fr"]}}', false,
   'approved'),
  ('{DESK_WRITER}', 'Desk Writer', $${WRITER_DESCRIPTION}$$, 'writing', 'active',
   '{TEAM_A}', '{USER_A}', 40, '{{writing,email}}', '{{"model": "gpt-4"}}', false, 'approved'),
  ('{CODE_BOT}', 'Code Bot', 'Reviews pull requests for the desk team', 'engineering',
   'active', '{TEAM_A}', '{USER_A}', 30, '{{code}}', '{{"model": "gpt-4o"}}', false,
   'approved'),
  ('{SALES_COACH}', 'Sales Coach', null, 'sales', 'active',
   '{TEAM_A}', '{ADMIN_A}', 25, '{{}}', '{{}}', false, 'approved'),
  ('{LEGAL_REVIEWER}', 'Legal Reviewer', 'Checks contracts', 'legal', 'inactive',
   '{TEAM_A}', '{ADMIN_A}', 100, '{{legal}}', '{{}}', false, 'approved'),
  ('{B_DESK_BOT}', 'Team B Desk Bot', 'Public desk bot of team B', 'support', 'active',
   '{TEAM_B}', '{USER_B}', 999, '{{support}}', '{{}}', true, 'approved');
insert into public.gpts
  (id, name, description, category, status, team_id, creator_id, usage_count, approval_status)
select ('31000000-0000-4000-8000-0000000001' || lpad(n::text, 2, '0'))::uuid,
       'Filler ' || lpad(n::text, 2, '0'), 'Filler', 'misc', 'active',
       '{TEAM_A}', '{ADMIN_A}', 10 + n, 'approved'
from generate_series(1, 8) n;
"""

UNCATALOG = "delete from public.gpts where id::text like '31000000-%'"

# Everything a test may have written: `tmp …` GPTs and chats (messages cascade), ratings of
# the world's public GPT (its rating is recomputed to 0), user_a's preferences.
SCRATCH_CLEANUP = f"""
delete from public.gpts where name like 'tmp %';
delete from public.chat_sessions where title like 'tmp %';
delete from public.gpt_ratings where gpt_id = '{GPT_A_PUBLIC}';
update public.users set preferences = '{{}}' where id = '{USER_A}';
"""


def owner_execute(db: MigratedDatabase, sql: str) -> None:
    """Run SQL (several statements, no parameters) as the owner."""

    async def run() -> None:
        conn = await asyncpg.connect(db.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def names(rows: list[Any]) -> list[str]:
    """The `name` of each row, in order."""
    return [row["name"] for row in rows]


def team_a_gpts(client: Client, columns: str = "name") -> Any:
    """A select of team A's GPTs (the start of most filter tests)."""
    return client.table("gpts").select(columns).eq("team_id", TEAM_A)


def api_error(call: Callable[[], object]) -> APIError:
    """The APIError a client call raises."""
    with pytest.raises(APIError) as caught:
        call()
    return caught.value
