"""postgres_changes fan-out under RLS: delivered messages/s, insert→delivery latency, memory.

Usage: python -m bench.realtime_fanout [--subscribers 1000,5000] [--teams 10]
                                       [--rates 10,50,100,200] [--seconds 10] [--workers 1]

Makes TEAMS teams and SUBSCRIBERS users spread over them, each with a live session and an
access token; starts `gptdesk serve`; opens one real WebSocket per user (vsn 1.0.0, from
client processes of their own, one per core) subscribed to `*` on public.gpts with no
filter — so for every change RLS alone decides who receives it — then inserts team GPTs
at each RATE per second for SECONDS (one transaction each, round-robin over the teams).
Each insert is visible to the members of its team: SUBSCRIBERS / TEAMS deliveries.

Reports per point: inserts/s achieved, delivered messages/s, expected deliveries and the
share that arrived, latency from the change's commit timestamp to its arrival at the
client (p50, p99), and the server's RSS per connection (RSS with every socket open less
RSS before, over SUBSCRIBERS). Targets (issue 7): ≥ 10k delivered msg/s and p99 ≤ 100 ms
at 1,000 subscribers; Supabase's published ceiling for changes with RLS is ~3-4k msg/s.
"""

import argparse
import asyncio
import json
import multiprocessing
import time
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg
import orjson
import websockets

from bench.common import BENCH_SECRET, bench_database, percentile, start_server, stop_server
from gptdesk.auth.keys import project_keys
from gptdesk.auth.tokens import mint_access_token


async def load_users(admin_dsn: str, teams: int, users: int) -> tuple[list[uuid.UUID], list[str]]:
    """Teams, users spread over them with live sessions; (team ids, access tokens)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        team_ids = [
            r["id"]
            for r in await conn.fetch(
                "insert into public.teams (name) select 'rt team ' || g "
                "from generate_series(1, $1) g returning id",
                teams,
            )
        ]
        tokens = []
        for n in range(users):
            team = team_ids[n % teams]
            user_id = uuid.uuid4()
            email = f"rt{n}-{user_id.hex[:6]}@bench.example"
            await conn.execute(
                "insert into auth.users (id, aud, role, email, raw_app_meta_data) "
                "values ($1, 'authenticated', 'authenticated', $2, $3::jsonb)",
                user_id, email, orjson.dumps({"team_id": str(team)}).decode(),
            )  # fmt: skip
            session = uuid.uuid4()
            await conn.execute(
                "insert into auth.sessions (id, user_id) values ($1, $2)", session, user_id
            )
            tokens.append(
                mint_access_token(
                    secret=BENCH_SECRET, issuer="http://bench/auth/v1", lifetime=86400,
                    user={"id": user_id, "email": email, "role": "authenticated",
                          "aud": "authenticated"},
                    session_id=str(session), aal="aal1", amr=[],
                ).token
            )  # fmt: skip
        return team_ids, tokens
    finally:
        await conn.close()


def _client(
    url: str, anon: str, tokens: list[str], ready: object, stop: object, out: object
) -> None:
    """A client process: one socket per token; sends back (arrival, commit) latencies."""
    asyncio.run(_clients(url, anon, tokens, ready, stop, out))


async def _clients(url: str, anon: str, tokens: list[str], ready, stop, out) -> None:  # type: ignore[no-untyped-def]
    ws_url = url.replace("http", "ws") + f"/realtime/v1/websocket?apikey={anon}&vsn=1.0.0"
    latencies: list[float] = []
    joined = 0
    all_joined = asyncio.Event()

    async def one(token: str) -> None:
        nonlocal joined
        async with websockets.connect(ws_url, max_queue=None, ping_interval=None) as ws:
            join = {
                "topic": "realtime:gpts", "event": "phx_join", "ref": "1", "join_ref": "1",
                "payload": {"config": {"postgres_changes": [
                    {"event": "*", "schema": "public", "table": "gpts"}]},
                    "access_token": token},
            }  # fmt: skip
            await ws.send(orjson.dumps(join).decode())
            while True:
                frame = orjson.loads(await ws.recv())
                if frame["event"] == "phx_reply":
                    break
            joined += 1
            if joined == len(tokens):
                all_joined.set()
            while True:
                frame = orjson.loads(await ws.recv())
                if frame["event"] == "postgres_changes":
                    committed = datetime.fromisoformat(
                        frame["payload"]["data"]["commit_timestamp"].replace("Z", "+00:00")
                    ).timestamp()
                    latencies.append(time.time() - committed)

    tasks = []
    for token in tokens:
        tasks.append(asyncio.create_task(one(token)))
        await asyncio.sleep(0.002)
    await all_joined.wait()
    ready.set()  # type: ignore[attr-defined]
    while True:
        command = await asyncio.to_thread(stop.get)  # type: ignore[attr-defined]
        if command == "collect":
            out.put(latencies[:])  # type: ignore[attr-defined]
            latencies.clear()
        else:
            break
    for task in tasks:
        task.cancel()


def rss_mb(pid: int) -> float:
    """RSS of `pid` and its children (PostgreSQL excluded), MB."""
    total = 0
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


async def insert_at(admin_dsn: str, teams: list[uuid.UUID], rate: int, seconds: float) -> int:
    """Insert team GPTs at `rate` per second for `seconds`; how many were inserted."""
    conn = await asyncpg.connect(admin_dsn)
    done = 0
    started = time.perf_counter()
    try:
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(elapsed * rate) + 1
            while done < due:
                await conn.execute(
                    "insert into public.gpts (name, team_id, status, approval_status) "
                    "values ('rt gpt', $1, 'active', 'approved')",
                    teams[done % len(teams)],
                )
                done += 1
            await asyncio.sleep(0.001)
    finally:
        await conn.close()
    return done


async def point(
    admin_dsn: str,
    teams: list[uuid.UUID],
    subscribers: int,
    rate: int,
    seconds: float,
    commands: list,
    results,
    cores: int,  # type: ignore[no-untyped-def]
) -> dict:
    inserted = await insert_at(admin_dsn, teams, rate, seconds)
    await asyncio.sleep(2)  # let the last deliveries arrive
    for queue in commands:
        queue.put("collect")
    latencies: list[float] = []
    for _ in commands:
        latencies.extend(await asyncio.to_thread(results.get))
    latencies.sort()
    expected = inserted * subscribers // len(teams)
    return {
        "subscribers": subscribers, "target_inserts_per_s": rate,
        "inserts_per_s": round(inserted / seconds, 1),
        "delivered_per_s": round(len(latencies) / seconds, 1),
        "delivered_share": round(len(latencies) / expected, 3) if expected else None,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", default="1000,5000")
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--rates", default="10,50,100,200")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--client-processes", type=int, default=2)
    options = parser.parse_args()
    anon = project_keys(BENCH_SECRET).anon_key
    for subscribers in [int(s) for s in options.subscribers.split(",")]:
        async with bench_database() as database:
            teams, tokens = await load_users(database.admin_dsn, options.teams, subscribers)
            data_dir = Path(f"/tmp/gptdesk-bench-rt-{uuid.uuid4().hex[:6]}")
            server, url = start_server(database.admin_dsn, data_dir, workers=str(options.workers))
            try:
                idle = rss_mb(server.pid)
                context = multiprocessing.get_context("spawn")
                results = context.Queue()
                commands, processes, readies = [], [], []
                per = -(-len(tokens) // options.client_processes)
                for first in range(0, len(tokens), per):
                    ready, command = context.Event(), context.Queue()
                    process = context.Process(
                        target=_client,
                        args=(url, anon, tokens[first : first + per], ready, command, results),
                    )
                    process.start()
                    processes.append(process)
                    commands.append(command)
                    readies.append(ready)
                for ready in readies:
                    await asyncio.to_thread(ready.wait, 600)
                connected = rss_mb(server.pid)
                print(json.dumps({
                    "subscribers": subscribers, "server_idle_rss_mb": round(idle, 1),
                    "server_rss_mb": round(connected, 1),
                    "kb_per_connection": round((connected - idle) * 1024 / subscribers, 1),
                }), flush=True)  # fmt: skip
                for rate in [int(r) for r in options.rates.split(",")]:
                    measured = await point(
                        database.admin_dsn, teams, subscribers, rate, options.seconds,
                        commands, results, options.client_processes,
                    )  # fmt: skip
                    print(json.dumps(measured), flush=True)
                for command in commands:
                    command.put("stop")
                for process in processes:
                    process.join(timeout=10)
                    if process.is_alive():
                        process.kill()
            finally:
                stop_server(server)


if __name__ == "__main__":
    asyncio.run(main())
