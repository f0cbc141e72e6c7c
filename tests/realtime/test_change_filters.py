"""postgres_changes filters end to end: every operator on one channel, each change pushed
with the ids of exactly the bindings it passes, and filters the server refuses.

tests/realtime/test_filters.py covers the evaluator case by case; here one supabase-py
channel holds a binding per operator, each ANDed with the test's own name prefix so rows of
other tests never match, and three GPTs go through them.
"""

import secrets
from collections.abc import Awaitable, Callable

import pytest

from tests.realtime.conftest import Rows
from tests.realtime.pyclient import Change, PySubscriber
from tests.realtime.wire import phoenix_socket
from tests.rest.world import TEAM_A, World

Clients = Callable[..., Awaitable[PySubscriber]]

# filter → the GPTs (alpha, beta, gamma below) whose INSERT it passes
EXPECTED = {
    "max_tokens=eq.2000": {"beta"},
    "max_tokens=neq.2000": {"alpha", "gamma"},
    "max_tokens=lt.2000": {"alpha"},
    "max_tokens=lte.2000": {"alpha", "beta"},
    "max_tokens=gt.2000": {"gamma"},
    "max_tokens=gte.2000": {"beta", "gamma"},
    "category=in.(sales,support)": {"beta", "gamma"},
    "description=like.%helper": {"alpha"},
    "description=ilike.%bot": {"beta"},
    "category=is.null": {"alpha"},
    "is_public=is.true": {"beta"},
    "description=match.^[A-Z]": {"alpha"},
    "description=imatch.^b": {"beta"},
    "category=isdistinct.sales": {"alpha", "gamma"},
    "category=not.eq.sales": {"gamma"},
    "category=not.in.(sales)": {"gamma"},
    "temperature=gt.0.75": {"beta", "gamma"},
    "max_tokens=gt.1000,is_public=is.false": {"gamma"},
}


async def test_each_change_carries_the_ids_of_the_bindings_it_passes(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    prefix = f"rt-{secrets.token_hex(3)}-"
    filters = list(EXPECTED)
    sub = await py_clients(
        world.server, world.tokens["user_a"], topic,
        [Change("INSERT", "gpts", f"name=like.{prefix}%,{text}") for text in filters],
    )  # fmt: skip
    await rows.gpt(TEAM_A, name=prefix + "alpha", max_tokens=1000, temperature=0.5,
                   description="Alpha helper")  # fmt: skip
    await rows.gpt(TEAM_A, name=prefix + "beta", public=True, max_tokens=2000, temperature=1.0,
                   category="sales", description="beta BOT")  # fmt: skip
    await rows.gpt(TEAM_A, name=prefix + "gamma", max_tokens=3000, temperature=1.5,
                   category="support")  # fmt: skip
    total = sum(len(names) for names in EXPECTED.values())
    await sub.wait_until(lambda: len(sub.changes) >= total)
    await sub.barrier()

    received = {
        text: {d["record"]["name"].removeprefix(prefix) for d in sub.data(index)}
        for index, text in enumerate(filters)
    }
    assert received == EXPECTED
    ids = [callback.id for callback in sub.channel.postgres_changes_callbacks]
    assert len(set(ids)) == len(ids)
    for _, payload in sub.changes:
        name = payload["data"]["record"]["name"].removeprefix(prefix)
        wanted = {ids[i] for i, text in enumerate(filters) if name in EXPECTED[text]}
        assert sorted(payload["ids"]) == sorted(wanted)


async def test_a_delete_is_filtered_on_the_deleted_row(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(
        world.server, world.tokens["user_a"], topic,
        [Change("DELETE", "gpts", "category=eq.rt-doomed")],
    )  # fmt: skip
    kept = await rows.gpt(TEAM_A, category="rt-kept")
    doomed = await rows.gpt(TEAM_A, category="rt-doomed")
    await rows.conn.execute("delete from public.gpts where id = any($1::uuid[])", [kept, doomed])
    await sub.wait_until(lambda: sub.rows("id", doomed))
    await sub.barrier()

    assert sub.rows("id", kept) == []
    assert [d["old_record"] for d in sub.rows("id", doomed)] == [{"id": doomed}]


@pytest.mark.parametrize(
    "text",
    [
        "session_id=zz.1",  # unknown operator
        "nope=eq.1",  # no such column
        "session_id",  # not column=op.value
        "content=match.(unclosed",  # not a regular expression
        "content=in.a,b",  # in without its list
        "content=is.maybe",
    ],
)
async def test_a_filter_that_does_not_parse_gets_a_system_error(world: World, text: str) -> None:
    binding = {"event": "INSERT", "schema": "public", "table": "chat_messages", "filter": text}
    async with phoenix_socket(world.server.url, world.server.anon_key) as socket:
        reply = await socket.join("realtime:rt-bad-filter", [binding], world.tokens["user_a"])
        system = await socket.expect(lambda f: f["event"] == "system")

    assert reply["payload"]["status"] == "ok"
    assert system["ref"] is None
    assert system["payload"]["status"] == "error"
    assert system["payload"]["extension"] == "postgres_changes"
    assert system["payload"]["channel"] == "rt-bad-filter"
    assert system["payload"]["message"].startswith("Error parsing `filter` params"), system


async def test_supabase_py_reports_a_bad_filter_as_a_channel_error(
    world: World, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(
        world.server, world.tokens["user_a"], topic,
        [Change("INSERT", "chat_messages", "session_id=zz.1")],
    )  # fmt: skip
    await sub.wait_until(lambda: any(state == "CHANNEL_ERROR" for state, _ in sub.statuses))

    [(_, error)] = [s for s in sub.statuses if s[0] == "CHANNEL_ERROR"][:1]
    assert error is not None and "Error parsing `filter` params" in error
