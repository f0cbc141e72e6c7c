"""Request-context throughput: "the 20 newest GPTs of my team" with and without RLS scope.

Usage: python -m bench.scope_throughput [--teams 1000] [--gpts 100000] [--seconds 10]

Loads TEAMS teams with one user each and GPTS GPTs spread over them, then runs the hot
query from 1 and 8 connections (one client task per connection) for SECONDS each:

  ceiling   the same SQL as the owner, no transaction, no role switch, no RLS
  scoped    `Scope.as_claims(user)` (BEGIN + role + claims in one round trip), the query
            under RLS, COMMIT: what every API request pays
  scoped_without_rls  the same scope as service_role (BYPASSRLS), asyncpg only: splits
            the cost between the transaction's round trips and the policies

for both drivers (asyncpg, psycopg 3), and prints queries/s, p50/p99 and scoped/ceiling.
Set GPTDESK_BENCH_DATABASE_URL to run on an existing cluster instead of an embedded one.
"""

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import psycopg_pool

from bench.common import BenchDatabase, bench_database, percentile
from gptdesk.db.pool import create_pool
from gptdesk.db.scope import Scope, preamble

HOT_QUERY = (
    "select id, name, description, category, usage_count, created_at from public.gpts "
    "where team_id = $1 order by created_at desc limit 20"
)


async def load(admin_dsn: str, teams: int, gpts: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Create the world; return (team id, user id) pairs."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(
            "insert into public.teams (name) "
            f"select 'team ' || g from generate_series(1, {int(teams)}) g"
        )
        await conn.execute(
            """
            insert into auth.users (id, aud, role, email, raw_user_meta_data)
            select gen_random_uuid(), 'authenticated', 'authenticated',
                   'user' || row_number() over () || '@bench.example', '{}'::jsonb
            from public.teams;
            """
        )
        await conn.execute(
            """
            with t as (select id, row_number() over (order by id) n from public.teams),
                 u as (select id, row_number() over (order by id) n from public.users)
            update public.users set team_id = t.id from t, u
            where u.id = public.users.id and t.n = u.n;
            """
        )
        await conn.execute(
            f"""
            insert into public.gpts (name, description, category, team_id, creator_id, status,
                                     approval_status, is_public, created_at)
            select 'gpt ' || g, 'benchmark assistant', 'general', u.team_id, u.id, 'active',
                   'approved', g % 50 = 0, now() - (g || ' seconds')::interval
            from generate_series(1, {int(gpts)}) g
            join (select id, team_id, row_number() over (order by id) - 1 as n
                  from public.users) u on u.n = g % {int(teams)};
            analyze;
            """
        )
        rows = await conn.fetch("select team_id, id from public.users where team_id is not null")
        return [(row["team_id"], row["id"]) for row in rows]
    finally:
        await conn.close()


async def drive(
    clients: int, seconds: float, once: Callable[[int], Awaitable[None]]
) -> dict[str, float]:
    """Run `once` in `clients` loops for `seconds`; return throughput and latency."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(worker: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await once(worker)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "qps": round(len(latencies) / elapsed),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }


def claims_for(user: uuid.UUID) -> dict[str, object]:
    return {"role": "authenticated", "sub": str(user), "aud": "authenticated", "aal": "aal1"}


async def run_asyncpg(
    db: BenchDatabase, people: list[tuple[uuid.UUID, uuid.UUID]], clients: int, seconds: float
) -> dict[str, dict[str, float]]:
    owner = await create_pool(db.admin_dsn, min_size=clients, max_size=clients)
    app = await create_pool(db.app_dsn, min_size=clients, max_size=clients)
    scope = Scope(app)
    rng = random.Random(1)

    async def ceiling(_: int) -> None:
        team, _user = rng.choice(people)
        async with owner.acquire() as conn:
            await conn.fetch(HOT_QUERY, team)

    async def scoped(_: int) -> None:
        team, user = rng.choice(people)
        async with scope.as_claims(claims_for(user), read_only=True) as conn:
            rows = await conn.fetch(HOT_QUERY, team)
            assert len(rows) == 20, "RLS hid the user's own team"

    async def scoped_bypass(_: int) -> None:
        team, _user = rng.choice(people)
        async with scope.as_claims({"role": "service_role"}, read_only=True) as conn:
            await conn.fetch(HOT_QUERY, team)

    try:
        return {
            "ceiling": await drive(clients, seconds, ceiling),
            "scoped": await drive(clients, seconds, scoped),
            "scoped_without_rls": await drive(clients, seconds, scoped_bypass),
        }
    finally:
        await owner.close()
        await app.close()


async def run_psycopg(
    db: BenchDatabase, people: list[tuple[uuid.UUID, uuid.UUID]], clients: int, seconds: float
) -> dict[str, dict[str, float]]:
    query = HOT_QUERY.replace("$1", "%s")
    rng = random.Random(1)
    owner = psycopg_pool.AsyncConnectionPool(
        db.admin_dsn, min_size=clients, max_size=clients, kwargs={"autocommit": True}, open=False
    )
    app = psycopg_pool.AsyncConnectionPool(
        db.app_dsn, min_size=clients, max_size=clients, kwargs={"autocommit": True}, open=False
    )
    await owner.open()
    await app.open()

    async def ceiling(_: int) -> None:
        team, _user = rng.choice(people)
        async with owner.connection() as conn:
            await (await conn.execute(query, (team,))).fetchall()

    async def scoped(_: int) -> None:
        team, user = rng.choice(people)
        async with app.connection() as conn:
            # The same shape as gptdesk.db.scope: one round trip opens the scope.
            await conn.execute(preamble(claims_for(user), read_only=True).encode())
            rows = await (await conn.execute(query, (team,))).fetchall()
            await conn.execute(b"commit")
            assert len(rows) == 20

    try:
        return {
            "ceiling": await drive(clients, seconds, ceiling),
            "scoped": await drive(clients, seconds, scoped),
        }
    finally:
        await owner.close()
        await app.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--gpts", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    async with bench_database() as db:
        people = await load(db.admin_dsn, args.teams, args.gpts)
        print(f"# {db.server}, {args.teams} teams, {args.gpts} GPTs, {args.seconds:.0f} s a run")
        for driver, run in (("asyncpg", run_asyncpg), ("psycopg", run_psycopg)):
            for clients in (1, 8):
                result = await run(db, people, clients, args.seconds)
                ratio = result["scoped"]["qps"] / result["ceiling"]["qps"]
                print(
                    json.dumps(
                        {
                            "driver": driver,
                            "connections": clients,
                            **result,
                            "scoped_over_ceiling": round(ratio, 2),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    asyncio.run(main())
