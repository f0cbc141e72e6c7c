"""The schema cache, loaded from a real migrated database as the authenticator sees it."""

import asyncpg

from gptdesk.rest.schema_cache import load_schema_cache
from tests.conftest import MigratedDatabase


async def test_the_seed_schema_is_cached(db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(db.app_dsn)  # the request pool's login: no table privileges
    try:
        cache = await load_schema_cache(conn)
    finally:
        await conn.close()
    gpts = cache.tables["gpts"]
    assert gpts.primary_key == ("id",) and not gpts.is_view
    assert gpts.columns["team_id"].data_type == "uuid"
    assert gpts.columns["tags"].data_type == "text[]"
    assert gpts.columns["status"].type_name == "gpt_status"
    assert gpts.columns["name"].nullable is False
    assert cache.tables["gpt_ratings"].primary_key == ("gpt_id", "user_id")
    to_teams = cache.relationships("gpts", "teams")
    assert [(fk.table, fk.columns, fk.foreign_table) for fk in to_teams] == [
        ("gpts", ("team_id",), "teams")
    ]
    assert {fk.table for fk in cache.relationships("chat_sessions", "chat_messages")} == {
        "chat_messages"
    }
    helper = cache.functions["get_user_team_id"][0]
    assert helper.arg_names == ("user_uuid",) and helper.return_type == "uuid"
    assert helper.volatility == "s" and not helper.returns_set
    # Extension functions (pg_trgm's) are not exposed as RPC.
    assert "similarity" not in cache.functions


async def test_types_and_functions_are_schema_qualified(db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(db.app_dsn)
    try:
        cache = await load_schema_cache(conn)
    finally:
        await conn.close()
    assert cache.tables["gpts"].columns["status"].data_type == "public.gpt_status"
    assert cache.types["int4"] == '"pg_catalog"."int4"'
    assert cache.types["gpt_status"] == '"public"."gpt_status"'
    assert "english" in cache.text_search_configs
    assert "set_updated_at" not in cache.functions  # trigger functions are not callable
