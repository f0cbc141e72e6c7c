"""The Realtime tests' fixtures: the RLS world, rows a test writes, tokens, clients, Node.

The world is the REST tests' (tests/rls/world.sql, a live session and token per user).
`rows` inserts GPTs, chat sessions and messages as the owner and removes them after the
test; `mint` makes access tokens with any lifetime, each with its own auth.sessions row;
`py_clients` makes supabase-py subscribers and closes them; `node_dir` is an install of
supabase-js for tests/realtime/js/subscribe.mjs, kept in ~/.cache/gptdesk-tests/node so
later runs skip npm.
"""

import json
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gptdesk.auth.tokens import mint_access_token
from tests.conftest import MigratedDatabase
from tests.realtime.pyclient import PySubscriber, subscribe
from tests.rest.conftest import world
from tests.rest.world import TEAM_A, USERS

__all__ = ["mint", "node_dir", "py_clients", "rows", "topic", "world"]

GPT_A_PRIVATE = "30000000-0000-4000-8000-0000000000a1"
SESSION_A = "40000000-0000-4000-8000-0000000000a1"
SUPABASE_JS = "2.109.0"
WS = "8.23.0"
NODE_CACHE = Path.home() / ".cache" / "gptdesk-tests" / "node"


class Rows:
    """Rows a test writes as the owner (RLS does not stop it), removed after the test."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.gpts: list[str] = []
        self.sessions: list[str] = []
        self.messages: list[str] = []

    async def gpt(self, team: str = TEAM_A, *, public: bool = False, **columns: Any) -> str:
        """A new GPT of `team`, approved (other teams see a public GPT once it is); its id."""
        values = {"name": f"rt {secrets.token_hex(4)}", "approval_status": "approved",
                  **columns, "id": str(uuid.uuid4()),
                  "team_id": team, "is_public": public}  # fmt: skip
        names = ", ".join(values)
        marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
        await self.conn.execute(
            f"insert into public.gpts ({names}) values ({marks})", *values.values()
        )
        self.gpts.append(values["id"])
        return values["id"]

    async def session(self, user: str = "user_a", gpt: str = GPT_A_PRIVATE) -> str:
        """A new chat session of `user`; its id."""
        session = str(uuid.uuid4())
        await self.conn.execute(
            "insert into public.chat_sessions (id, title, user_id, gpt_id) values ($1, $2, $3, $4)",
            session, "rt session", USERS[user], gpt,
        )  # fmt: skip
        self.sessions.append(session)
        return session

    async def message(self, session: str = SESSION_A, content: str | None = None) -> str:
        """A new user message in `session`; its id."""
        message = str(uuid.uuid4())
        await self.conn.execute(
            "insert into public.chat_messages (id, session_id, sender, content) "
            "values ($1, $2, 'user', $3)",
            message, session, content or f"rt {secrets.token_hex(4)}",
        )  # fmt: skip
        self.messages.append(message)
        return message

    async def stored(self, table: str, row_id: str) -> dict[str, Any]:
        """The row as PostgreSQL renders it to JSON (what a change's record holds)."""
        text = await self.conn.fetchval(
            f"select to_jsonb(t)::text from public.{table} t where t.id = $1", row_id
        )
        assert text is not None, f"no {table} row {row_id}"
        value: dict[str, Any] = json.loads(text)
        return value

    async def cleanup(self) -> None:
        await self.conn.execute("delete from public.chat_messages where id = any($1::uuid[])",
                                self.messages)  # fmt: skip
        await self.conn.execute("delete from public.chat_sessions where id = any($1::uuid[])",
                                self.sessions)  # fmt: skip
        await self.conn.execute("delete from public.gpts where id = any($1::uuid[])", self.gpts)


@pytest.fixture
async def rows(admin_conn: asyncpg.Connection) -> AsyncIterator[Rows]:
    """The test's own rows, removed afterwards."""
    made = Rows(admin_conn)
    try:
        yield made
    finally:
        await made.cleanup()


Mint = Callable[..., Awaitable[str]]


@pytest.fixture
async def mint(db: MigratedDatabase, admin_conn: asyncpg.Connection) -> AsyncIterator[Mint]:
    """`await mint(actor, lifetime=…, issued=…)`: an access token of a new live session."""
    sessions: list[uuid.UUID] = []

    async def make(actor: str = "user_a", lifetime: int = 3600, issued: int | None = None) -> str:
        session = uuid.uuid4()
        await admin_conn.execute(
            "insert into auth.sessions (id, user_id, aal) values ($1, $2, 'aal1')",
            session, uuid.UUID(USERS[actor]),
        )  # fmt: skip
        sessions.append(session)
        user = await admin_conn.fetchrow(
            "select id, email, role, aud from auth.users where id = $1", uuid.UUID(USERS[actor])
        )
        assert user is not None
        return mint_access_token(
            secret=db.jwt_secret, issuer="http://test/auth/v1", lifetime=lifetime,
            user=dict(user), session_id=str(session), aal="aal1", amr=[],
            now=issued if issued is not None else int(time.time()),
        ).token  # fmt: skip

    try:
        yield make
    finally:
        await admin_conn.execute("delete from auth.sessions where id = any($1::uuid[])", sessions)


@pytest.fixture
def topic() -> str:
    """A channel name no other test uses."""
    return f"rt-{secrets.token_hex(4)}"


@pytest.fixture
async def py_clients() -> AsyncIterator[Callable[..., Awaitable[PySubscriber]]]:
    """`await py_clients(server, token, topic, changes, …)`: subscribers, closed afterwards."""
    made: list[PySubscriber] = []

    async def make(*args: Any, **kwargs: Any) -> PySubscriber:
        subscriber = await subscribe(*args, **kwargs)
        made.append(subscriber)
        return subscriber

    try:
        yield make
    finally:
        for subscriber in made:
            await subscriber.close()


def _installed(folder: Path) -> bool:
    """Whether `folder` holds the pinned supabase-js and ws."""
    for package, version in (("@supabase/supabase-js", SUPABASE_JS), ("ws", WS)):
        manifest = folder / "node_modules" / package / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
            return False
    return True


@pytest.fixture(scope="session")
def node_dir() -> Iterator[Path]:
    """A folder whose node_modules hold supabase-js and ws (skip only when Node is absent)."""
    if shutil.which("node") is None:
        reason = "node is not installed: the supabase-js tests need Node.js 20 or newer"
        print(reason)
        pytest.skip(reason)
    if _installed(NODE_CACHE):
        yield NODE_CACHE
        return
    scratch = Path(tempfile.mkdtemp(prefix="gptdesk-test-node-", dir="/tmp"))
    (scratch / "package.json").write_text('{"private": true}\n')
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
         f"@supabase/supabase-js@{SUPABASE_JS}", f"ws@{WS}"],
        cwd=scratch, check=True, timeout=600, capture_output=True,
    )  # fmt: skip
    try:
        NODE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        staging = NODE_CACHE.with_name(f"node.{secrets.token_hex(4)}")
        shutil.copytree(scratch, staging)
        shutil.rmtree(NODE_CACHE, ignore_errors=True)
        staging.rename(NODE_CACHE)
    except OSError:
        yield scratch  # no cache this time: the scratch install serves this run
        shutil.rmtree(scratch, ignore_errors=True)
        return
    shutil.rmtree(scratch, ignore_errors=True)
    yield NODE_CACHE
