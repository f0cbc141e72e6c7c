"""The message search's SQL: full-text search over what the caller may read, ranked.

Runs in the caller's request scope, so RLS on chat_messages and chat_sessions decides what
can match: a user finds their own messages only. The WHERE clause repeats the expression
of the GIN index (to_tsvector('english', content)) so PostgreSQL uses it.
"""

from typing import Any

import asyncpg

from gptdesk.chat.search import SearchQuery

_SEARCH = """
select m.id, m.session_id, s.title as session_title, s.gpt_id, m.sender::text as sender,
       m.created_at, r.rank,
       ts_headline('english', m.content, q.query,
                   'StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MaxWords=24, MinWords=8')
         as snippet
  from websearch_to_tsquery('english', $1) as q(query)
  join public.chat_messages m on to_tsvector('english', m.content) @@ q.query
  join public.chat_sessions s on s.id = m.session_id
 cross join lateral (select ts_rank(to_tsvector('english', m.content), q.query) as rank) r
 where ($2::uuid is null or s.gpt_id = $2)
   and ($3::timestamptz is null or m.created_at >= $3)
   and ($4::timestamptz is null or m.created_at < $4)
   and ($5::real is null or (r.rank, m.created_at, m.id) < ($5::real, $6::timestamptz, $7::uuid))
 order by r.rank desc, m.created_at desc, m.id desc
 limit $8
"""


async def search_messages(conn: asyncpg.Connection, query: SearchQuery) -> list[dict[str, Any]]:
    """One page of matches (one more than asked, to tell whether another page follows)."""
    after = query.after
    rows = await conn.fetch(
        _SEARCH,
        query.text,
        query.gpt_id,
        query.since,
        query.until,
        after.rank if after else None,
        after.created_at if after else None,
        after.id if after else None,
        query.limit + 1,
    )
    return [dict(row) for row in rows]
