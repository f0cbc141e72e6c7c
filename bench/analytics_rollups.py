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
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.analytics_report import RESULTS, code_version, record, report
from bench.analytics_world import (
    GPTS_PER_TEAM,
    QUERIES,
    RANGE_DAYS,
    USAGE_SQL,
    USERS_PER_TEAM,
    WRITE_BATCH,
    WRITE_VARIANTS,
    Caller,
    analytics_database,
    load,
    sign_in,
    sizes,
)
from bench.common import (
    BENCH_SECRET,
    percentile,
    start_server,
    stop_server,
)
from gptdesk.analytics import service
from gptdesk.analytics.query import DateRange, Filters, UsageQuery
from gptdesk.auth.keys import project_keys
from gptdesk.db.pool import create_pool
from gptdesk.db.scope import Scope

COST = Decimal("0.0012")  # a single-row insert's cost (USD)
# The statements the dashboard route runs, in order (service.viewer, service.dashboard).
DASHBOARD_STEPS = (
    "who is the caller",
    "days of both periods",
    "active users, both periods",
    "top GPTs: ranking",
    "top GPTs: figures",
)
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
# The rollups' triggers: those on usage_analytics whose function lives in schema analytics
# and that fire on INSERT or DELETE (tgtype bits 4 and 8).
ROLLUP_TRIGGERS_SQL = """
select t.tgname from pg_trigger t join pg_proc p on p.oid = t.tgfoid
 where t.tgrelid = 'public.usage_analytics'::regclass and not t.tgisinternal
   and p.pronamespace = 'analytics'::regnamespace and t.tgtype & 12 <> 0
 order by 1
"""


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
