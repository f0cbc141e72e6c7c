"""The daily rollups (usage_daily_teams, _gpts, _users, _totals) always equal the raw usage
rows added up: after inserts of one row and of many in one statement, after deletes (by id, in bulk,
by a GPT's cascade) and after updates that move rows between days, months, teams, users,
GPTs and models or change their figures. The expected sums are worked out in Python from
the raw rows as the owner reads them, over the whole table, so rows of any other test count
too. The p95 the API derives from the histogram lies within the bucket of the exact one.
"""

import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.analytics.crew import Crew, add_gpt
from tests.analytics.dataset import seed_usage
from tests.analytics.usage import (
    Sums,
    Use,
    check_usage,
    insert,
    per_period,
    raw_uses,
    span,
    totals,
)
from tests.conftest import MigratedDatabase

FIRST = date(2024, 5, 1)
DAYS = 92  # May to July 2024
MODELS = ("rollup-model-a", "rollup-model-b", "rollup-model-c")
HIST = ", ".join(f"h{i:02d}" for i in range(20))
SUMMED = (
    "requests, failed_requests, unpriced_requests, prompt_tokens, completion_tokens, cost,"
    f" response_ms_sum, {HIST}"
)
# rollup: (its key columns as text, the raw row's key)
ROLLUPS: dict[str, tuple[str, Any]] = {
    "usage_daily_teams": ("day, team_id::text", lambda u: (u.day, u.team_id)),
    "usage_daily_gpts": (
        "day, team_id::text, gpt_id::text, model",
        lambda u: (u.day, u.team_id, u.gpt_id, u.model),
    ),
    "usage_daily_users": (
        "day, team_id::text, user_id::text",
        lambda u: (u.day, u.team_id, u.user_id),
    ),
    "usage_daily_totals": ("day, slot", lambda u: (u.day, slot_of(u.id))),
}


def slot_of(usage_id: str) -> int:
    """The organization-wide rollup's slot of a usage row: its id's low four bits."""
    return uuid.UUID(usage_id).bytes[15] & 15


def figures(sums: Sums) -> tuple[Any, ...]:
    """Sums in the rollup's column order."""
    return (
        sums.requests, sums.failed, sums.unpriced, sums.prompt, sums.completion, sums.cost,
        sums.ms_sum, *sums.hist,
    )  # fmt: skip


async def check_rollups(conn: asyncpg.Connection) -> None:
    """Each rollup holds exactly the raw rows' sums (rows emptied by deletes hold zeros)."""
    raw = await raw_uses(conn)
    for table, (keys, key_of) in ROLLUPS.items():
        width = keys.count(",") + 1
        stored: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for row in await conn.fetch(f"select {keys}, {SUMMED} from public.{table}"):
            values = tuple(row)
            key, sums = values[:width], values[width:]
            if sums[0] == 0:
                assert all(v == 0 for v in sums), (table, key, sums)
                continue
            stored[key] = sums
        expected = {key: figures(s) for key, s in totals(raw, key_of).items()}
        missing = {k: v for k, v in expected.items() if stored.get(k) != v}
        extra = {k: v for k, v in stored.items() if k not in expected}
        assert not missing and not extra, (table, missing, extra)
    await check_running_totals(conn, raw)


async def check_running_totals(conn: asyncpg.Connection, raw: list[Use]) -> None:
    """Each GPT's month holds its requests and cost through each day of the month."""
    expected: dict[tuple[Any, ...], tuple[list[int], list[Decimal]]] = {}
    for use in raw:
        if use.gpt_id is None:
            continue
        key = (use.day.replace(day=1), use.team_id, use.gpt_id)
        requests, cost = expected.setdefault(key, ([0] * 31, [Decimal(0)] * 31))
        for index in range(use.day.day - 1, 31):
            requests[index] += 1
            cost[index] += use.cost or 0
    stored = {
        (row["month"], row["team_id"], row["gpt_id"]): (list(row["requests"]), list(row["cost"]))
        for row in await conn.fetch(
            "select month, team_id::text, gpt_id::text, requests, cost"
            " from analytics.gpt_running_totals"
        )
    }
    assert stored == expected


@dataclass
class Dataset:
    crew: Crew
    uses: list[Use]


async def make_dataset(conn: asyncpg.Connection, crew: Crew, seed: int, n: int) -> Dataset:
    """Four GPTs for team x, three for team y (one public each), and `n` rows."""
    uses = await seed_usage(conn, crew, seed=seed, n=n, first=FIRST, days=DAYS, models=MODELS)
    return Dataset(crew, uses)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dataset(owner: asyncpg.Connection, crew: Crew) -> AsyncIterator[Dataset]:
    yield await make_dataset(owner, crew, seed=20240501, n=1500)


async def test_rollups_equal_the_raw_rows_summed(
    owner: asyncpg.Connection, dataset: Dataset
) -> None:
    stored = {u.id for u in await raw_uses(owner, FIRST, FIRST + timedelta(days=DAYS))}
    assert {u.id for u in dataset.uses} <= stored
    await check_rollups(owner)


async def test_rollups_follow_deletes_and_updates(
    owner: asyncpg.Connection, fresh_crew: Crew
) -> None:
    data = await make_dataset(owner, fresh_crew, seed=7, n=600)
    rng = random.Random(11)
    ids = [uuid.UUID(u.id) for u in data.uses]
    rng.shuffle(ids)

    # deletes: one row, many in one statement, and a GPT's rows by its cascade
    await owner.execute("delete from public.usage_analytics where id = $1", ids.pop())
    await check_rollups(owner)
    await owner.execute("delete from public.usage_analytics where id = any($1::uuid[])", ids[:80])
    del ids[:80]
    await check_rollups(owner)
    doomed = fresh_crew.gpts_of("y")[-1]
    await owner.execute("delete from public.gpts where id = $1", uuid.UUID(doomed.id))
    await check_rollups(owner)

    # updates that change nothing, figures, days and months, and every key
    await owner.execute(
        "update public.usage_analytics set cost = cost where id = any($1::uuid[])", ids[:40]
    )
    await check_rollups(owner)
    await owner.execute(
        "update public.usage_analytics set cost = case when cost is null then 0.5 else null end,"
        " response_time_ms = response_time_ms * 3 + 49,"
        " metrics = metrics || '{\"status\": \"failed\", \"prompt_tokens\": 11}'::jsonb"
        " where id = any($1::uuid[])",
        ids[40:100],
    )  # fmt: skip
    await check_rollups(owner)
    await owner.execute(
        "update public.usage_analytics set created_at = created_at + interval '1 day'"
        " where id = any($1::uuid[])",
        ids[100:140],
    )
    await owner.execute(
        "update public.usage_analytics set created_at = created_at - interval '40 days'"
        " where id = any($1::uuid[])",
        ids[140:160],
    )
    await check_rollups(owner)
    team_y, user_y = fresh_crew.teams["y"], fresh_crew.users["user_y"]
    await owner.execute(
        "update public.usage_analytics set team_id = $2, user_id = $3, gpt_id = null,"
        " metrics = metrics || '{\"model\": \"rollup-model-moved\"}'::jsonb"
        " where id = any($1::uuid[])",
        ids[160:220], uuid.UUID(team_y), uuid.UUID(user_y),
    )  # fmt: skip
    await check_rollups(owner)
    await owner.execute(
        "update public.usage_analytics set cost = 0.00000001 where id = $1", ids[220]
    )
    await owner.execute(
        "update public.usage_analytics set metrics = '{}' where id = any($1::uuid[])", ids[221:260]
    )
    await check_rollups(owner)
    # nothing matched: the triggers see empty transition tables
    await owner.execute("update public.usage_analytics set cost = 1 where id = $1", uuid.uuid4())
    await owner.execute("delete from public.usage_analytics where id = $1", uuid.uuid4())
    await check_rollups(owner)


async def test_p95_lies_in_the_bucket_of_the_exact_percentile(
    owner: asyncpg.Connection, dataset: Dataset
) -> None:
    crew = dataset.crew
    last = FIRST + timedelta(days=DAYS - 1)
    raw = [u for u in await raw_uses(owner, FIRST, last) if u.team_id == crew.teams["x"]]
    for group_by, period in (
        ("gpt", "month"),
        ("none", "week"),
        ("model", "month"),
        ("user", "day"),
    ):
        r = crew.get(
            "/api/v1/analytics/usage", "super", **span(FIRST, last),
            period=period, group_by=group_by, team_id=crew.teams["x"],
        )  # fmt: skip
        assert r.status_code == 200, r.text
        expected = per_period(raw, period, group_by)
        assert expected
        check_usage(r.json(parse_float=Decimal)["rows"], expected, group_by)


async def test_usage_taken_away_leaves_no_empty_groups(
    owner: asyncpg.Connection, fresh_crew: Crew
) -> None:
    crew = fresh_crew
    gone = await add_gpt(owner, crew, "x", MODELS[0])
    kept = await add_gpt(owner, crew, "x", MODELS[0])
    day = datetime(2024, 6, 10, 12, tzinfo=UTC)
    uses = [
        Use(str(uuid.uuid4()), crew.users["user_x"], crew.teams["x"], g.id, MODELS[0],
            day + timedelta(days=i), Decimal("0.25"), 400, 10, 5)
        for i, g in enumerate([gone, gone, kept])
    ]  # fmt: skip
    await insert(owner, uses)
    await owner.execute(
        "delete from public.usage_analytics where id = any($1::uuid[])",
        [uuid.UUID(u.id) for u in uses[:2]],
    )
    await check_rollups(owner)
    params = {**span(day.date(), day.date() + timedelta(days=3)), "group_by": "gpt"}
    for actor in ("admin_x", "user_x"):
        rows = crew.get("/api/v1/analytics/usage", actor, **params).json()["rows"]
        assert [(r["gpt"], r["requests"]) for r in rows] == [(kept.id, 1)], (actor, rows)
    top = crew.get(
        "/api/v1/analytics/dashboard", "admin_x", **span(day.date(), day.date() + timedelta(days=3))
    ).json()["top_gpts"]
    assert [t["gpt"] for t in top] == [kept.id]


async def truncate_as(db: MigratedDatabase, role: str) -> None:
    """TRUNCATE the raw usage rows as `role`, in a transaction that is rolled back."""
    conn = await asyncpg.connect(db.app_dsn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(f"set local role {role}")
        await conn.execute("truncate public.usage_analytics")
    finally:
        await transaction.rollback()
        await conn.close()


@pytest.mark.parametrize("role", ("authenticated", "anon"))
async def test_request_roles_cannot_truncate_the_raw_rows(db: MigratedDatabase, role: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await truncate_as(db, role)


async def test_the_service_role_cannot_truncate_the_raw_rows(db: MigratedDatabase) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await truncate_as(db, "service_role")


async def test_truncating_the_raw_rows_empties_every_rollup(
    db: MigratedDatabase, dataset: Dataset
) -> None:
    tables = (
        *(f"public.{t}" for t in ROLLUPS),
        "analytics.user_active_days",
        "analytics.gpt_running_totals",
    )
    conn = await asyncpg.connect(db.admin_dsn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        for table in tables:
            assert await conn.fetchval(f"select count(*) from {table}") > 0, table
        await conn.execute("truncate public.usage_analytics cascade")
        for table in tables:
            assert await conn.fetchval(f"select count(*) from {table}") == 0, table
    finally:
        await transaction.rollback()
        await conn.close()


async def rows_seen(db: MigratedDatabase, crew: Crew, actor: str, sql: str) -> set[Any]:
    """The rows of `sql` that `actor`'s claims see (RLS decides), read in a rolled back
    transaction as the request roles do."""
    conn = await asyncpg.connect(db.app_dsn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute("set local role authenticated")
        claims = {"sub": crew.users[actor], "role": "authenticated", "aal": "aal2"}
        await conn.execute("select set_config('request.jwt.claims', $1, true)", json.dumps(claims))
        return {tuple(row) for row in await conn.fetch(sql)}
    finally:
        await transaction.rollback()
        await conn.close()


@pytest.mark.parametrize("table", ("analytics.user_active_days", "analytics.gpt_running_totals"))
async def test_analytics_schema_rollups_follow_the_usage_policies(
    db: MigratedDatabase, owner: asyncpg.Connection, dataset: Dataset, table: str
) -> None:
    crew = dataset.crew
    ours = list(crew.teams.values())
    sql = f"select team_id::text, {'user_id' if 'active' in table else 'gpt_id'}::text from {table}"
    every = {tuple(r) for r in await owner.fetch(sql + " where team_id = any($1::uuid[])", ours)}
    assert {team for team, _ in every} == set(ours)
    mine = f" where team_id = any('{{{','.join(ours)}}}'::uuid[])"
    seen = {actor: await rows_seen(db, crew, actor, sql + mine) for actor in crew.users}
    assert seen["super"] == every
    for actor in ("admin_x", "admin_y"):
        assert seen[actor] == {r for r in every if r[0] == crew.team_of(actor)}, actor
    for actor in ("user_x", "user_x2", "user_y"):
        own = {r for r in every if r[1] == crew.users[actor]} if "active" in table else set()
        assert seen[actor] == own, actor


@pytest.mark.parametrize("role", ("authenticated", "service_role"))
@pytest.mark.parametrize(
    "statement",
    (
        "insert into analytics.gpt_running_totals (month, gpt_id, requests, cost)"
        " values ('2020-01-01', gen_random_uuid(), '{1}', '{1}')",
        "update analytics.gpt_running_totals set requests = '{}'",
        "delete from analytics.gpt_running_totals",
        "update analytics.user_active_days set days = 0",
        "delete from analytics.user_active_days",
    ),
)
async def test_request_roles_cannot_write_the_analytics_schema_rollups(
    db: MigratedDatabase, role: str, statement: str
) -> None:
    conn = await asyncpg.connect(db.app_dsn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(f"set local role {role}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await transaction.rollback()
        await conn.close()
