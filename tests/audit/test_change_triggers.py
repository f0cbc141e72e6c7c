"""Changes to governed rows are audited by the database, in the same transaction: GPTs changed
over /rest/v1 (with the actor, their team, the client's address and user agent), teams and
model prices; before/after hold only the columns that changed, and counters the database
keeps are not changes."""

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.rest.world import TEAM_A, USERS, World

NOT_AUDITED = {"usage_count", "monthly_cost", "rating", "updated_at"}


@pytest.fixture
async def rest(audit_world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{audit_world.server.url}/rest/v1") as client:
        yield client


def headers(world: World, actor: str, agent: str) -> dict[str, str]:
    return {**world.headers(actor), "User-Agent": agent, "Prefer": "return=minimal"}


async def audit_of(conn: asyncpg.Connection, resource_id: str) -> list[dict[str, Any]]:
    """The audit rows about one resource, in chain order, details decoded."""
    rows = await conn.fetch(
        "select action, resource_type, user_id::text, team_id::text, host(ip_address) as ip, "
        "user_agent, details::text from public.audit_logs where resource_id = $1 order by seq",
        uuid.UUID(resource_id),
    )
    return [dict(row) | {"details": json.loads(row["details"])} for row in rows]


async def team_a_gpt(conn: asyncpg.Connection, creator: str = "admin_a") -> str:
    """A GPT of team A made by the owner for one test."""
    return str(
        await conn.fetchval(
            "insert into public.gpts (name, team_id, creator_id, prompt) "
            "values ($1, $2, $3, 'Answer briefly.') returning id",
            f"Audited GPT {secrets.token_hex(3)}",
            uuid.UUID(TEAM_A),
            uuid.UUID(USERS[creator]),
        )
    )


async def gpt_row(conn: asyncpg.Connection, gpt: str) -> dict[str, Any]:
    """The GPT's row as JSON, as the trigger sees it."""
    row = await conn.fetchval("select to_jsonb(g) from public.gpts g where id = $1", uuid.UUID(gpt))
    return dict(json.loads(row))


def changes(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The columns that changed, but for those the trigger leaves out (counters, updated_at)."""
    return {k for k in after if k not in NOT_AUDITED and after[k] != before[k]}


async def test_a_gpt_changed_over_rest_is_audited_with_only_what_changed(
    rest: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    gpt = await team_a_gpt(audit_owner)
    before = await gpt_row(audit_owner, gpt)
    agent = f"change-probe/{secrets.token_hex(3)} (it's \\ ok)"
    changed = await rest.patch(
        "/gpts",
        params={"id": f"eq.{gpt}"},
        headers=headers(audit_world, "admin_a", agent),
        json={"name": "Renamed GPT", "prompt": "Answer at length.", "temperature": 0.7},
    )
    assert changed.status_code == 204, changed.text
    after = await gpt_row(audit_owner, gpt)
    columns = changes(before, after)
    # what the request changed, and whatever the database moved with it (a version number)
    assert {"name", "prompt"} <= columns and "temperature" not in columns
    rows = await audit_of(audit_owner, gpt)
    assert [row["action"] for row in rows] == ["gpt.created", "gpt.updated"]
    assert rows[1] == {
        "action": "gpt.updated",
        "resource_type": "gpt",
        "user_id": USERS["admin_a"],
        "team_id": TEAM_A,
        "ip": "127.0.0.1",
        "user_agent": agent,
        "details": {
            "before": {k: before[k] for k in columns},
            "after": {k: after[k] for k in columns},
        },
    }
    assert rows[1]["details"]["after"]["name"] == "Renamed GPT"
    assert rows[1]["details"]["before"]["prompt"] == "Answer briefly."


async def test_an_update_changing_nothing_is_not_audited(
    rest: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    gpt = await team_a_gpt(audit_owner)
    before = await gpt_row(audit_owner, gpt)
    same = await rest.patch(
        "/gpts",
        params={"id": f"eq.{gpt}"},
        headers=headers(audit_world, "admin_a", "same/1"),
        json={"prompt": "Answer briefly."},
    )
    assert same.status_code == 204, same.text
    after = await gpt_row(audit_owner, gpt)
    assert after["updated_at"] != before["updated_at"]  # the row was written
    assert changes(before, after) == set()
    assert [row["action"] for row in await audit_of(audit_owner, gpt)] == ["gpt.created"]


async def test_a_refused_change_is_not_audited(
    rest: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    gpt = await team_a_gpt(audit_owner)
    refused = await rest.patch(
        "/gpts",
        params={"id": f"eq.{gpt}"},
        headers={**headers(audit_world, "user_b", "intruder/1"), "Prefer": "return=representation"},
        json={"name": "Taken over"},
    )
    assert refused.status_code == 200 and refused.json() == []  # not visible to team B
    assert [row["action"] for row in await audit_of(audit_owner, gpt)] == ["gpt.created"]


async def test_counter_updates_are_not_audited(audit_owner: asyncpg.Connection) -> None:
    gpt = await team_a_gpt(audit_owner, creator="user_a")
    await audit_owner.execute(
        "update public.gpts set usage_count = usage_count + 5, monthly_cost = 12.5, "
        "rating = 4.5, updated_at = now() + interval '1 minute' where id = $1",
        uuid.UUID(gpt),
    )
    await audit_owner.execute(  # the rating trigger moves gpts.rating
        "insert into public.gpt_ratings (gpt_id, user_id, rating) values ($1, $2, 3)",
        uuid.UUID(gpt),
        uuid.UUID(USERS["admin_a"]),
    )
    assert await audit_owner.fetchval(
        "select rating from public.gpts where id = $1", uuid.UUID(gpt)
    ) == pytest.approx(3)
    assert [row["action"] for row in await audit_of(audit_owner, gpt)] == ["gpt.created"]


async def test_a_gpt_made_and_removed_over_rest_is_audited(
    rest: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    agent = f"maker/{secrets.token_hex(3)}"
    made = await rest.post(
        "/gpts",
        headers={**headers(audit_world, "user_a", agent), "Prefer": "return=representation"},
        json={"name": "Made over REST", "team_id": TEAM_A, "prompt": "Hi"},
    )
    assert made.status_code == 201, made.text
    gpt = made.json()[0]["id"]
    gone = await rest.delete(
        "/gpts", params={"id": f"eq.{gpt}"}, headers=headers(audit_world, "user_a", agent)
    )
    assert gone.status_code == 204, gone.text
    created, deleted = await audit_of(audit_owner, gpt)
    for row in (created, deleted):
        assert (row["user_id"], row["team_id"], row["ip"], row["user_agent"]) == (
            USERS["user_a"],
            TEAM_A,
            "127.0.0.1",
            agent,
        )
    assert created["action"] == "gpt.created" and created["details"]["before"] is None
    after = created["details"]["after"]
    assert (after["id"], after["name"], after["prompt"]) == (gpt, "Made over REST", "Hi")
    assert after["creator_id"] == USERS["user_a"]
    assert not {"usage_count", "monthly_cost", "rating"} & set(after)
    assert deleted["action"] == "gpt.deleted" and deleted["details"]["after"] is None
    assert deleted["details"]["before"]["name"] == "Made over REST"


async def test_team_changes_are_audited_but_not_its_member_count(
    audit_owner: asyncpg.Connection,
) -> None:
    team = str(
        await audit_owner.fetchval(
            "insert into public.teams (name) values ('Renamed later') returning id"
        )
    )
    await audit_owner.execute(
        "update public.teams set name = 'Renamed', description = 'now described' where id = $1",
        uuid.UUID(team),
    )
    await audit_owner.execute(
        "insert into auth.users (aud, role, email, raw_app_meta_data) values "
        "('authenticated', 'authenticated', $1, jsonb_build_object('team_id', $2::text))",
        f"joiner-{secrets.token_hex(4)}@example.com",
        team,
    )
    assert (
        await audit_owner.fetchval(
            "select member_count from public.teams where id = $1", uuid.UUID(team)
        )
        == 1
    )
    rows = await audit_of(audit_owner, team)
    assert [row["action"] for row in rows] == ["team.created", "team.updated"]
    assert all(row["team_id"] == team and row["resource_type"] == "team" for row in rows)
    assert rows[1]["details"] == {
        "before": {"name": "Renamed later", "description": None},
        "after": {"name": "Renamed", "description": "now described"},
    }
    assert "member_count" not in rows[0]["details"]["after"]


async def test_model_price_changes_are_audited(audit_owner: asyncpg.Connection) -> None:
    price = str(
        await audit_owner.fetchval(
            "insert into public.model_prices (model, input_per_million, output_per_million) "
            "values ($1, 1.5, 6) returning id",
            f"probe-model-{secrets.token_hex(3)}",
        )
    )
    await audit_owner.execute(
        "update public.model_prices set input_per_million = 2 where id = $1", uuid.UUID(price)
    )
    created, updated = await audit_of(audit_owner, price)
    assert (created["action"], updated["action"]) == ("model_price.created", "model_price.updated")
    assert created["team_id"] is None and created["details"]["after"]["output_per_million"] == 6
    assert updated["details"] == {
        "before": {"input_per_million": 1.5},
        "after": {"input_per_million": 2},
    }
