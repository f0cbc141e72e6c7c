"""The provider registry against the real table: rows read as the gateway role, keys
unsealed (or flagged when they do not open), kept for `ttl` until invalidated, and clients
reused while a provider's settings hold."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from gptdesk.auth.sealing import seal
from gptdesk.db.scope import Scope
from gptdesk.llm.providers.offline import OfflineProvider
from gptdesk.llm.providers.openai_compat import OpenAICompatibleProvider
from gptdesk.llm.registry import SEAL_PURPOSE, ProviderRegistry, build_provider
from gptdesk.llm.routing import ProviderConfig
from tests.conftest import MigratedDatabase

KEY = "sk-registry-test-0123456789"


@pytest_asyncio.fixture
async def rows(admin_conn: asyncpg.Connection) -> AsyncIterator[list[uuid.UUID]]:
    """Ids of the provider rows a test makes as the owner; removed afterwards."""
    made: list[uuid.UUID] = []
    yield made
    await admin_conn.execute("delete from public.llm_providers where id = any($1::uuid[])", made)


async def add(
    conn: asyncpg.Connection, made: list[uuid.UUID], model: str, **fields: object
) -> uuid.UUID:
    ident = uuid.uuid4()
    values = {"name": f"registry-{ident.hex[:8]}", "kind": "openai",
              "base_url": "http://models.test/v1", "models": [model], **fields}  # fmt: skip
    names = ", ".join(["id", *values])
    params = ", ".join(f"${n}" for n in range(1, len(values) + 2))
    await conn.execute(
        f"insert into public.llm_providers ({names}) values ({params})", ident, *values.values()
    )
    made.append(ident)
    return ident


async def set_sealed(conn: asyncpg.Connection, provider: uuid.UUID, sealed: str) -> None:
    await conn.execute(
        "insert into public.llm_provider_secrets (provider_id, api_key_sealed) values ($1, $2)"
        " on conflict (provider_id) do update set api_key_sealed = excluded.api_key_sealed",
        provider, sealed,
    )  # fmt: skip


def registry(scope: Scope, db: MigratedDatabase, ttl: float = 3600.0) -> ProviderRegistry:
    return ProviderRegistry(scope, db.jwt_secret, environment=None, fallback=None, ttl=ttl)


async def test_a_row_becomes_a_route_with_its_key_unsealed(
    scope: Scope, db: MigratedDatabase, admin_conn: asyncpg.Connection, rows: list[uuid.UUID]
) -> None:
    model = f"registry-{uuid.uuid4().hex[:8]}"
    ident = await add(
        admin_conn, rows, model, timeout_seconds=7.5, max_retries=4, models=[model, "other"]
    )
    await set_sealed(admin_conn, ident, seal(db.jwt_secret, SEAL_PURPOSE, KEY, str(ident)))
    route = await registry(scope, db).route(model)
    assert route is not None and route.priced_model == model
    found = route.provider
    assert (found.id, found.kind, found.base_url, found.models) == (
        str(ident), "openai", "http://models.test/v1", (model, "other"),
    )  # fmt: skip
    assert (found.timeout_seconds, found.max_retries, found.api_key, found.key_error) == (
        7.5, 4, KEY, None,
    )  # fmt: skip
    assert found.created_at is not None


@pytest.mark.parametrize("how", ["another secret", "another provider", "garbage"])
async def test_a_key_that_does_not_open_is_flagged_not_used(
    scope: Scope,
    db: MigratedDatabase,
    admin_conn: asyncpg.Connection,
    rows: list[uuid.UUID],
    how: str,
) -> None:
    model = f"registry-{uuid.uuid4().hex[:8]}"
    ident = await add(admin_conn, rows, model)
    sealed = {
        "another secret": seal("another-secret-" + "y" * 40, SEAL_PURPOSE, KEY, str(ident)),
        "another provider": seal(db.jwt_secret, SEAL_PURPOSE, KEY, str(uuid.uuid4())),
        "garbage": "v1.not-base64!",
    }[how]
    await set_sealed(admin_conn, ident, sealed)
    route = await registry(scope, db).route(model)
    assert route is not None
    assert route.provider.api_key is None
    assert route.provider.key_error and "does not open" in route.provider.key_error


async def test_rows_are_kept_until_the_ttl_or_invalidate(
    scope: Scope, db: MigratedDatabase, admin_conn: asyncpg.Connection, rows: list[uuid.UUID]
) -> None:
    model = f"registry-{uuid.uuid4().hex[:8]}"
    known = registry(scope, db)
    assert await known.route(model) is None  # loaded now: no provider lists it
    ident = await add(admin_conn, rows, model)
    assert await known.route(model) is None  # still the rows loaded before
    known.invalidate()
    route = await known.route(model)
    assert route is not None and route.provider.id == str(ident)

    await admin_conn.execute("update public.llm_providers set enabled = false where id = $1", ident)
    assert await known.route(model) is not None
    known.invalidate()
    assert await known.route(model) is None

    fresh = registry(scope, db, ttl=0.0)  # reads the table every time
    await admin_conn.execute("update public.llm_providers set enabled = true where id = $1", ident)
    assert await fresh.route(model) is not None


async def test_clients_are_reused_while_the_settings_hold(
    scope: Scope, db: MigratedDatabase, admin_conn: asyncpg.Connection, rows: list[uuid.UUID]
) -> None:
    model = f"registry-{uuid.uuid4().hex[:8]}"
    ident = await add(admin_conn, rows, model)
    known = registry(scope, db)
    try:
        first = await known.route(model)
        assert first is not None
        client = known.client(first.provider)
        assert isinstance(client, OpenAICompatibleProvider)
        again = await known.route(model)
        assert again is not None and known.client(again.provider) is client
        await admin_conn.execute(
            "update public.llm_providers set timeout_seconds = 9 where id = $1", ident
        )
        known.invalidate()
        changed = await known.route(model)
        assert changed is not None and changed.provider.timeout_seconds == 9
        assert known.client(changed.provider) is not client
    finally:
        await known.close()


def test_the_client_matches_the_kind() -> None:
    common = dict(
        id="x", name="x", base_url=None, models=(), is_default=False, enabled=True,
        timeout_seconds=3, max_retries=1, api_key=None,
    )  # fmt: skip
    offline = build_provider(ProviderConfig(kind="offline", pace_ms=250, **common))  # type: ignore[arg-type]
    assert isinstance(offline, OfflineProvider) and offline.pace == 0.25
    compat = build_provider(
        ProviderConfig(kind="openai", pace_ms=0, **{**common, "base_url": "http://h:1/v1"})  # type: ignore[arg-type]
    )
    assert isinstance(compat, OpenAICompatibleProvider)
    assert str(compat.client.base_url) == "http://h:1/v1/"
    assert compat.client.api_key == "unused"  # local servers need no key
    assert (compat.client.timeout, compat.client.max_retries) == (3, 1)
