"""The analytics bench's world: a database kept between runs or made for one, its teams,
members, GPTs and usage rows, and the callers signed in to read them."""

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import (
    BENCH_SECRET,
    BenchDatabase,
    bench_database,
)
from gptdesk.analytics.query import DateRange
from gptdesk.auth.tokens import mint_access_token, verify
from gptdesk.db.database import ensure_database, prepare
from gptdesk.db.embedded import EmbeddedPostgres
from gptdesk.db.roles import authenticator_dsn

KEPT_DATABASE = "gptdesk_bench_analytics"
USERS_PER_TEAM = 10
GPTS_PER_TEAM = 5
BATCH = 100_000
RANGE_DAYS = 30
# What the bench measures: the reads, the writes' batch and trigger variants.
WRITE_BATCH = 10_000
QUERIES = ("dashboard", "usage_by_day")
WRITE_VARIANTS = (
    "all triggers (production)",
    "without the rollup triggers",
    "without them and count_gpt_monthly_usage",
)
# name, provider, USD per million prompt and completion tokens (None: self-hosted, unpriced)
MODELS = [
    ("gpt-4o-mini", "openai", 0.15, 0.60),
    ("gpt-4o", "openai", 2.50, 10.00),
    ("claude-3-5-sonnet", "anthropic", 3.00, 15.00),
    ("claude-3-5-haiku", "anthropic", 0.80, 4.00),
    ("llama-3.1-70b", "self-hosted", None, None),
]

# Teams, members and GPTs, numbered in bench.* so usage rows can be drawn by number.
WORLD_SQL = """
create table bench.world (rows bigint, teams int, days int, data_end timestamptz,
                          load_seconds float8, loaded_at timestamptz default now());
create table bench.teams (n int primary key, team_id uuid not null default gen_random_uuid());
create table bench.members (n int primary key, team_n int not null,
                            user_id uuid not null default gen_random_uuid(), team_id uuid);
create table bench.gpts (team_n int, k int, gpt_id uuid not null default gen_random_uuid(),
                         model text, primary key (team_n, k));
insert into bench.teams (n) select g from generate_series(0, {teams} - 1) g;
insert into bench.members (n, team_n, team_id)
  select g, g / {per_team}, t.team_id
    from generate_series(0, {teams} * {per_team} - 1) g join bench.teams t on t.n = g / {per_team};
insert into bench.gpts (team_n, k, model)
  select t.n, k, (array(select name from bench.models order by name))
                   [1 + (t.n * {gpts} + k) % (select count(*) from bench.models)]
    from bench.teams t, generate_series(0, {gpts} - 1) k;
insert into public.teams (id, name) select team_id, 'team ' || n from bench.teams;
insert into auth.users (id, aud, role, email, raw_user_meta_data)
  select user_id, 'authenticated', 'authenticated', 'member' || n || '@bench.example',
         jsonb_build_object('full_name', 'Member ' || n)
    from bench.members;
update public.users u set team_id = m.team_id from bench.members m where m.user_id = u.id;
update public.users u set role = 'admin' from bench.members m where m.user_id = u.id and m.n = 0;
update public.users u set role = 'super_admin'
  from bench.members m where m.user_id = u.id and m.n = 1;
insert into public.gpts (id, name, team_id, creator_id, status, approval_status, model)
  select g.gpt_id, 'GPT ' || g.team_n || '-' || g.k, t.team_id, m.user_id, 'active',
         'approved', g.model
    from bench.gpts g join bench.teams t on t.n = g.team_n
    join bench.members m on m.n = g.team_n * {per_team};
"""

# Rows $1 .. $2 - 1 of $3, spread evenly over the $5 days from $4, in time order.
USAGE_SQL = """
insert into public.usage_analytics
  (user_id, gpt_id, team_id, tokens_used, response_time_ms, cost, created_at, date, metrics)
select m.user_id, g.gpt_id, m.team_id, y.prompt + y.completion, y.ms,
       case when md.prompt_price is not null then
         round((y.prompt * md.prompt_price + y.completion * md.completion_price) / 1e6, 8)
       end,
       y.at, (y.at at time zone 'UTC')::date,
       jsonb_build_object('model', md.name, 'provider', md.provider,
         'prompt_tokens', y.prompt, 'completion_tokens', y.completion,
         'priced', md.prompt_price is not null, 'currency', 'USD', 'status', y.status,
         'finish_reason', case when y.status = 'completed' then 'stop' end,
         'usage_reported', true)
  from (select x.*,
               case when x.status = 'completed' then 20 + floor(power(random(), 2) * 1200)::int
                    else 0 end as completion,
               greatest(1, round(exp(ln(case when x.status = 'completed' then 900 else 4000 end)
                 + 0.7 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))))::int as ms
          from (select $4::timestamptz + make_interval(secs => (s + random()) * $5 * 86400 / $3)
                         as at,
                       floor(random() * {members})::int as member,
                       floor({gpts} * power(random(), 2))::int as k,
                       random() < 0.05 as fallback,
                       case when random() < 0.02 then 'failed' else 'completed' end as status,
                       60 + floor(power(random(), 2) * 3000)::int as prompt
                  from generate_series($1::bigint, $2::bigint - 1) s) x) y
  join bench.members m on m.n = y.member
  join bench.gpts g on g.team_n = m.team_n and g.k = y.k
  join bench.models md on md.name = case when y.fallback then 'gpt-4o-mini' else g.model end
"""

# What count_gpt_monthly_usage would have kept during the load, rebuilt from the rollup.
GPT_COUNTERS_SQL = """
insert into public.gpt_monthly_usage as u
  (gpt_id, month, requests, prompt_tokens, completion_tokens, cost, unpriced_requests)
select gpt_id, date_trunc('month', day)::date, sum(requests), sum(prompt_tokens),
       sum(completion_tokens), sum(cost), sum(unpriced_requests)
  from public.usage_daily_gpts where gpt_id is not null group by 1, 2
on conflict (gpt_id, month) do update set requests = excluded.requests,
  prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
  cost = excluded.cost, unpriced_requests = excluded.unpriced_requests;
update public.gpts g set usage_count = s.requests,
       monthly_cost = least(round(coalesce(s.month_cost, 0), 2), 99999999.99)
  from (select gpt_id, sum(requests) as requests,
               sum(cost) filter (where month = date_trunc('month', now())::date) as month_cost
          from public.gpt_monthly_usage group by 1) s
 where g.id = s.gpt_id;
"""


@dataclass(frozen=True)
class Caller:
    """A signed-in caller of the bench world."""

    name: str
    team_id: uuid.UUID
    token: str
    claims: dict[str, Any]


@dataclass(frozen=True)
class World:
    """What was loaded, and the range every read asks for."""

    rows: int
    teams: int
    days: int
    load_seconds: float
    range: DateRange
    reused: bool


# ----------------------------------------------------------------------------------------
# The database and its world.
# ----------------------------------------------------------------------------------------


@asynccontextmanager
async def analytics_database(keep: Path | None) -> AsyncIterator[BenchDatabase]:
    """bench_database(), or with `keep` a database kept for the next run."""
    if keep is None:
        async with bench_database() as db:
            yield db
        return
    given = os.environ.get("GPTDESK_BENCH_DATABASE_URL")
    cluster = None
    if given:
        maintenance = given
    else:
        await asyncio.to_thread(keep.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(keep.chmod, 0o711)
        cluster = EmbeddedPostgres(keep)
        maintenance = await asyncio.to_thread(cluster.start)
    try:
        admin_dsn = await ensure_database(maintenance, KEPT_DATABASE)
        prepared = await prepare(admin_dsn, BENCH_SECRET)
        where = "given URL" if given else "embedded"
        server = f"PostgreSQL {prepared.server_version} ({where}, kept)"
        yield BenchDatabase(admin_dsn, authenticator_dsn(admin_dsn, BENCH_SECRET), server)
    finally:
        if cluster is not None:
            cluster.stop()


async def load(admin_dsn: str, rows: int, teams: int, days: int) -> World:
    """The world, loaded now or found from an earlier --keep run of the same scale."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if await conn.fetchval("select to_regclass('bench.world') is not null"):
            found = await conn.fetchrow("select * from bench.world")
            if found is None:
                raise SystemExit("the kept database holds an unfinished load: remove it first")
            if (found["rows"], found["teams"], found["days"]) != (rows, teams, days):
                raise SystemExit(
                    f"the kept database holds {found['rows']} rows, {found['teams']} teams, "
                    f"{found['days']} days: use those options or another --keep folder"
                )
            # statistics for what migrations added since the load (ANALYZE samples)
            await conn.execute("analyze")
            return _world(found, reused=True)
        started = time.perf_counter()
        await conn.execute(
            "create schema bench; create table bench.models (name text primary key,"
            " provider text, prompt_price numeric, completion_price numeric)"
        )
        await conn.executemany("insert into bench.models values ($1, $2, $3, $4)", MODELS)
        await conn.execute(
            WORLD_SQL.format(teams=teams, per_team=USERS_PER_TEAM, gpts=GPTS_PER_TEAM)
        )
        world_seconds = time.perf_counter() - started
        data_end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        data_start = data_end - timedelta(days=days)
        sql = USAGE_SQL.format(members=teams * USERS_PER_TEAM, gpts=GPTS_PER_TEAM)
        await conn.execute(
            "alter table public.usage_analytics disable trigger count_gpt_monthly_usage"
        )
        started = time.perf_counter()
        for low in range(0, rows, BATCH):
            high = min(rows, low + BATCH)
            await conn.execute(sql, low, high, rows, data_start, float(days))
            if high % (10 * BATCH) == 0 or high == rows:
                spent = time.perf_counter() - started
                print(f"# {high:,} rows in {spent:.0f} s ({high / spent:,.0f}/s)", flush=True)
        rows_seconds = time.perf_counter() - started
        await conn.execute(
            "alter table public.usage_analytics enable trigger count_gpt_monthly_usage"
        )
        started = time.perf_counter()
        await conn.execute(GPT_COUNTERS_SQL)
        await conn.execute(
            "vacuum (analyze) public.usage_analytics, public.usage_daily_teams,"
            " public.usage_daily_gpts, public.usage_daily_users, public.usage_daily_totals,"
            " analytics.gpt_running_totals, analytics.user_active_days, public.gpt_monthly_usage,"
            " public.gpts, public.users, public.teams"
        )
        after_seconds = time.perf_counter() - started
        await conn.execute(
            "insert into bench.world (rows, teams, days, data_end, load_seconds)"
            " values ($1, $2, $3, $4, $5)",
            rows, teams, days, data_end, rows_seconds,
        )  # fmt: skip
        print(
            f"# world {world_seconds:.1f} s; usage rows {rows_seconds:.0f} s "
            f"({rows / rows_seconds:,.0f} rows/s); counters + vacuum analyze {after_seconds:.0f} s",
            flush=True,
        )
        return _world(await conn.fetchrow("select * from bench.world"), reused=False)
    finally:
        await conn.close()


def _world(row: asyncpg.Record, reused: bool) -> World:
    last = (row["data_end"] - timedelta(seconds=1)).astimezone(UTC).date()
    reads = DateRange(last - timedelta(days=RANGE_DAYS - 1), last)
    return World(row["rows"], row["teams"], row["days"], row["load_seconds"], reads, reused)


async def sizes(admin_dsn: str) -> dict[str, Any]:
    """Row counts of the rollups and the size on disk of the raw table with its indexes."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        found: dict[str, Any] = {}
        for table in (
            "public.usage_daily_totals",
            "public.usage_daily_teams",
            "public.usage_daily_gpts",
            "public.usage_daily_users",
            "analytics.gpt_running_totals",
            "analytics.user_active_days",
        ):
            found[table.split(".")[1]] = await conn.fetchval(f"select count(*) from {table}")
        found["usage_analytics_gb"] = round(
            await conn.fetchval("select pg_total_relation_size('public.usage_analytics')") / 2**30,
            2,
        )
        return found
    finally:
        await conn.close()


async def sign_in(admin_dsn: str) -> list[Caller]:
    """A live session and an access token for the super admin and the team admin."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        callers = []
        for name, n in (("super admin", 1), ("team admin", 0)):
            user = await conn.fetchrow(
                "select u.id, u.email, u.role, u.aud, m.team_id from auth.users u"
                " join bench.members m on m.user_id = u.id where m.n = $1",
                n,
            )
            assert user is not None
            session = uuid.uuid4()
            await conn.execute(
                "insert into auth.sessions (id, user_id, aal) values ($1, $2, 'aal1')",
                session,
                user["id"],
            )
            token = mint_access_token(
                secret=BENCH_SECRET, issuer="http://127.0.0.1/auth/v1", lifetime=6 * 3600,
                user=dict(user), session_id=str(session), aal="aal1", amr=[],
            ).token  # fmt: skip
            callers.append(Caller(name, user["team_id"], token, verify(token, BENCH_SECRET)))
        return callers
    finally:
        await conn.close()
