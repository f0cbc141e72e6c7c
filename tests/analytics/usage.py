"""Usage rows for the analytics tests, and the arithmetic the server's figures are checked
against, done here in Python and nowhere near the rollups.

`generate` makes seeded random rows (people, GPTs, models, UTC days and times on the
edges of days, missing prices, failures, missing token counts, response times on the
histogram's bucket edges); `insert` writes them as the owner in statements of several rows
(the rollup triggers run per statement); `raw_uses` reads back every row of a range as it
is stored. `Sums` adds rows up the way the API defines its figures; the response-time
histogram's bucket bounds are migration 0022's, restated here.
"""

import json
import math
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

UPPER_BOUNDS_MS = (
    50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500, 10000, 15000,
    20000, 30000, 60000, 120000,
)  # fmt: skip
EDGE_TIMES_MS = (0, 1, 50, 51, 100, 101, 999, 1000, 1001, 119_999, 120_000, 120_001, 400_000)
STATUSES = (None, "completed", "completed", "completed", "failed", "cancelled")


def bucket(ms: int) -> int:
    """The histogram bucket of an answer of `ms` milliseconds (h00 … h19)."""
    return next((i for i, bound in enumerate(UPPER_BOUNDS_MS) if ms <= bound), 19)


def bucket_bounds(index: int) -> tuple[float, float]:
    """The interval a percentile interpolated in bucket `index` lies in."""
    low = 0 if index == 0 else UPPER_BOUNDS_MS[index - 1]
    high = UPPER_BOUNDS_MS[index] if index < len(UPPER_BOUNDS_MS) else 2 * UPPER_BOUNDS_MS[-1]
    return float(low), float(high)


@dataclass(frozen=True)
class Use:
    """One usage_analytics row."""

    id: str
    user_id: str | None
    team_id: str | None
    gpt_id: str | None
    model: str | None
    created_at: datetime
    cost: Decimal | None
    response_ms: int
    prompt: int | None = None
    completion: int | None = None
    status: str | None = None

    @property
    def day(self) -> date:
        return self.created_at.astimezone(UTC).date()

    def metrics(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in (
            ("model", self.model),
            ("prompt_tokens", self.prompt),
            ("completion_tokens", self.completion),
            ("status", self.status),
        ):
            if value is not None:
                found[key] = value
        return found

    def key(self, dimension: str) -> str | None:
        """The row's key in a grouping (none, team, user, gpt, model)."""
        return {
            "none": None,
            "team": self.team_id,
            "user": self.user_id,
            "gpt": self.gpt_id,
            "model": self.model,
        }[dimension]


@dataclass
class Sums:
    """Rows added up as the API reports them."""

    requests: int = 0
    failed: int = 0
    unpriced: int = 0
    prompt: int = 0
    completion: int = 0
    cost: Decimal = Decimal(0)
    ms_sum: int = 0
    hist: list[int] = field(default_factory=lambda: [0] * 20)
    times: list[int] = field(default_factory=list)

    def add(self, use: Use) -> None:
        self.requests += 1
        self.failed += (use.status or "completed") != "completed"
        self.unpriced += use.cost is None
        self.prompt += use.prompt or 0
        self.completion += use.completion or 0
        self.cost += use.cost or 0
        self.ms_sum += use.response_ms
        self.hist[bucket(use.response_ms)] += 1
        self.times.append(use.response_ms)

    def exact_p95(self) -> int:
        """The nearest-rank 95th percentile of the response times."""
        ordered = sorted(self.times)
        return ordered[math.ceil(len(ordered) * 95 / 100) - 1]

    def check(self, row: dict[str, Any], where: object = "") -> None:
        """Assert the API `row` (JSON, costs as Decimal) states these sums."""
        assert (
            row["requests"], row["failed_requests"], row["unpriced_requests"],
            row["prompt_tokens"], row["completion_tokens"], row["total_tokens"],
        ) == (
            self.requests, self.failed, self.unpriced, self.prompt, self.completion,
            self.prompt + self.completion,
        ), where  # fmt: skip
        assert Decimal(str(row["cost"])) == self.cost, (where, row["cost"], self.cost)
        avg = round(self.ms_sum / self.requests, 1)
        assert float(row["avg_response_ms"]) == avg, (where, row["avg_response_ms"], avg)
        low, high = bucket_bounds(bucket(self.exact_p95()))
        assert low <= row["p95_response_ms"] <= high, (where, row["p95_response_ms"], low, high)


def totals(uses: Iterable[Use], key: Callable[[Use], Any]) -> dict[Any, Sums]:
    """`uses` added up per `key(use)`."""
    found: dict[Any, Sums] = {}
    for use in uses:
        found.setdefault(key(use), Sums()).add(use)
    return found


def span(first: date, last: date) -> dict[str, str]:
    """The `from` and `to` query parameters of the days `first` to `last`."""
    return {"from": first.isoformat(), "to": last.isoformat()}


def per_period(uses: Iterable[Use], period: str, group_by: str) -> dict[Any, Sums]:
    """`uses` added up per (period start as ISO text, group key), as /usage rows are."""
    return totals(uses, lambda u: (period_start(u.day, period).isoformat(), u.key(group_by)))


def check_usage(rows: Sequence[dict[str, Any]], expected: dict[Any, Sums], group_by: str) -> None:
    """Assert /usage `rows` are exactly the `expected` sums (one row per period and key)."""
    got = {(row["period_start"], row.get(group_by)): row for row in rows}
    assert len(got) == len(rows), "one row per period and key"
    assert set(got) == set(expected), sorted(map(str, set(got) ^ set(expected)))
    for key, sums in expected.items():
        sums.check(got[key], key)


def period_start(day: date, period: str) -> date:
    """The first day of the day's period (ISO weeks start on Monday)."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def in_range(uses: Iterable[Use], start: date, end: date) -> list[Use]:
    """The rows of the UTC days `start` to `end`."""
    return [u for u in uses if start <= u.day <= end]


@dataclass(frozen=True)
class Person:
    """Someone the generator makes rows for."""

    user_id: str
    team_id: str | None
    gpts: Sequence[tuple[str, str]]  # (gpt id, its model) they use


def generate(
    rng: random.Random,
    people: Sequence[Person],
    models: Sequence[str],
    first: date,
    days: int,
    n: int,
) -> list[Use]:
    """`n` seeded rows spread over `days` UTC days from `first`."""
    uses = []
    for _ in range(n):
        person = rng.choice(people)
        gpt, model = rng.choice([*person.gpts, (None, None)])
        if model is None or rng.random() < 0.2:
            model = rng.choice([*models, None])
        day = first + timedelta(days=rng.randrange(days))
        moment = rng.choice(
            [time(0, 0), time(23, 59, 59, 999_999), time(rng.randrange(24), rng.randrange(60))]
        )
        cost = None if rng.random() < 0.12 else Decimal(rng.randrange(0, 3_000_000)) / 10**8
        ms = rng.choice(EDGE_TIMES_MS) if rng.random() < 0.25 else int(rng.lognormvariate(7, 1.3))
        tokens = rng.random() < 0.9
        uses.append(
            Use(
                id=str(uuid.uuid4()),
                user_id=person.user_id,
                team_id=person.team_id,
                gpt_id=gpt,
                model=model,
                created_at=datetime.combine(day, moment, UTC),
                cost=cost,
                response_ms=ms,
                prompt=rng.randrange(0, 5000) if tokens else None,
                completion=rng.randrange(0, 2000) if tokens else None,
                status=rng.choice(STATUSES),
            )
        )
    return uses


INSERT = """
insert into public.usage_analytics
  (id, user_id, team_id, gpt_id, created_at, cost, response_time_ms, metrics)
select i, u, t, g, c, x, ms, m::jsonb
  from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[],
              $6::numeric[], $7::int[], $8::text[]) as r(i, u, t, g, c, x, ms, m)
"""


async def insert(
    conn: asyncpg.Connection, uses: Sequence[Use], sizes: Sequence[int] = (1,)
) -> None:
    """Write `uses` as the owner, in statements of `sizes` rows (cycling; the rest at once)."""
    at = 0
    for size in sizes:
        await _insert(conn, uses[at : at + size])
        at += size
    if at < len(uses):
        await _insert(conn, uses[at:])


async def _insert(conn: asyncpg.Connection, uses: Sequence[Use]) -> None:
    if not uses:
        return
    await conn.execute(
        INSERT,
        [u.id for u in uses], [u.user_id for u in uses], [u.team_id for u in uses],
        [u.gpt_id for u in uses], [u.created_at for u in uses], [u.cost for u in uses],
        [u.response_ms for u in uses], [json.dumps(u.metrics()) for u in uses],
    )  # fmt: skip


def _use(row: asyncpg.Record) -> Use:
    metrics = json.loads(row["metrics"])
    return Use(
        id=row["id"],
        user_id=row["user_id"],
        team_id=row["team_id"],
        gpt_id=row["gpt_id"],
        model=metrics.get("model"),
        created_at=row["created_at"],
        cost=row["cost"],
        response_ms=row["response_time_ms"],
        prompt=_int(metrics.get("prompt_tokens")),
        completion=_int(metrics.get("completion_tokens")),
        status=metrics.get("status"),
    )


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


async def raw_uses(
    conn: asyncpg.Connection, start: date | None = None, end: date | None = None
) -> list[Use]:
    """Every stored row (of the UTC days `start` to `end`), as the owner reads it."""
    rows = await conn.fetch(
        "select id::text, user_id::text, team_id::text, gpt_id::text, created_at, cost,"
        " response_time_ms, metrics::text from public.usage_analytics"
        " where ($1::date is null or created_at >= $1::date::timestamp at time zone 'UTC')"
        " and ($2::date is null or created_at < ($2::date + 1)::timestamp at time zone 'UTC')",
        start, end,
    )  # fmt: skip
    return [_use(r) for r in rows]
