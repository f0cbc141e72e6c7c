"""/rest/v1 reads under RLS through the real server, beside the same SQL through the driver.

Usage: python -m bench.rest_reads [--teams 1000] [--gpts 100000] [--users 100]
                                  [--seconds 10] [--workers 1,2] [--clients 1,16,64]
                                  [--only top10,by_id,by_id_cold] [--max-other-cores 0.15]

Loads the world of bench.scope_throughput (TEAMS teams with one user each, GPTS GPTs, here
with random usage counts), gives USERS of its users a live session and an access token,
starts `gptdesk serve` on the database for each worker count, and measures for SECONDS at
each concurrency:

  top10        GET /rest/v1/gpts?select=id,name,description,usage_count&team_id=eq.<team>
               &status=eq.active&order=usage_count.desc&limit=10  (each user: their team)
  by_id        GET /rest/v1/gpts?select=*&id=eq.<id>  (4 GPTs of each user's team: every
               URL stays in the server's plan cache)
  by_id_cold   the same with 50 ids a user, more URLs than the plan cache holds: every
               request parses and plans

  server       wrk (apt) against the server, rotating URLs and tokens; req/s, p50, p99 and
               the mean of each Server-Timing stage
  ceiling      the statement the server builds for each URL (`prepare()`), run with asyncpg
               in `Scope.as_claims(the token's claims)` with the same request facts: what
               the database and driver allow without HTTP, JWT or planning. One process per
               server worker, each with a pool as large as the server's (10) at most.

Each point also reports CPU per request of the server's processes, PostgreSQL (the whole
cluster) and wrk, read from /proc, and `other_cores`: CPU the rest of the machine used
meanwhile. A point is measured again (3 tries, after waiting for a quiet machine) when
that exceeds --max-other-cores: on a shared 2-core machine another test run halves the
figures. Prints one JSON line per point, with server/ceiling. Set
GPTDESK_BENCH_DATABASE_URL to run on an existing cluster instead of an embedded one.
"""

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop

from bench.common import (
    BENCH_SECRET,
    BenchDatabase,
    bench_database,
    percentile,
    start_server,
    stop_server,
)
from bench.scope_throughput import load
from gptdesk.auth.keys import project_keys
from gptdesk.auth.tokens import mint_access_token, verify
from gptdesk.db.pool import create_pool
from gptdesk.db.scope import RequestInfo, Scope
from gptdesk.rest.prepare import RestRequest, prepare
from gptdesk.rest.schema_cache import load_schema_cache

SERVER_POOL_MAX = 10  # GPTDESK_DB_POOL_MAX's default: the server's connections per worker
IDS_PER_USER = {"by_id": 4, "by_id_cold": 50}

# Rotates through "path<TAB>token" lines (one thread starts at each end); counts non-200
# answers and sums each Server-Timing stage, reported per thread in done().
LUA = r"""
local threads, started, urls, at = {}, 0, {}, 0
bad, timed = 0, 0

function setup(thread)
  thread:set("id", started)
  started = started + 1
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local path, token = line:match("^(%S+)\t(%S+)$")
    urls[#urls + 1] = wrk.format("GET", path,
      {apikey = args[2], Authorization = "Bearer " .. token})
  end
  at = (id * math.floor(#urls / 2)) % #urls
end

function request()
  at = at % #urls + 1
  return urls[at]
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
  local timing = headers["server-timing"] or headers["Server-Timing"]
  if timing then
    timed = timed + 1
    for name, dur in timing:gmatch("(%a+);dur=([%d%.]+)") do
      _G["dur_" .. name] = (_G["dur_" .. name] or 0) + tonumber(dur)
    end
  end
end

function done(summary, latency, requests)
  local totals = {bad = 0, timed = 0}
  local stages = {"jwt", "parse", "plan", "transaction", "response"}
  for _, thread in ipairs(threads) do
    totals.bad = totals.bad + thread:get("bad")
    totals.timed = totals.timed + thread:get("timed")
    for _, name in ipairs(stages) do
      totals[name] = (totals[name] or 0) + (thread:get("dur_" .. name) or 0)
    end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "non_200": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "mean_us": %.1f, "timed": %d, "stage_ms": ' ..
    '{"jwt": %.4f, "parse": %.4f, "plan": %.4f, "transaction": %.4f, "response": %.4f}}\n',
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.timeout, totals.bad,
    latency:percentile(50), latency:percentile(99), latency.mean, totals.timed,
    totals.jwt, totals.parse, totals.plan, totals.transaction, totals.response))
end
"""


@dataclass(frozen=True)
class Target:
    """One URL a benchmark rotates through, its caller, and the statement it runs."""

    path: str
    token: str
    claims: dict[str, Any]
    sql: str
    params: list[Any]


@dataclass(frozen=True)
class Run:
    """A started server and what measuring against it takes."""

    server: subprocess.Popen[bytes]
    url: str
    workers: int
    app_dsn: str
    postmaster: int
    script: Path


def top10_query(team: uuid.UUID) -> list[tuple[str, str]]:
    return [
        ("select", "id,name,description,usage_count"),
        ("team_id", f"eq.{team}"),
        ("status", "eq.active"),
        ("order", "usage_count.desc"),
        ("limit", "10"),
    ]


def by_id_query(gpt: uuid.UUID) -> list[tuple[str, str]]:
    return [("select", "*"), ("id", f"eq.{gpt}")]


@dataclass(frozen=True)
class Member:
    """A signed-in user of the bench world: their team, token and some of its GPTs."""

    team: uuid.UUID
    token: str
    gpts: list[uuid.UUID]


async def sign_in(
    db: BenchDatabase, people: list[tuple[uuid.UUID, uuid.UUID]], issuer: str
) -> list[Member]:
    """A live auth.sessions row and an access token for each (team, user); random usage."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        # The "top 10" order needs usage counts to differ; the owner passes the guard trigger.
        await conn.execute("update public.gpts set usage_count = (random() * 10000)::int")
        await conn.execute("vacuum analyze public.gpts")
        signed_in = []
        for team, user_id in people:
            session = uuid.uuid4()
            await conn.execute(
                "insert into auth.sessions (id, user_id, aal) values ($1, $2, 'aal1')",
                session,
                user_id,
            )
            user = await conn.fetchrow(
                "select id, email, role, aud from auth.users where id = $1", user_id
            )
            assert user is not None
            token = mint_access_token(
                secret=BENCH_SECRET, issuer=issuer, lifetime=3600, user=dict(user),
                session_id=str(session), aal="aal1", amr=[],
            ).token  # fmt: skip
            gpts = await conn.fetch(
                "select id from public.gpts where team_id = $1 order by id limit $2",
                team,
                max(IDS_PER_USER.values()),
            )
            signed_in.append(Member(team, token, [row["id"] for row in gpts]))
        return signed_in
    finally:
        await conn.close()


async def targets(db: BenchDatabase, signed_in: list[Member]) -> dict[str, list[Target]]:
    """Each benchmark's URLs with the SQL the server builds for them (prepare())."""
    conn = await asyncpg.connect(db.app_dsn)
    try:
        cache = await load_schema_cache(conn)
        found: dict[str, list[Target]] = {"top10": [], **{name: [] for name in IDS_PER_USER}}
        for member in signed_in:
            token = member.token
            claims = verify(token, BENCH_SECRET)
            queries = {"top10": [top10_query(member.team)]}
            for name, count in IDS_PER_USER.items():
                queries[name] = [by_id_query(gpt) for gpt in member.gpts[:count]]
            for name, items in queries.items():
                for query in items:
                    prepared = prepare(RestRequest("GET", "gpts", query, {}), cache, max_rows=1000)
                    path = "/rest/v1/gpts?" + "&".join(f"{k}={v}" for k, v in query)
                    statement = prepared.statement
                    found[name].append(
                        Target(path, token, claims, statement.sql, list(statement.params))
                    )
        return found
    finally:
        await conn.close()


def _processes() -> dict[int, list[str]]:
    """The fields of /proc/PID/stat from field 3 (state) on, by pid."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        found[int(stat.parent.name)] = text[text.rindex(")") + 2 :].split()
    return found


def cpu_seconds(server_pid: int | None, postmaster: int) -> dict[str, float]:
    """CPU time used so far by the server's processes and by the PostgreSQL cluster.

    The cluster is its postmaster and live children plus, through the postmaster's
    cutime/cstime, every child that has ended (the pools replace a connection after
    50,000 queries).
    """
    tick = os.sysconf("SC_CLK_TCK")
    processes = _processes()
    ended = processes[postmaster][13:15]  # cutime, cstime
    groups = {"server": 0.0, "postgres": sum(int(value) for value in ended) / tick}
    for pid, fields in processes.items():
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if pid == postmaster or int(fields[1]) == postmaster:
            groups["postgres"] += seconds
            continue
        ancestor = pid
        while ancestor > 1 and ancestor != server_pid:
            ancestor = int(processes[ancestor][1]) if ancestor in processes else 0
        if ancestor == server_pid:
            groups["server"] += seconds
    return groups


def machine_busy() -> float:
    """CPU seconds the machine has been busy so far (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(patience: float = 600.0) -> None:
    """Wait (up to `patience` s) for 5 s in which the machine uses less than 0.1 core."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        busy = machine_busy()
        time.sleep(5)
        if machine_busy() - busy < 0.5:
            return


async def find_postmaster(dsn: str) -> int:
    """The pid of the postmaster serving `dsn` (the parent of a backend)."""
    conn = await asyncpg.connect(dsn)
    try:
        backend = await conn.fetchval("select pg_backend_pid()")
        return int(_processes()[backend][1])
    finally:
        await conn.close()


def _children_cpu() -> float:
    """CPU time of this process's children that have ended (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk_point(run: Run, lines: Path, clients: int, seconds: float) -> dict:
    """One wrk run: throughput, latency, the mean Server-Timing stages, CPU per request."""
    command = [
        "wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s",
        "-s", str(run.script), run.url, "--", str(lines), project_keys(BENCH_SECRET).anon_key,
    ]  # fmt: skip
    before = {**cpu_seconds(run.server.pid, run.postmaster), "wrk": _children_cpu()}
    busy = machine_busy()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    busy = machine_busy() - busy
    after = {**cpu_seconds(run.server.pid, run.postmaster), "wrk": _children_cpu()}
    used = {name: after[name] - before[name] for name in before}
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    served = max(1, figures["requests"])
    wall = figures["duration_us"] / 1e6
    stages = {
        name: round(total / max(1, figures["timed"]), 3)
        for name, total in figures["stage_ms"].items()
    }
    mean_ms = figures["mean_us"] / 1000
    return {
        "rps": round(served / wall),
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
        "mean_ms": round(mean_ms, 3),
        "server_timing_ms": stages,
        # What wrk waited beyond the stages: HTTP, routing, middleware, the event loop's queue.
        "outside_stages_ms": round(mean_ms - sum(stages.values()), 3),
        "cpu_us_per_request": {name: round(value / served * 1e6) for name, value in used.items()},
        # Cores busy meanwhile outside the server, PostgreSQL and wrk: other work on the
        # machine (and the kernel's interrupt time, charged to no process).
        "other_cores": round((busy - sum(used.values())) / wall, 2),
        "errors": figures["socket_errors"] + figures["non_200"],
    }


async def _ceiling_loops(
    app_dsn: str, work: list[Target], info: RequestInfo, clients: int, start_at: float,
    seconds: float,
) -> tuple[float, float, list[float]]:  # fmt: skip
    size = min(clients, SERVER_POOL_MAX)
    pool = await create_pool(app_dsn, min_size=size, max_size=size)
    scope = Scope(pool)
    latencies: list[float] = []
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = time.perf_counter() + seconds

    async def loop(worker: int) -> None:
        at = worker * len(work) // clients
        while time.perf_counter() < deadline:
            target = work[at % len(work)]
            at += 1
            started = time.perf_counter()
            async with scope.as_claims(target.claims, request=info, read_only=True) as conn:
                await conn.fetchrow(target.sql, *target.params)
            latencies.append(time.perf_counter() - started)

    began, cpu = time.perf_counter(), time.process_time()
    try:
        await asyncio.gather(*(loop(i) for i in range(clients)))
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        await pool.close()
    return elapsed, cpu, latencies


def _ceiling_process(
    app_dsn: str, work: list[Target], info: RequestInfo, clients: int, start_at: float,
    seconds: float,
) -> tuple[float, float, list[float]]:  # fmt: skip
    return uvloop.run(_ceiling_loops(app_dsn, work, info, clients, start_at, seconds))


def ceiling_point(run: Run, work: list[Target], clients: int, seconds: float) -> dict:
    """The statements through asyncpg, one process per server worker sharing `clients`."""
    processes = min(run.workers, clients)
    start_at = time.time() + 3.0  # the processes' imports and pools are ready by then
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    info = RequestInfo("GET", "/rest/v1/gpts", {"host": run.url[len("http://") :]}, "127.0.0.1")
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as executor:
        futures = [
            executor.submit(_ceiling_process, run.app_dsn, work, info, share, start_at, seconds)
            for share in shares
        ]
        time.sleep(max(0.0, start_at - time.time()))
        postgres, busy = cpu_seconds(None, run.postmaster)["postgres"], machine_busy()
        results = [future.result() for future in futures]
        postgres = cpu_seconds(None, run.postmaster)["postgres"] - postgres
        busy = machine_busy() - busy
    latencies = sorted(value for _, _, values in results for value in values)
    wall = max(elapsed for elapsed, _, _ in results)
    client_cpu = sum(cpu for _, cpu, _ in results)
    return {
        "rps": round(sum(len(values) / elapsed for elapsed, _, values in results)),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "cpu_us_per_query": {
            "client": round(client_cpu / max(1, len(latencies)) * 1e6),
            "postgres": round(postgres / max(1, len(latencies)) * 1e6),
        },
        "other_cores": round((busy - postgres - client_cpu) / wall, 2),
    }


def measure(
    run: Run, lines: Path, work: list[Target], clients: int, seconds: float, max_other: float
) -> dict:
    """Ceiling, then server, at `clients`; up to 3 tries while other work took the CPU.

    Kept: the first try during which the rest of the machine used at most `max_other`
    cores, else the one during which it used the least.
    """
    tries = []
    for _ in range(3):
        wait_until_quiet()
        ceiling = ceiling_point(run, work, clients, seconds)
        served = wrk_point(run, lines, clients, seconds)
        tries.append((max(ceiling["other_cores"], served["other_cores"]), served, ceiling))
        if tries[-1][0] <= max_other:
            break
    _, served, ceiling = min(tries, key=lambda found: found[0])
    return {
        "server": served,
        "ceiling": ceiling,
        "server_over_ceiling": round(served["rps"] / ceiling["rps"], 2),
        "attempts": len(tries),
    }


def check_answers(url: str, anon: str, work: dict[str, list[Target]], expected: dict) -> None:
    """The server answers each benchmark's first URL with what its statement returns."""
    for name, items in work.items():
        target = items[0]
        response = httpx.get(
            url + target.path,
            headers={"apikey": anon, "Authorization": f"Bearer {target.token}"},
        )
        response.raise_for_status()
        rows = response.json()
        if rows != json.loads(expected[name]) or len(rows) != (10 if name == "top10" else 1):
            raise SystemExit(f"{name}: the server answered {response.text[:200]}")


async def expected_bodies(app_dsn: str, work: dict[str, list[Target]]) -> dict[str, str]:
    pool = await create_pool(app_dsn, min_size=1, max_size=1)
    try:
        bodies = {}
        for name, items in work.items():
            target = items[0]
            async with Scope(pool).as_claims(target.claims, read_only=True) as conn:
                bodies[name] = (await conn.fetchrow(target.sql, *target.params))["body"]
        return bodies
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--gpts", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--clients", default="1,16,64", help="comma-separated concurrencies")
    parser.add_argument("--only", default="", help="comma-separated benchmarks (default all)")
    parser.add_argument(
        "--max-other-cores", type=float, default=0.15,
        help="measure a point again when other work used more CPU than this meanwhile",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed as the load generator: apt-get install -y wrk")
    async with bench_database() as db:
        people = await load(db.admin_dsn, args.teams, args.gpts)
        signed_in = await sign_in(db, people[: args.users], "http://127.0.0.1/auth/v1")
        work = await targets(db, signed_in)
        if args.only:
            work = {name: work[name] for name in args.only.split(",")}
        expected = await expected_bodies(db.app_dsn, work)
        postmaster = await find_postmaster(db.admin_dsn)
        print(
            f"# {db.server}, {args.teams} teams, {args.gpts} GPTs, {len(signed_in)} users, "
            f"{args.seconds:g} s a point",
            flush=True,
        )
        scratch = Path(tempfile.mkdtemp(prefix="gptdesk-bench-rest-", dir="/tmp"))
        await asyncio.to_thread(scratch.chmod, 0o711)
        script = scratch / "rest_reads.lua"
        script.write_text(LUA)
        for name, items in work.items():
            (scratch / f"{name}.tsv").write_text("".join(f"{t.path}\t{t.token}\n" for t in items))
        try:
            for workers in (int(n) for n in args.workers.split(",")):
                data_dir = scratch / f"server-{workers}"
                data_dir.mkdir(mode=0o711)
                server, url = await asyncio.to_thread(
                    start_server, db.admin_dsn, data_dir, workers=str(workers)
                )
                run = Run(server, url, workers, db.app_dsn, postmaster, script)
                try:
                    check_answers(url, project_keys(BENCH_SECRET).anon_key, work, expected)
                    for name, items in work.items():
                        lines = scratch / f"{name}.tsv"
                        # Warm up: plan caches, pools, live-session caches.
                        await asyncio.to_thread(wrk_point, run, lines, 16, 2)
                        for clients in (int(n) for n in args.clients.split(",")):
                            point = await asyncio.to_thread(
                                measure, run, lines, items, clients, args.seconds,
                                args.max_other_cores,
                            )  # fmt: skip
                            head = {"benchmark": name, "workers": workers, "clients": clients}
                            print(json.dumps({**head, **point}), flush=True)
                finally:
                    await asyncio.to_thread(stop_server, server)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
