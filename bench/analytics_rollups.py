"""Analytics from the daily rollups beside the naive GROUP BY over the raw usage rows.

Usage: python -m bench.analytics_rollups [--rows 10000000] [--teams 1000] [--days 90]
           [--iterations 200] [--seconds 60] [--naive-seconds 90] [--writes 5000]
           [--keep DIR] [--explain] [--no-record]

World: TEAMS teams of 10 users and 5 GPTs each (the first team's first user is its admin,
its second a super admin) and ROWS usage_analytics rows over the DAYS days before the load,
in time order as the gateway records them, inserted by `INSERT … SELECT generate_series` in
batches of 100,000 with the rollup triggers (those of schema analytics) on. Each GPT
answers with its own model (5 models, one self-hosted and unpriced), 5 % of calls with a
fallback model; a team's GPTs are used unevenly; ~2 % of calls fail; response times are
log-normal (median ~0.9 s). The per-row trigger count_gpt_monthly_usage is off while
loading (its counters are rebuilt from the rollups afterwards); the rest — indexes, the
rollup triggers — runs as in production.

Reads, for the super admin and the team admin, over the data's last 30 days:
  dashboard     GET /api/v1/analytics/dashboard?from=&to=
  usage_by_day  GET /api/v1/analytics/usage?from=&to=&period=day
each measured as
  http          through `gptdesk serve` with the caller's access token (one client)
  service       gptdesk.analytics.service in Scope.as_claims(the token's claims), as the
                route runs it, without HTTP
  naive_role    the same figures (requests, tokens, cost, average, p95 by percentile_cont,
                distinct active users, top GPTs, the daily series) by GROUP BY over the raw
                rows, as the caller (role authenticated + request.jwt.claims: RLS decides)
  naive_role_team  the team admin's, with `team_id = <team>` added as a naive endpoint would
  naive_owner   the same as the owner, without RLS (the team admin's with the team filter)
p50/p99 after a warm-up; each naive one as often as --naive-seconds allows (at least 3).

Writes: single-row INSERTs into usage_analytics, one per transaction as the gateway records
an answer, with every trigger, without the rollup triggers, and without them and the per-row
count_gpt_monthly_usage (ALTER TABLE … DISABLE TRIGGER, in the bench database only),
interleaved in rounds; the same as a server-side loop of single-row statements (no client,
no commit); and 10,000-row INSERT … SELECT batches. Written rows are deleted or rolled back.

Prints JSON lines and a table, and writes the section "Analytics rollups (issue 8)" of
bench/RESULTS.md (not with --no-record; text between `<!-- notes -->` and `<!-- /notes -->`
in it is kept). --keep DIR keeps the loaded database — an embedded cluster in DIR, or the
database gptdesk_bench_analytics on GPTDESK_BENCH_DATABASE_URL's cluster — and reuses it
when run again with the same --rows/--teams/--days (10M rows take ~6 GB): remove DIR, or
drop that database, when done. Set GPTDESK_BENCH_DATABASE_URL to use an existing cluster.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

import gptdesk
from bench.common import (
    BENCH_SECRET,
    BenchDatabase,
    bench_database,
    percentile,
    start_server,
    stop_server,
)
from gptdesk.analytics import service
from gptdesk.analytics.query import DateRange, Filters, UsageQuery
from gptdesk.auth.keys import project_keys
from gptdesk.auth.tokens import mint_access_token, verify
from gptdesk.db.database import ensure_database, prepare
from gptdesk.db.embedded import EmbeddedPostgres
from gptdesk.db.pool import create_pool
from gptdesk.db.roles import authenticator_dsn
from gptdesk.db.scope import Scope

KEPT_DATABASE = "gptdesk_bench_analytics"
USERS_PER_TEAM = 10
GPTS_PER_TEAM = 5
BATCH = 100_000
WRITE_BATCH = 10_000
RANGE_DAYS = 30
COST = Decimal("0.0012")  # a single-row insert's cost (USD)
QUERIES = ("dashboard", "usage_by_day")
# The statements the dashboard route runs, in order (service.viewer, service.dashboard).
DASHBOARD_STEPS = (
    "who is the caller",
    "days of both periods",
    "active users, both periods",
    "top GPTs: ranking",
    "top GPTs: figures",
)
RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Analytics rollups (issue 8)"
NOTES = ("<!-- notes -->", "<!-- /notes -->")
TIMES = "\N{MULTIPLICATION SIGN}"
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

# The naive equivalents over the raw rows: $1, $2 the range's first and last day, $3 the
# team when filtered (`{where}`).
RAW_RANGE = (
    "u.created_at >= $1::date::timestamp at time zone 'UTC'"
    " and u.created_at < ($2::date + 1)::timestamp at time zone 'UTC'"
)
FIGURES_SQL = (
    "count(*) as requests,"
    " count(*) filter (where coalesce(u.metrics ->> 'status', 'completed') <> 'completed')"
    " as failed_requests,"
    " count(*) filter (where u.cost is null) as unpriced_requests,"
    " coalesce(sum((u.metrics ->> 'prompt_tokens')::bigint), 0) as prompt_tokens,"
    " coalesce(sum((u.metrics ->> 'completion_tokens')::bigint), 0) as completion_tokens,"
    " coalesce(sum(u.cost), 0) as cost, round(avg(u.response_time_ms), 1) as avg_response_ms,"
    " percentile_cont(0.95) within group (order by u.response_time_ms) as p95_response_ms"
)
NAIVE = {
    "totals": f"select {FIGURES_SQL} from public.usage_analytics u where {{where}}",
    "active": "select count(distinct u.user_id) filter"
    " (where (u.created_at at time zone 'UTC')::date = $2) as daily,"
    " count(distinct u.user_id) filter (where (u.created_at at time zone 'UTC')::date > $2 - 7)"
    " as weekly, count(distinct u.user_id) as monthly"
    " from public.usage_analytics u where {where}",
    "top_gpts": "select u.gpt_id, (select g.name from public.gpts g where g.id = u.gpt_id),"
    f" {FIGURES_SQL} from public.usage_analytics u where {{where}}"
    " group by u.gpt_id order by requests desc, cost desc limit 10",
    "series": "select (u.created_at at time zone 'UTC')::date as day, count(*) as requests,"
    " coalesce(sum(u.cost), 0) as cost, coalesce(sum((u.metrics ->> 'prompt_tokens')::bigint"
    " + (u.metrics ->> 'completion_tokens')::bigint), 0) as total_tokens"
    " from public.usage_analytics u where {where} group by 1 order by 1",
    "usage_by_day": f"select (u.created_at at time zone 'UTC')::date as day, {FIGURES_SQL}"
    " from public.usage_analytics u where {where} group by 1 order by 1",
}
INSERT_ONE = (
    "insert into public.usage_analytics (user_id, gpt_id, team_id, tokens_used,"
    " response_time_ms, cost, metrics) values ($1, $2, $3, $4, $5, $6, $7::jsonb) returning id"
)
COUNTER_TRIGGER = "count_gpt_monthly_usage"
WRITE_VARIANTS = (
    "all triggers (production)",
    "without the rollup triggers",
    "without them and count_gpt_monthly_usage",
)
# The rollups' triggers: those on usage_analytics whose function lives in schema analytics
# and that fire on INSERT or DELETE (tgtype bits 4 and 8).
ROLLUP_TRIGGERS_SQL = """
select t.tgname from pg_trigger t join pg_proc p on p.oid = t.tgfoid
 where t.tgrelid = 'public.usage_analytics'::regclass and not t.tgisinternal
   and p.pronamespace = 'analytics'::regnamespace and t.tgtype & 12 <> 0
 order by 1
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


class Recorder:
    """An asyncpg connection that remembers the statements run through it and their time."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.statements: list[tuple[str, tuple[Any, ...]]] = []
        self.ms: list[float] = []

    async def _run(self, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        self.statements.append((sql, args))
        started = time.perf_counter()
        try:
            return await getattr(self.conn, method)(sql, *args)
        finally:
            self.ms.append((time.perf_counter() - started) * 1000)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run("fetch", sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self._run("fetchrow", sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchval", sql, args)


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


def machine_busy() -> float:
    """CPU seconds the machine has been busy so far (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: set[int]) -> float:
    """CPU time used so far by `pids` and their descendants (ended children of the
    postmaster included through its cutime/cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        stats[int(stat.parent.name)] = text[text.rindex(")") + 2 :].split()
    total = 0.0
    for pid, fields in stats.items():
        ancestor = pid
        while ancestor > 1 and ancestor not in pids:
            ancestor = int(stats[ancestor][1]) if ancestor in stats else 0
        if ancestor in pids:
            total += int(fields[11]) + int(fields[12])  # utime, stime
            if pid in pids:
                total += int(fields[13]) + int(fields[14])  # ended children
    return total / tick


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def find_postmaster(dsn: str) -> int:
    """The pid of the postmaster serving `dsn` (the parent of a backend)."""
    conn = await asyncpg.connect(dsn)
    try:
        backend = await conn.fetchval("select pg_backend_pid()")
        return _parent(backend)
    finally:
        await conn.close()


# ----------------------------------------------------------------------------------------
# Reads.
# ----------------------------------------------------------------------------------------


def naive_statements(query: str, reads: DateRange, team: uuid.UUID | None) -> list[tuple]:
    """The naive statements (SQL, arguments) answering `query` over `reads`."""
    where = RAW_RANGE + (" and u.team_id = $3" if team else "")
    extra = (team,) if team else ()
    if query == "usage_by_day":
        return [(NAIVE["usage_by_day"].format(where=where), (reads.start, reads.end, *extra))]
    previous = reads.previous()
    month = timedelta(days=29)
    return [
        (NAIVE["totals"].format(where=where), (reads.start, reads.end, *extra)),
        (NAIVE["totals"].format(where=where), (previous.start, previous.end, *extra)),
        (NAIVE["active"].format(where=where), (reads.end - month, reads.end, *extra)),
        (NAIVE["active"].format(where=where), (previous.end - month, previous.end, *extra)),
        (NAIVE["top_gpts"].format(where=where), (reads.start, reads.end, *extra)),
        (NAIVE["series"].format(where=where), (reads.start, reads.end, *extra)),
    ]


async def run_naive(conn: Any, statements: list[tuple]) -> list[list[asyncpg.Record]]:
    return [await conn.fetch(sql, *args) for sql, args in statements]


async def run_service(conn: Any, caller: Caller, query: str, reads: DateRange) -> Any:
    """What the route runs inside its scope."""
    who = await service.viewer(conn, caller.claims)
    filters = who.narrow(Filters())
    if query == "dashboard":
        return await service.dashboard(conn, reads, filters, who.mine)
    return await service.usage(conn, UsageQuery(reads, "day", "none", filters), who.mine)


async def timed(
    call: Callable[[], Awaitable[Any]], warmup: int, iterations: int, seconds: float, least: int
) -> dict[str, Any]:
    """p50/p99/mean (ms) of `call` run `iterations` times, or for `seconds` (≥ `least`)."""
    for _ in range(warmup):
        await call()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(latencies) < iterations and (
        len(latencies) < least or time.perf_counter() < deadline
    ):
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return {
        "n": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "mean_ms": round(sum(latencies) / len(latencies), 2),
    }


@dataclass
class Readers:
    """What the read measurements run on."""

    url: str
    client: httpx.AsyncClient
    scope: Scope
    owner: asyncpg.Pool
    server_pid: int
    postmaster: int


def read_calls(
    readers: Readers, caller: Caller, query: str, reads: DateRange
) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Each way of answering `query` for `caller`, as a call to time."""
    path = "dashboard" if query == "dashboard" else "usage"
    params = {"from": reads.start.isoformat(), "to": reads.end.isoformat()}
    if query == "usage_by_day":
        params |= {"period": "day", "group_by": "none"}
    headers = {
        "apikey": project_keys(BENCH_SECRET).anon_key,
        "Authorization": f"Bearer {caller.token}",
    }
    team = caller.team_id if caller.name == "team admin" else None

    async def http() -> Any:
        response = await readers.client.get(
            f"{readers.url}/api/v1/analytics/{path}", params=params, headers=headers
        )
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
        return response.json()

    async def in_scope(work: Callable[[Any], Awaitable[Any]]) -> Any:
        async with readers.scope.as_claims(caller.claims, read_only=True) as conn:
            return await work(conn)

    async def as_owner(statements: list[tuple]) -> Any:
        async with readers.owner.acquire() as conn:
            return await run_naive(conn, statements)

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "http": http,
        "service": lambda: in_scope(lambda conn: run_service(conn, caller, query, reads)),
        "naive_role": lambda: in_scope(
            lambda conn: run_naive(conn, naive_statements(query, reads, None))
        ),
    }
    if team:
        calls["naive_role_team"] = lambda: in_scope(
            lambda conn: run_naive(conn, naive_statements(query, reads, team))
        )
    calls["naive_owner"] = lambda: as_owner(naive_statements(query, reads, team))
    return calls


async def measure_reads(
    readers: Readers, callers: list[Caller], reads: DateRange, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Every (caller, query, way) point, with the CPU other work took meanwhile."""
    points = []
    for caller in callers:
        for query in QUERIES:
            for way, call in read_calls(readers, caller, query, reads).items():
                naive = way.startswith("naive")
                watched = {readers.server_pid, readers.postmaster}
                before = cpu_seconds(watched)
                busy, own, began = machine_busy(), time.process_time(), time.perf_counter()
                point = await timed(
                    call,
                    warmup=1 if naive else 10,
                    iterations=10_000 if naive else args.iterations,
                    seconds=args.naive_seconds if naive else args.seconds,
                    least=3 if naive else min(20, args.iterations),
                )
                wall = time.perf_counter() - began
                ours = cpu_seconds(watched) - before + time.process_time() - own
                point["other_cores"] = round((machine_busy() - busy - ours) / wall, 2)
                point = {"caller": caller.name, "query": query, "way": way, **point}
                print(json.dumps(point), flush=True)
                points.append(point)
    return points


async def check_figures(
    readers: Readers, callers: list[Caller], reads: DateRange
) -> list[dict[str, Any]]:
    """The rollups' answers against the raw rows' (p95: histogram against exact)."""
    checks = []
    for caller in callers:
        async with readers.scope.as_claims(caller.claims, read_only=True) as conn:
            board = await run_service(conn, caller, "dashboard", reads)
            days = await run_service(conn, caller, "usage_by_day", reads)
            raw = await run_naive(conn, naive_statements("dashboard", reads, None))
            raw_days = (await run_naive(conn, naive_statements("usage_by_day", reads, None)))[0]
        total, active, top, series = raw[0][0], raw[2][0], raw[4], raw[5]
        usage = board["usage"]
        pairs = {
            "requests": (usage["requests"], total["requests"]),
            "failed_requests": (usage["failed_requests"], total["failed_requests"]),
            "prompt_tokens": (usage["prompt_tokens"], total["prompt_tokens"]),
            "completion_tokens": (usage["completion_tokens"], total["completion_tokens"]),
            "cost": (board["costs"]["total"], total["cost"]),
            "unpriced": (board["costs"]["unpriced_requests"], total["unpriced_requests"]),
            "avg_response_ms": (usage["avg_response_ms"], float(total["avg_response_ms"])),
            "active_users": (
                [board["active_users"][k] for k in ("daily", "weekly", "monthly")],
                [active[k] for k in ("daily", "weekly", "monthly")],
            ),
            "top_gpt": (
                [(g["gpt"], g["requests"]) for g in board["top_gpts"][:3]],
                [(str(g["gpt_id"]), g["requests"]) for g in top[:3]],
            ),
            "series": (
                [(r["day"], r["requests"], r["cost"]) for r in board["series"]],
                [(r["day"], r["requests"], r["cost"]) for r in series],
            ),
            "usage_by_day": (
                [(r["period_start"], r["requests"], r["cost"]) for r in days],
                [(r["day"], r["requests"], r["cost"]) for r in raw_days],
            ),
        }
        wrong = sorted(name for name, (mine, exact) in pairs.items() if mine != exact)
        p95_days = [
            (r["p95_response_ms"], round(e["p95_response_ms"]))
            for r, e in zip(days, raw_days, strict=False)
        ]
        check = {
            "caller": caller.name,
            "requests": total["requests"],
            "figures_equal": not wrong,
            "different": wrong,
            "p95_rollup_ms": usage["p95_response_ms"],
            "p95_exact_ms": round(total["p95_response_ms"], 1),
            "p95_by_day_worst_ratio": round(max(a / b for a, b in p95_days if a and b), 3),
        }
        print(json.dumps(check, default=str), flush=True)
        if wrong:
            print(json.dumps({name: pairs[name] for name in wrong}, default=str)[:2000])
        checks.append(check)
    return checks


async def breakdown(
    readers: Readers, callers: list[Caller], reads: DateRange, runs: int = 20
) -> dict[str, dict[str, float]]:
    """Median ms of each statement the dashboard runs, per caller (service, no HTTP)."""
    found = {}
    for caller in callers:
        times: list[list[float]] = []
        for _ in range(runs):
            async with readers.scope.as_claims(caller.claims, read_only=True) as conn:
                recorder = Recorder(conn)
                await run_service(recorder, caller, "dashboard", reads)
            times.append(recorder.ms)
        steps = DASHBOARD_STEPS if len(times[0]) == len(DASHBOARD_STEPS) else None
        found[caller.name] = {
            steps[i] if steps else f"statement {i + 1}": round(
                percentile(sorted(run[i] for run in times), 0.5), 2
            )
            for i in range(len(times[0]))
        }
        print(json.dumps({"breakdown": caller.name, **found[caller.name]}), flush=True)
    return found


async def explain(readers: Readers, callers: list[Caller], reads: DateRange) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement each read runs, as the caller."""
    for caller in callers:
        for query in QUERIES:
            async with readers.scope.as_claims(caller.claims, read_only=True) as conn:
                recorder = Recorder(conn)
                await run_service(recorder, caller, query, reads)
            statements = [("service", s) for s in recorder.statements] + [
                ("naive_role", s) for s in naive_statements(query, reads, None)
            ]
            for way, (sql, args) in statements:
                async with readers.scope.as_claims(caller.claims, read_only=True) as conn:
                    plan = await conn.fetch(f"explain (analyze, buffers) {sql}", *args)
                print(f"\n### EXPLAIN {caller.name} / {query} / {way}\n{sql}\n-- {args}")
                print("\n".join(row[0] for row in plan), flush=True)


# ----------------------------------------------------------------------------------------
# Writes.
# ----------------------------------------------------------------------------------------


async def set_triggers(conn: asyncpg.Connection, every: list[str], disabled: list[str]) -> None:
    """The triggers `every` of usage_analytics on but `disabled` (bench database only)."""
    for name in every:
        state = "disable" if name in disabled else "enable"
        await conn.execute(f'alter table public.usage_analytics {state} trigger "{name}"')


async def rolled_back(conn: asyncpg.Connection, sql: str, *args: Any) -> float:
    """Seconds `sql` took in a transaction then rolled back (nothing to clean up)."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        started = time.perf_counter()
        await conn.execute(sql, *args)
        return time.perf_counter() - started
    finally:
        await transaction.rollback()


# Single-row INSERT statements inside PostgreSQL: each fires the statement trigger.
LOOP_SQL = """
do $$ begin
  for i in 0..{count} - 1 loop
    insert into public.usage_analytics
      (user_id, gpt_id, team_id, tokens_used, response_time_ms, cost, metrics)
    select p.user_id, p.gpt_id, p.team_id, 1100, 850, 0.0012,
           jsonb_build_object('model', p.model, 'prompt_tokens', 800, 'completion_tokens', 300,
                              'status', 'completed', 'currency', 'USD', 'priced', true)
      from pg_temp.pick p where p.n = i % 2000;
  end loop;
end $$
"""


async def measure_writes(admin_dsn: str, writes: int, members: int) -> dict[str, dict[str, Any]]:
    """Per trigger variant: single-row inserts from the client (one per transaction,
    committed, deleted after) and inside PostgreSQL (rolled back), and 10,000-row batches."""
    rounds = 10
    per_round = max(1, writes // rounds)
    conn = await asyncpg.connect(admin_dsn)
    control = await asyncpg.connect(admin_dsn)
    rollups = [row[0] for row in await control.fetch(ROLLUP_TRIGGERS_SQL)]
    every = [*rollups, COUNTER_TRIGGER]
    variants = dict(zip(WRITE_VARIANTS, ([], rollups, every), strict=True))
    print(f"# rollup triggers: {', '.join(rollups)}", flush=True)
    written: dict[str, list[uuid.UUID]] = {name: [] for name in WRITE_VARIANTS}
    client: dict[str, list[float]] = {name: [] for name in WRITE_VARIANTS}
    loop: dict[str, list[float]] = {name: [] for name in WRITE_VARIANTS}
    batch: dict[str, list[float]] = {name: [] for name in WRITE_VARIANTS}
    try:
        await conn.execute(
            "create temporary table pick as select (row_number() over () - 1)::int as n,"
            " m.user_id, g.gpt_id, m.team_id, g.model from bench.members m"
            " join bench.gpts g on g.team_n = m.team_n order by random() limit 2000;"
            " alter table pick add primary key (n)"
        )
        picks = await conn.fetch("select * from pick order by n")
        # Not conn.prepare(): asyncpg's prepare leaves its implicit transaction open (and the
        # table locked) until the next statement, which blocks the ALTER TABLE below.
        await control.execute("set lock_timeout = '60s'")
        at = 0
        for turn in range(rounds):
            order = list(variants.items())
            order = order[turn % len(order) :] + order[: turn % len(order)]
            for name, disabled in order:
                await set_triggers(control, every, disabled)
                for _ in range(per_round):
                    row = picks[at % len(picks)]
                    at += 1
                    metrics = json.dumps(
                        {"model": row["model"], "prompt_tokens": 800, "completion_tokens": 300,
                         "status": "completed", "currency": "USD", "priced": True}
                    )  # fmt: skip
                    started = time.perf_counter()
                    values = (row["user_id"], row["gpt_id"], row["team_id"], 1100, 850, COST)
                    written[name].append(await conn.fetchval(INSERT_ONE, *values, metrics))
                    client[name].append((time.perf_counter() - started) * 1e6)
                seconds = await rolled_back(conn, LOOP_SQL.format(count=per_round))
                loop[name].append(seconds * 1e6 / per_round)
        batch_sql = USAGE_SQL.format(members=members, gpts=GPTS_PER_TEAM)
        for _ in range(3):
            for name, disabled in variants.items():
                await set_triggers(control, every, disabled)
                start = datetime.now(UTC) - timedelta(hours=1)
                seconds = await rolled_back(
                    conn, batch_sql, 0, WRITE_BATCH, WRITE_BATCH, start, 1 / 24
                )
                batch[name].append(seconds * 1e6 / WRITE_BATCH)
    finally:
        # Rows the rollups never counted leave without being taken out of them.
        for name, ids in written.items():
            await set_triggers(control, every, rollups if variants[name] else [])
            await control.execute(
                "delete from public.usage_analytics where id = any($1::uuid[])", ids
            )
        await set_triggers(control, every, [])
        await conn.close()
        await control.close()
    found = {}
    for name in WRITE_VARIANTS:
        values = sorted(client[name])
        found[name] = {
            "n": len(values),
            "client_mean_us": round(sum(values) / len(values)),
            "client_p50_us": round(percentile(values, 0.5)),
            "client_p99_us": round(percentile(values, 0.99)),
            "in_server_us_per_row": round(percentile(sorted(loop[name]), 0.5), 1),
            "batch_us_per_row": round(percentile(sorted(batch[name]), 0.5), 1),
        }
        found[name]["batch_rows_per_s"] = round(1e6 / found[name]["batch_us_per_row"])
        print(json.dumps({"write": name, **found[name]}), flush=True)
    return found


# ----------------------------------------------------------------------------------------
# Report.
# ----------------------------------------------------------------------------------------


def machine() -> str:
    """nproc, CPU model, RAM, kernel, Python."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores ({cpu}), {kib / 2**20:.0f} GiB RAM, Linux "
        f"{platform.release()} {platform.machine()}, Python {platform.python_version()}"
    )


def _ms(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def _ratio(value: float) -> str:
    return (f"{value:,.0f}" if value >= 10 else f"{value:.1f}") + TIMES


def _times(point: dict[str, Any] | None, n: bool = False) -> str:
    if point is None:
        return "—"
    text = f"{_ms(point['p50_ms'])} / {_ms(point['p99_ms'])}"
    return text + (f" (n={point['n']})" if n else "")


def code_version() -> str:
    """The commit measured, and whether src/ or migrations/ differed from it."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "src", "migrations")
    version = f"`{commit}`" + (" with uncommitted changes in src/ or migrations/" if dirty else "")
    imported = Path(gptdesk.__file__).resolve().parents[1]
    if imported != Path(__file__).resolve().parents[1] / "src":
        version += f" (gptdesk and its migrations imported from {imported.parent})"
    return version


def _wrap(lines: list[str], width: int = 92) -> list[str]:
    """Prose lines filled to `width` (as the rest of RESULTS.md); tables left alone."""
    wrapped = []
    for line in lines:
        if not line or line.startswith(("|", "#")):
            wrapped.append(line)
            continue
        indent = "  " if line.startswith("- ") else ""
        options = {"break_long_words": False, "break_on_hyphens": False}
        wrapped.append(textwrap.fill(line, width, subsequent_indent=indent, **options))
    return wrapped


def report(
    version: str,
    server: str,
    world: World,
    size: dict[str, Any],
    reads: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    steps: dict[str, dict[str, float]],
    writes: dict[str, dict[str, Any]],
) -> str:
    """The RESULTS.md section (without the kept notes)."""
    by = {(p["caller"], p["query"], p["way"]): p for p in reads}
    command = " ".join(["python -m bench.analytics_rollups", *sys.argv[1:]])
    if os.environ.get("GPTDESK_BENCH_DATABASE_URL"):
        command = "GPTDESK_BENCH_DATABASE_URL=… " + command
    other = max(p["other_cores"] for p in reads)
    loaded = (
        f"loaded by an earlier `--keep` run in {world.load_seconds:,.0f} s"
        if world.reused
        else f"loaded in **{world.load_seconds:,.0f} s** ({world.rows / world.load_seconds:,.0f}"
        " rows/s)"
    )
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/{command}`, {datetime.now().strftime('%Y-%m-%d %H:%M')}, "
        f"{server}, the code of {version}. Machine: {machine()}; other work on the "
        f"machine took up to {other:.2f} of a core during the read measurements.",
        "",
        f"World: {world.teams:,} teams of {USERS_PER_TEAM} users and {GPTS_PER_TEAM} GPTs each, "
        f"**{world.rows:,} usage rows** over {world.days} days, {loaded} in batches of "
        f"{BATCH:,} with the rollup triggers on (count_gpt_monthly_usage off; rebuilt after). "
        f"usage_analytics with its indexes: {size['usage_analytics_gb']} GB; rollup rows: "
        f"organization {size['usage_daily_totals']:,}, teams {size['usage_daily_teams']:,}, "
        f"GPTs {size['usage_daily_gpts']:,}, users {size['usage_daily_users']:,}, GPTs' "
        f"running totals {size['gpt_running_totals']:,}, users' active days "
        f"{size['user_active_days']:,}. Reads: {world.range.start} to {world.range.end} "
        f"({RANGE_DAYS} days; the dashboard also reads the 30 days before).",
        "",
        "p50 / p99 ms (naive ones: n runs). Speedup: the naive p50 over the HTTP p50.",
        "",
        "| caller | query | HTTP | service (no HTTP) | naive, as caller (RLS) "
        "| naive, as caller + team filter | naive, as owner | speedup vs naive as caller "
        "/ + filter / owner |",
        "|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for caller in ("super admin", "team admin"):
        for query in QUERIES:
            http = by[(caller, query, "http")]
            naive = [by.get((caller, query, w)) for w in ("naive_role", "naive_role_team")]
            naive.append(by[(caller, query, "naive_owner")])
            speed = " / ".join(_ratio(p["p50_ms"] / http["p50_ms"]) if p else "—" for p in naive)
            lines.append(
                f"| {caller} | {query} | **{_times(http)}** "
                f"| {_times(by[(caller, query, 'service')])} | {_times(naive[0], True)} "
                f"| {_times(naive[1], True)} | {_times(naive[2], True)} | {speed} |"
            )
            fast = "met" if http["p50_ms"] <= 50 else "**missed**"
            ratios = [p["p50_ms"] / http["p50_ms"] for p in naive if p]
            ahead = "met" if min(ratios) >= 100 else "**missed**"
            verdicts.append(
                f"- {caller}, {query}: ≤ 50 ms p50 over HTTP {fast} ({_ms(http['p50_ms'])} ms); "
                f"≥ 100{TIMES} faster than the naive query {ahead} "
                f"({' / '.join(_ratio(r) for r in ratios)})"
            )
    lines += ["", "Targets (HTTP p50; speedup against every naive variant measured):", *verdicts]
    lines += ["", "Where the dashboard's time goes (median ms of each statement, service):", ""]
    names = list(next(iter(steps.values())))
    lines += ["| caller | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for caller, found in steps.items():
        lines.append(f"| {caller} | " + " | ".join(_ms(found[n]) for n in names) + " |")
    lines += ["", "Figures: the rollups' answers against the raw rows' in the same run:"]
    for check in checks:
        same = (
            "equal" if check["figures_equal"] else f"**different: {', '.join(check['different'])}**"
        )
        lines.append(
            f"- {check['caller']} ({check['requests']:,} requests in the range): requests, "
            f"failures, tokens, cost, average, active users, top GPTs, daily series {same}; "
            f"p95 {check['p95_rollup_ms']} ms from the histogram against "
            f"{check['p95_exact_ms']} ms exact (per day: worst ratio "
            f"{check['p95_by_day_worst_ratio']})"
        )
    lines += [
        "",
        f"Writes ({writes[next(iter(WRITE_VARIANTS))]['n']:,} single-row inserts per variant, "
        "interleaved in 10 rounds; the server-side figure is the same single-row INSERT run "
        f"as separate statements in a PL/pgSQL loop, rolled back; batches of {WRITE_BATCH:,} "
        "rows by INSERT … SELECT, rolled back, median of 3):",
        "",
        "| insert triggers | single-row insert + commit, mean µs (p50 / p99) "
        "| server-side single-row statement µs | 10,000-row batch: µs/row (rows/s) |",
        "|---|---|---|---|",
    ]
    for name, w in writes.items():
        lines.append(
            f"| {name} | {w['client_mean_us']:,} ({w['client_p50_us']:,} / "
            f"{w['client_p99_us']:,}) | {w['in_server_us_per_row']} | "
            f"{w['batch_us_per_row']} ({w['batch_rows_per_s']:,}) |"
        )
    full, bare = (writes[name] for name in list(WRITE_VARIANTS)[:2])
    lines += [
        "",
        "**The rollup triggers add "
        f"{full['client_mean_us'] - bare['client_mean_us']:,} µs per single-row insert with "
        f"its commit** (p50 {full['client_p50_us'] - bare['client_p50_us']:,} µs), "
        f"{full['in_server_us_per_row'] - bare['in_server_us_per_row']:.1f} µs per single-row "
        "statement inside PostgreSQL, and "
        f"{full['batch_us_per_row'] - bare['batch_us_per_row']:.1f} µs per row in "
        f"{WRITE_BATCH:,}-row batches.",
        "",
    ]
    return "\n".join(_wrap(lines))


def record(section: str) -> None:
    """Replace (or append) the section in RESULTS.md, keeping its hand-written notes."""
    text = RESULTS.read_text()
    notes = f"{NOTES[0]}\n{NOTES[1]}\n"
    if SECTION in text:
        start = text.index(SECTION)
        following = text.find("\n## ", start + len(SECTION))
        end = len(text) if following < 0 else following + 1
        old = text[start:end]
        if NOTES[0] in old and NOTES[1] in old:
            notes = old[old.index(NOTES[0]) : old.index(NOTES[1]) + len(NOTES[1])] + "\n"
        rest = text[end:]
        text = text[:start] + section + "\n" + notes + ("\n" + rest if rest else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n" + notes
    RESULTS.write_text(text)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--iterations", type=int, default=200, help="per rollup point")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most, a rollup point")
    parser.add_argument("--naive-seconds", type=float, default=90.0, help="a naive point")
    parser.add_argument("--writes", type=int, default=5000, help="single-row inserts a variant")
    parser.add_argument("--keep", type=Path, help="keep the loaded database here; reuse it")
    parser.add_argument("--explain", action="store_true", help="print every read's plans")
    parser.add_argument("--no-record", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args()
    if args.days < 2 * RANGE_DAYS:
        raise SystemExit(f"--days must be at least {2 * RANGE_DAYS} (the dashboard reads 60)")
    version = code_version()
    async with analytics_database(args.keep) as db:
        world = await load(db.admin_dsn, args.rows, args.teams, args.days)
        size = await sizes(db.admin_dsn)
        callers = await sign_in(db.admin_dsn)
        print(f"# {db.server}, {json.dumps(size)}, reads {world.range}", flush=True)
        postmaster = await find_postmaster(db.admin_dsn)
        scratch = Path(tempfile.mkdtemp(prefix="gptdesk-bench-analytics-", dir="/tmp"))
        await asyncio.to_thread(scratch.chmod, 0o711)
        server, url = await asyncio.to_thread(start_server, db.admin_dsn, scratch / "server")
        pool = await create_pool(db.app_dsn, min_size=1, max_size=1)
        owner = await asyncpg.create_pool(db.admin_dsn, min_size=1, max_size=1)
        try:
            async with httpx.AsyncClient(timeout=120) as client:
                readers = Readers(url, client, Scope(pool), owner, server.pid, postmaster)
                checks = await check_figures(readers, callers, world.range)
                steps = await breakdown(readers, callers, world.range)
                if args.explain:
                    await explain(readers, callers, world.range)
                reads = await measure_reads(readers, callers, world.range, args)
        finally:
            await pool.close()
            await owner.close()
            await asyncio.to_thread(stop_server, server)
            shutil.rmtree(scratch, ignore_errors=True)
        writes = await measure_writes(db.admin_dsn, args.writes, world.teams * USERS_PER_TEAM)
        section = report(version, db.server, world, size, reads, checks, steps, writes)
    print("\n" + section)
    if not args.no_record:
        record(section)
        print(f"# recorded in {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
