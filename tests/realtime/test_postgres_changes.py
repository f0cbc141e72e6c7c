"""postgres_changes through supabase-py's async client (vsn 1.0.0): what arrives, whole and in
order, and what RLS and filters keep away.

Each test subscribes, writes rows as the owner (tests/realtime/conftest.py `rows`), and waits
for the changes it expects. "Nothing arrives" is checked after a fence: a later change the
subscriber does see, or a broadcast barrier (tests/realtime/wire.py), so no test waits on a
clock. Tests look only at changes of their own rows.

Where a test changes one row several times it waits for each change before the next: the
server checks an INSERT's or UPDATE's visibility against the row as it is when the change
is handled (as Supabase's WALRUS does), so a row deleted or hidden by then is not sent.
"""

import re
import secrets
from collections.abc import Awaitable, Callable

import asyncpg

from tests.realtime.conftest import SESSION_A, Rows
from tests.realtime.pyclient import Change, PySubscriber
from tests.rest.world import TEAM_A, TEAM_B, World

Clients = Callable[..., Awaitable[PySubscriber]]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SESSION_FILTER = f"session_id=eq.{SESSION_A}"


async def table_columns(conn: asyncpg.Connection, table: str) -> list[dict[str, str]]:
    rows = await conn.fetch(
        "select a.attname::text as name, t.typname::text as type from pg_attribute a "
        "join pg_type t on t.oid = a.atttypid where a.attrelid = $1::regclass "
        "and a.attnum > 0 and not a.attisdropped order by a.attnum",
        f"public.{table}",
    )
    return [dict(r) for r in rows]


async def test_a_session_message_arrives_with_its_stored_record(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    other_session = await rows.session("user_a")
    sub = await py_clients(
        world.server, world.tokens["user_a"], topic,
        [Change("INSERT", "chat_messages", SESSION_FILTER)],
    )  # fmt: skip
    elsewhere = await rows.message(other_session)
    message = await rows.message(SESSION_A, "rt hello")
    await sub.wait_until(lambda: sub.rows("id", message))

    assert sub.rows("id", elsewhere) == []
    [(binding, payload)] = [(i, p) for i, p in sub.changes if p["data"]["record"]["id"] == message]
    assert binding == 0
    assert payload["ids"] == [sub.channel.postgres_changes_callbacks[0].id]
    data = payload["data"]
    assert data["record"] == await rows.stored("chat_messages", message)
    assert data["record"]["content"] == "rt hello"
    assert (data["schema"], data["table"], data["type"], data["errors"]) == (
        "public", "chat_messages", "INSERT", None,
    )  # fmt: skip
    assert "old_record" not in data
    assert TIMESTAMP.match(data["commit_timestamp"]), data["commit_timestamp"]
    assert data["columns"] == await table_columns(rows.conn, "chat_messages")


async def test_team_gpt_changes_arrive_with_the_old_row_as_its_key(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(
        world.server, world.tokens["user_a"], topic, [Change("*", "gpts", f"team_id=eq.{TEAM_A}")]
    )
    team_b = await rows.gpt(TEAM_B, name="rt other team")
    gpt = await rows.gpt(TEAM_A, name="rt before")
    await sub.wait_until(lambda: len(sub.rows("id", gpt)) == 1)
    await rows.conn.execute("update public.gpts set name = 'rt after' where id = $1", gpt)
    await sub.wait_until(lambda: len(sub.rows("id", gpt)) == 2)
    await rows.conn.execute("delete from public.gpts where id = $1", gpt)
    await sub.wait_until(lambda: len(sub.rows("id", gpt)) == 3)

    insert, update, delete = sub.rows("id", gpt)
    assert [insert["type"], update["type"], delete["type"]] == ["INSERT", "UPDATE", "DELETE"]
    assert insert["record"]["name"] == "rt before"
    assert insert["record"]["team_id"] == TEAM_A
    assert "old_record" not in insert
    assert update["record"]["name"] == "rt after"
    assert update["old_record"] == {"id": gpt}
    assert delete["old_record"] == {"id": gpt}
    assert "record" not in delete
    assert sub.rows("id", team_b) == []


async def test_another_team_sees_nothing_of_a_private_gpt_but_sees_a_public_one(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(world.server, world.tokens["user_b"], topic, [Change("*", "gpts")])
    private = await rows.gpt(TEAM_A)
    await rows.conn.execute("update public.gpts set name = 'rt renamed' where id = $1", private)
    await rows.conn.execute("delete from public.gpts where id = $1", private)
    public = await rows.gpt(TEAM_A, public=True)
    await sub.wait_until(lambda: len(sub.rows("id", public)) == 1)
    await rows.conn.execute("update public.gpts set name = 'rt renamed' where id = $1", public)
    await sub.wait_until(lambda: len(sub.rows("id", public)) == 2)
    await rows.conn.execute("delete from public.gpts where id = $1", public)
    await sub.wait_until(lambda: len(sub.rows("id", public)) == 3)

    assert [d["type"] for d in sub.rows("id", public)] == ["INSERT", "UPDATE", "DELETE"]
    assert sub.rows("id", public)[2]["old_record"] == {"id": public}
    assert sub.rows("id", private) == []


async def test_a_gpt_made_private_stops_reaching_another_team(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(world.server, world.tokens["user_b"], topic, [Change("UPDATE", "gpts")])
    gpt = await rows.gpt(TEAM_A, public=True)
    await rows.conn.execute("update public.gpts set is_public = false where id = $1", gpt)
    await sub.barrier()  # the check sees the row as it is when the change is handled
    await rows.conn.execute("update public.gpts set is_public = true where id = $1", gpt)
    await sub.wait_until(lambda: sub.rows("id", gpt))
    await sub.barrier()

    assert [d["record"]["is_public"] for d in sub.rows("id", gpt)] == [True]


async def test_signed_out_clients_receive_no_chat_messages(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(world.server, None, topic, [Change("*", "chat_messages")])
    message = await rows.message(SESSION_A)
    await rows.conn.execute("update public.chat_messages set content = 'rt' where id = $1", message)
    await sub.barrier()

    assert sub.rows("id", message) == []


async def test_a_rolled_back_transaction_sends_nothing(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(
        world.server, world.tokens["user_a"], topic,
        [Change("*", "chat_messages", SESSION_FILTER)],
    )  # fmt: skip
    transaction = rows.conn.transaction()
    await transaction.start()
    await rows.conn.execute(
        "insert into public.chat_messages (session_id, sender, content) "
        "values ($1, 'user', 'rt rolled back')",
        SESSION_A,
    )
    await transaction.rollback()
    after = await rows.message(SESSION_A)
    await sub.wait_until(lambda: sub.rows("id", after))

    contents = [(d.get("record") or {}).get("content") for d in sub.data()]
    assert "rt rolled back" not in contents


async def test_changes_arrive_in_commit_order(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(
        world.server, world.tokens["user_a"], topic,
        [Change("INSERT", "chat_messages", SESSION_FILTER)],
    )  # fmt: skip
    tag = secrets.token_hex(3)
    sent = [f"rt {tag} {n:02d}" for n in range(20)]
    for content in sent:
        await rows.message(SESSION_A, content)

    def mine() -> list[str]:
        contents = [(d.get("record") or {}).get("content") or "" for d in sub.data()]
        return [c for c in contents if tag in c]

    await sub.wait_until(lambda: len(mine()) == len(sent))

    assert mine() == sent


async def test_changes_of_one_transaction_arrive_in_their_order_across_tables(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(
        world.server, world.tokens["user_a"], topic,
        [Change("*", "gpts", f"team_id=eq.{TEAM_A}"),
         Change("INSERT", "chat_messages", SESSION_FILTER)],
    )  # fmt: skip
    tag = secrets.token_hex(3)
    gpt = await rows.gpt(TEAM_A, name=f"rt {tag} 0")
    async with rows.conn.transaction():
        for n in (1, 3):
            await rows.conn.execute(
                "update public.gpts set name = $2 where id = $1", gpt, f"rt {tag} {n}"
            )
            await rows.message(SESSION_A, f"rt {tag} {n + 1}")

    def mine() -> list[str]:
        records = [d.get("record") or {} for d in sub.data()]
        texts = [r.get("name") or r.get("content") or "" for r in records]
        return [t.removeprefix(f"rt {tag} ") for t in texts if tag in t]

    await sub.wait_until(lambda: len(mine()) == 5)
    assert mine() == ["0", "1", "2", "3", "4"], mine()


async def test_a_change_larger_than_a_notification_arrives_whole(
    world: World, rows: Rows, py_clients: Clients, topic: str
) -> None:
    sub = await py_clients(
        world.server, world.tokens["user_a"], topic,
        [Change("*", "chat_messages", SESSION_FILTER)],
    )  # fmt: skip
    content = "rt long: " + "".join(f"{n:05d} ünïcödé " for n in range(2000))
    assert len(content.encode()) > 3 * 8000
    message = await rows.message(SESSION_A, content)
    await rows.conn.execute(
        "update public.chat_messages set content = content || '!' where id = $1", message
    )
    await sub.wait_until(lambda: len(sub.rows("id", message)) == 2)

    insert, update = sub.rows("id", message)
    assert insert["record"] == await rows.stored("chat_messages", message) | {"content": content}
    assert update["record"]["content"] == content + "!"
    assert update["old_record"] == {"id": message}
