"""Message search on a million messages: what /api/v1/search/messages runs, under RLS.

Usage: python -m bench.chat_search [--messages 1000000] [--users 1000] [--seconds 10]

Loads USERS users (one team each, one GPT per team) with 10 chat sessions each and
MESSAGES messages spread evenly over the sessions, their words drawn from a 2,000-word
vocabulary with a Zipf-like skew (common words in most messages, rare ones in few). Then,
for each kind of query — a common word, a rare word, two words — runs the endpoint's
statement (`gptdesk.chat.search_repository.search_messages`, first page of 20) as random
users inside `Scope.as_claims(user)` at concurrency 1 and 8 for SECONDS each, and prints
queries/s, p50 and p99. Set GPTDESK_BENCH_DATABASE_URL to use an existing cluster.
"""

import argparse
import asyncio
import json
import random
import time
import uuid

import asyncpg

from bench.common import bench_database, percentile
from gptdesk.chat.search import SearchQuery
from gptdesk.chat.search_repository import search_messages
from gptdesk.db.pool import create_pool
from gptdesk.db.scope import Scope

VOCABULARY = 2000
QUERIES = {"common word": "w1", "rare word": "w1500", "two words": "w3 w40"}


async def load(admin_dsn: str, messages: int, users: int) -> list[uuid.UUID]:
    """The world; the users' ids. Triggers are off while loading (counters fixed after)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"""
            insert into public.teams (name) select 'team ' || g from generate_series(1, {users}) g;
            insert into auth.users (id, aud, role, email, raw_user_meta_data)
            select gen_random_uuid(), 'authenticated', 'authenticated',
                   'searcher' || g || '@bench.example', '{{}}'::jsonb
              from generate_series(1, {users}) g;
            with t as (select id, row_number() over (order by id) n from public.teams),
                 u as (select id, row_number() over (order by id) n from public.users)
            update public.users set team_id = t.id from t, u
             where u.id = public.users.id and t.n = u.n;
            insert into public.gpts (name, team_id, creator_id, status, approval_status)
            select 'gpt of ' || u.id, u.team_id, u.id, 'active', 'approved' from public.users u;
            insert into public.chat_sessions (title, user_id, gpt_id)
            select 'session ' || s, u.id, g.id
              from public.users u join public.gpts g on g.creator_id = u.id,
                   generate_series(1, 10) s;
            drop index if exists public.idx_chat_messages_content_fts;
            set session_replication_role = replica;
            insert into public.chat_messages (session_id, sender, content, created_at)
            select s.id, case when m % 2 = 0 then 'user' else 'gpt' end::public.message_sender,
                   (select string_agg('w' || (floor(power(random(), 3) * {VOCABULARY}) + 1)::int,
                                      ' ')
                      from generate_series(1, 12 + (m % 5) + 0 * s.n)),
                   now() - make_interval(secs => m)
              from (select id, row_number() over (order by id) n from public.chat_sessions) s,
                   generate_series(1, {messages} / ({users} * 10)) m;
            set session_replication_role = origin;
            update public.chat_sessions c set message_count =
              (select count(*) from public.chat_messages m where m.session_id = c.id);
            create index idx_chat_messages_content_fts
              on public.chat_messages using gin (to_tsvector('english', content));
            analyze;
        """)
        return [row["id"] for row in await conn.fetch("select id from public.users")]
    finally:
        await conn.close()


async def measure(scope: Scope, users: list[uuid.UUID], text: str, clients: int, seconds: float):  # type: ignore[no-untyped-def]
    """Queries/s, p50 and p99 (ms) of the first page of `text`'s results."""
    latencies: list[float] = []
    found: list[int] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            claims = {"role": "authenticated", "sub": str(random.choice(users))}
            started = time.perf_counter()
            async with scope.as_claims(claims, read_only=True) as conn:
                rows = await search_messages(conn, SearchQuery(text, limit=20))
            latencies.append((time.perf_counter() - started) * 1000)
            found.append(len(rows))

    await asyncio.gather(*(client() for _ in range(clients)))
    latencies.sort()
    return {
        "qps": round(len(latencies) / seconds),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "mean_results": round(sum(found) / max(len(found), 1), 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    async with bench_database() as database:
        started = time.perf_counter()
        users = await load(database.admin_dsn, args.messages, args.users)
        print(f"# {database.server}, {args.messages} messages, {args.users} users, "
              f"loaded in {time.perf_counter() - started:.0f} s")  # fmt: skip
        pool = await create_pool(database.app_dsn, min_size=8, max_size=8)
        try:
            scope = Scope(pool)
            for name, text in QUERIES.items():
                for clients in (1, 8):
                    result = await measure(scope, users, text, clients, args.seconds)
                    print(json.dumps({"query": name, "q": text, "clients": clients, **result}))
        finally:
            await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
