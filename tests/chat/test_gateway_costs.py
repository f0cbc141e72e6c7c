"""What an answer costs, to the fraction of a cent: (prompt * input + completion * output)
/ 1e6 at the model's price in effect, recorded exactly on the answer and to the column's
8 decimals in usage_analytics; a model without a price is recorded as unpriced, never at a
made-up rate."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.chat.gateway_world import (
    Gpts,
    ask,
    decimals,
    gpts,
    prices,
    provider,
    sse_events,
    unique,
    usage_of,
)
from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.llm.fake_openai import FakeUpstream
from tests.rest.world import World


def rounded(value: Decimal, places: int) -> Decimal:
    """`value` to `places` decimals as PostgreSQL rounds numerics: half away from zero."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Models:
    """This module's models (all served by the fake upstream) and their GPTs."""

    cheap: str  # priced like gpt-4o-mini: 0.15 and 0.60 per million
    odd: str  # priced with six decimals
    unpriced: str
    made: Gpts


@pytest.fixture(scope="module")
def models(world: World, db: MigratedDatabase, upstream: FakeUpstream) -> Iterator[Models]:
    cheap, odd, unpriced = unique("fake-cheap"), unique("fake-odd"), unique("fake-unpriced")
    with (
        provider(world, name=unique("chat-costs"), kind="openai", base_url=upstream.base_url,
                 models=[cheap, odd, unpriced], max_retries=0),
        prices(db, **{cheap: ("0.15", "0.60"), odd: ("1.234567", "9.876543")}),
        gpts(db) as made,
    ):  # fmt: skip
        yield Models(cheap, odd, unpriced, made)


def price_of(db: MigratedDatabase, model: str) -> tuple[Decimal, Decimal]:
    [row] = owner_query(
        db,
        "select input_per_million, output_per_million from public.price_of($1, now())",
        model,
    )
    return row[0], row[1]


def monthly(db: MigratedDatabase, gpt: str) -> tuple[int, Decimal, int]:
    [row] = owner_query(
        db,
        "select requests, cost, unpriced_requests from public.gpt_monthly_usage where gpt_id = $1",
        uuid.UUID(gpt),
    )
    return row[0], row[1], row[2]


@pytest.mark.parametrize(
    ("which", "usage"),
    [
        ("cheap", (100, 50)),  # $0.000045: a call a 4-decimal column recorded as 0
        ("cheap", (7, 0)),
        ("cheap", (123_456, 7_890)),
        ("odd", (1001, 333)),  # 12 decimals exactly; the usage row keeps 8
        ("odd", (1, 1)),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_the_cost_is_exact(
    world: World,
    db: MigratedDatabase,
    upstream: FakeUpstream,
    models: Models,
    which: str,
    usage: tuple[int, int],
    stream: bool,
) -> None:
    model = getattr(models, which)
    upstream.usage[model] = usage
    gpt = models.made.gpt(model)
    session = models.made.session(gpt)
    given, taken = price_of(db, model)
    exact = (usage[0] * given + usage[1] * taken) / 1_000_000

    r = ask(world, session, "What does this cost?", stream=stream)
    if stream:
        name, result = sse_events(r.text, exact=True)[-1]
        assert name == "done", r.text
    else:
        assert r.status_code == 201, r.text
        result = decimals(r)
    assert (result["cost"], result["currency"], result["priced"]) == (exact, "USD", True)
    assert result["message"]["metadata"]["cost"] == exact
    assert result["usage"]["prompt_tokens"] == usage[0]

    [row] = usage_of(db, session)
    assert Decimal(row["cost"]) == rounded(exact, 8)
    assert (row["metrics"]["priced"], row["metrics"]["currency"]) == (True, "USD")
    assert row["tokens_used"] == sum(usage)
    assert monthly(db, gpt) == (1, rounded(exact, 8), 0)
    [(monthly_cost,)] = owner_query(
        db, "select monthly_cost from public.gpts where id = $1", uuid.UUID(gpt)
    )
    assert monthly_cost == rounded(rounded(exact, 8), 2)


def test_a_model_without_a_price_is_recorded_unpriced(
    world: World, db: MigratedDatabase, upstream: FakeUpstream, models: Models
) -> None:
    upstream.usage[models.unpriced] = (1000, 100)
    gpt = models.made.gpt(models.unpriced)
    session = models.made.session(gpt)
    r = ask(world, session, "Is this free?")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["cost"], body["currency"], body["priced"]) == (None, None, False)
    metadata = body["message"]["metadata"]
    assert (metadata["cost"], metadata["priced"]) == (None, False)
    [row] = usage_of(db, session)
    assert row["cost"] is None
    assert (row["metrics"]["priced"], row["metrics"]["currency"]) == (False, None)
    assert row["tokens_used"] == 1100
    assert monthly(db, gpt) == (1, Decimal(0), 1)


def test_the_price_in_effect_is_used(
    world: World, db: MigratedDatabase, upstream: FakeUpstream, models: Models
) -> None:
    """A newer price replaces an older one from its effective_from; a future one waits."""
    model = models.cheap
    upstream.usage[model] = (1_000_000, 1_000_000)
    gpt = models.made.gpt(model)
    session = models.made.session(gpt)
    owner_query(
        db,
        "insert into public.model_prices (model, input_per_million, output_per_million,"
        " effective_from) values ($1, 1, 2, now() - interval '1 hour'),"
        " ($1, 100, 200, now() + interval '1 day')",
        model,
    )
    try:
        r = ask(world, session, "And now?")
        assert r.status_code == 201, r.text
        assert decimals(r)["cost"] == Decimal(3)
    finally:
        owner_query(
            db,
            "delete from public.model_prices where model = $1"
            " and effective_from > now() - interval '2 hours'",
            model,
        )
