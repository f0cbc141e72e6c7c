"""Cost of the RLS helper `is_admin_or_super` per query, as policies pay it (one InitPlan).

Usage: python -m bench.rls_helpers [--calls 5000]

Inside the server, runs `select public.<helper>($1)` CALLS times as dynamic SQL (parsed,
planned and executed like a fresh query each time, without client round trips) with a
user's claims set, for a plain user and a team admin, with GPTDESK_ADMIN_REQUIRES_AAL2's
setting off and on. `sql_0004` is 0004's SQL-language helper, recreated for reference;
`current` is the PL/pgSQL one of migrations/0010 that also applies the aal2 policy. The
figures include the ~7 µs a dynamic `select` costs by itself.
Set GPTDESK_BENCH_DATABASE_URL to run on an existing cluster instead of an embedded one.
"""

import argparse
import asyncio
import time
import uuid

import asyncpg
import orjson

from bench.common import bench_database

SQL_0004 = """
create or replace function public.bench_is_admin_or_super_0004(user_uuid uuid)
returns boolean language sql stable security definer set search_path = '' as $$
  select coalesce(
    (select u.role in ('admin', 'super_admin') from public.users u where u.id = user_uuid),
    false)
$$
"""
HELPERS = {"sql_0004": "bench_is_admin_or_super_0004", "current": "is_admin_or_super"}


async def per_call_us(conn: asyncpg.Connection, helper: str, user: uuid.UUID, calls: int) -> float:
    """Microseconds per `select helper(user)` with the user's aal1 claims set."""
    claims = {"role": "authenticated", "sub": str(user), "aal": "aal1"}
    async with conn.transaction():
        await conn.execute(
            "select set_config('request.jwt.claims', $1, true)", orjson.dumps(claims).decode()
        )
        started = time.perf_counter()
        await conn.execute(
            f"""
            do $loop$ declare answer boolean; begin
              for i in 1..{int(calls)} loop
                execute 'select public.{helper}($1)' into answer using '{user}'::uuid;
              end loop;
            end $loop$
            """
        )
        return (time.perf_counter() - started) / calls * 1e6


async def run(calls: int) -> None:
    async with bench_database() as database:
        conn = await asyncpg.connect(database.admin_dsn)
        try:
            await conn.execute(SQL_0004)
            users = {}
            for role in ("user", "admin"):
                user_id = uuid.uuid4()
                await conn.execute(
                    "insert into auth.users (id, aud, role, email) "
                    "values ($1, 'authenticated', 'authenticated', $2)",
                    user_id,
                    f"{role}-{user_id.hex[:8]}@bench.example",
                )
                await conn.execute(
                    "update public.users set role = $2::public.user_role where id = $1",
                    user_id,
                    role,
                )
                users[role] = user_id
            print(f"{database.server}, {calls} calls each")
            print("| policy | caller | sql_0004 µs | current µs |")
            print("|---|---|---|---|")
            for policy in (False, True):
                await conn.execute(
                    "update public.security_settings set admin_requires_aal2 = $1", policy
                )
                for role, user_id in users.items():
                    costs = [
                        await per_call_us(conn, helper, user_id, calls)
                        for helper in HELPERS.values()
                    ]
                    on_off = "on" if policy else "off"
                    print(f"| {on_off} | {role} | {costs[0]:.1f} | {costs[1]:.1f} |")
        finally:
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    asyncio.run(run(parser.parse_args().calls))


if __name__ == "__main__":
    main()
