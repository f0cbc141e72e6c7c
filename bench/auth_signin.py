"""Auth costs: password sign-ins per second (argon2-bound) and JWT verification per request.

Usage: python -m bench.auth_signin [--seconds 10] [--users 50]

1. JWT verification: µs per `verify()` of a user access token (HS256), and per the whole
   caller check a request pays (project key + user token), in one process.
2. argon2id verify: ms per password check with the parameters GPT Desk uses.
3. Sign-ins: a real `gptdesk serve` (1 worker) on an embedded PostgreSQL; USERS confirmed
   accounts; POST /auth/v1/token?grant_type=password from CONCURRENCY clients for SECONDS
   (rate limits raised out of the way) — sign-ins/s, p50/p99.
"""

import argparse
import asyncio
import json
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import BENCH_SECRET, bench_database, percentile, start_server
from gptdesk.auth.caller import project_key_role
from gptdesk.auth.keys import project_keys
from gptdesk.auth.passwords import HASHER
from gptdesk.auth.tokens import mint_access_token, verify

PASSWORD = "bench-password-1"


def jwt_costs(rounds: int = 20_000) -> dict[str, float]:
    token = mint_access_token(
        secret=BENCH_SECRET,
        issuer="bench",
        lifetime=3600,
        user={"id": "8f1c0000-0000-4000-8000-000000000001", "email": "b@example.com"},
        session_id="s",
        aal="aal1",
        amr=[],
    ).token
    anon = project_keys(BENCH_SECRET).anon_key
    started = time.perf_counter()
    for _ in range(rounds):
        verify(token, BENCH_SECRET)
    per_verify = (time.perf_counter() - started) / rounds
    started = time.perf_counter()
    for _ in range(rounds):
        project_key_role(anon, BENCH_SECRET)
        verify(token, BENCH_SECRET)
    per_request = (time.perf_counter() - started) / rounds
    return {"verify_us": round(per_verify * 1e6, 1), "per_request_us": round(per_request * 1e6, 1)}


def argon2_cost(rounds: int = 20) -> dict[str, object]:
    hashed = HASHER.hash(PASSWORD)
    started = time.perf_counter()
    for _ in range(rounds):
        HASHER.verify(hashed, PASSWORD)
    return {
        "argon2": (
            f"argon2id t={HASHER.time_cost} m={HASHER.memory_cost} KiB p={HASHER.parallelism}"
        ),
        "verify_ms": round((time.perf_counter() - started) / rounds * 1000, 1),
    }


async def sign_ins(url: str, anon: str, emails: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def loop(worker: int, http: httpx.AsyncClient) -> None:
        nonlocal failures
        n = worker
        while time.perf_counter() < deadline:
            email = emails[n % len(emails)]
            n += clients
            started = time.perf_counter()
            response = await http.post(
                f"{url}/auth/v1/token?grant_type=password",
                headers={"apikey": anon},
                json={"email": email, "password": PASSWORD},
            )
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 200

    async with httpx.AsyncClient(timeout=30) as http:
        started = time.perf_counter()
        await asyncio.gather(*(loop(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "concurrency": clients,
        "sign_ins_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "failures": failures,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(jwt_costs()))
    print(json.dumps(argon2_cost()))
    async with bench_database() as db:
        data_dir = Path(tempfile.mkdtemp(prefix="gptdesk-bench-auth-", dir="/tmp"))
        await asyncio.to_thread(data_dir.chmod, 0o711)
        server, url = await asyncio.to_thread(
            start_server,
            db.admin_dsn,
            data_dir,
            rate_limit_token_ip="1000000/minute",
            rate_limit_sign_in_email="1000000/minute",
        )
        try:
            keys = project_keys(BENCH_SECRET)
            service = {
                "apikey": keys.service_role_key,
                "Authorization": f"Bearer {keys.service_role_key}",
            }
            emails = [f"bench-{i}-{secrets.token_hex(3)}@example.com" for i in range(args.users)]
            async with httpx.AsyncClient(timeout=30) as http:
                for email in emails:
                    created = await http.post(
                        f"{url}/auth/v1/admin/users",
                        headers=service,
                        json={"email": email, "password": PASSWORD, "email_confirm": True},
                    )
                    created.raise_for_status()
            for clients in (1, 4, 16):
                result = await sign_ins(url, keys.anon_key, emails, clients, args.seconds)
                print(json.dumps(result), flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            await asyncio.to_thread(server.wait, 60)
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
