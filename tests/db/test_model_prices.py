"""Model prices (migration 0014): the price in effect at a time, and exact usage costs."""

from decimal import Decimal

import asyncpg


async def test_seeded_prices_give_exact_costs(admin_conn: asyncpg.Connection) -> None:
    # 1,234 prompt and 567 completion tokens of gpt-4o at $2.50 / $10.00 per million.
    cost = await admin_conn.fetchval("select public.usage_cost('gpt-4o', 1234, 567)")
    assert cost == Decimal("0.008755")
    free = await admin_conn.fetchval("select public.usage_cost('offline', 5000, 5000)")
    assert free == 0


async def test_an_unpriced_model_costs_null_not_a_guess(admin_conn: asyncpg.Connection) -> None:
    assert await admin_conn.fetchval("select public.usage_cost('no-such-model', 10, 10)") is None
    before = await admin_conn.fetchval("select public.usage_cost('gpt-4.1', 10, 10, '2025-01-01')")
    assert before is None  # gpt-4.1 was priced from 2025-04-14


async def test_a_new_price_applies_from_its_date_only(admin_conn: asyncpg.Connection) -> None:
    transaction = admin_conn.transaction()
    await transaction.start()
    try:
        await admin_conn.execute(
            "insert into public.model_prices (model, input_per_million, output_per_million, "
            "effective_from) values ('gpt-4o', 1.25, 5.00, '2030-01-01')"
        )
        old = await admin_conn.fetchval(
            "select public.usage_cost('gpt-4o', 1000000, 1000000, '2029-12-31')"
        )
        new = await admin_conn.fetchval(
            "select public.usage_cost('gpt-4o', 1000000, 1000000, '2030-06-01')"
        )
        assert (old, new) == (Decimal("12.50"), Decimal("6.25"))
    finally:
        await transaction.rollback()  # the seeded prices stay as they were


async def test_a_cheap_call_is_recorded_at_its_exact_cost(admin_conn: asyncpg.Connection) -> None:
    cost = await admin_conn.fetchval("select public.usage_cost('gpt-4o-mini', 100, 50)")
    assert cost == Decimal("0.000045")
    transaction = admin_conn.transaction()
    await transaction.start()
    try:
        stored = await admin_conn.fetchval(
            "insert into public.usage_analytics (cost) values ($1) returning cost", cost
        )
        assert stored == Decimal("0.00004500")
    finally:
        await transaction.rollback()
