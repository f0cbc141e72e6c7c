"""What the chat gateway tests share: the GPTs, sessions, prices and providers they make (and
remove), requests to the session endpoint, Server-Sent Events parsed, and counts of what a
request recorded.

Providers are global: one left behind that lists a model changes routing for every other
test. So each is made through /api/v1/providers (which the server sees at once) under a
unique name and removed the same way when its block ends; GPTs, sessions and prices are made
by the owner and removed likewise. Models the fake upstream gives a behaviour (`fail-500`,
`slow`, `drop`, `stall`, `truncate`, `garbage`) keep their names; every other model is named
uniquely per module.
"""

import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import orjson

from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.world import TEAM_A, USERS, World

USER_A = USERS["user_a"]
USER_B = USERS["user_b"]
GPT_A_PRIVATE = "30000000-0000-4000-8000-0000000000a1"
GPT_A_PUBLIC = "30000000-0000-4000-8000-0000000000a2"
GPT_B_PRIVATE = "30000000-0000-4000-8000-0000000000b1"
SESSION_A = "40000000-0000-4000-8000-0000000000a1"


def unique(prefix: str) -> str:
    """A name no other test (or earlier run) uses."""
    return f"{prefix}-{secrets.token_hex(4)}"


# ---------------------------------------------------------------------------------------
# Rows the tests make and remove
# ---------------------------------------------------------------------------------------


@contextmanager
def provider(world: World, **fields: Any) -> Iterator[dict[str, Any]]:
    """A provider made by the super admin through the API, removed when the block ends."""
    headers = world.headers("super_admin")
    made = httpx.post(f"{world.server.url}/api/v1/providers", headers=headers, json=fields)
    assert made.status_code == 201, made.text
    row: dict[str, Any] = made.json()
    try:
        yield row
    finally:
        gone = httpx.delete(f"{world.server.url}/api/v1/providers/{row['id']}", headers=headers)
        assert gone.status_code in (204, 404), gone.text


@dataclass
class Gpts:
    """Makes GPTs and sessions as the owner; `close` removes them with all they recorded
    (messages, turns, usage rows and monthly totals go with their session or GPT)."""

    db: MigratedDatabase
    made: list[str]
    sessions: list[str]

    def gpt(
        self,
        model: str,
        *,
        team: str | None = TEAM_A,
        creator: str = USER_A,
        status: str = "active",
        approval: str = "approved",
        prompt: str | None = None,
        is_public: bool = False,
        max_tokens: int = 2000,
    ) -> str:
        """A GPT with `model` (approved and active unless said otherwise); its id."""
        ident = str(uuid.uuid4())
        owner_query(
            self.db,
            "insert into public.gpts (id, name, team_id, creator_id, model, status,"
            " approval_status, prompt, is_public, max_tokens)"
            " values ($1, $2, $3, $4, $5, $6::public.gpt_status,"
            " $7::public.approval_status, $8, $9, $10)",
            uuid.UUID(ident), unique(f"gateway test {model}"),
            uuid.UUID(team) if team else None, uuid.UUID(creator), model, status, approval,
            prompt, is_public, max_tokens,
        )  # fmt: skip
        self.made.append(ident)
        return ident

    def session(
        self, gpt_id: str | None, *, user: str = USER_A, status: str = "active", title: str = "t"
    ) -> str:
        """A chat session of `user` with the GPT (any GPT, or none); its id."""
        ident = new_session(self.db, gpt_id, user=user, status=status, title=title)
        self.sessions.append(ident)
        return ident

    def close(self) -> None:
        owner_query(
            self.db, "delete from public.chat_sessions where id = any($1::uuid[])", self.sessions
        )
        owner_query(self.db, "delete from public.gpts where id = any($1::uuid[])", self.made)


@contextmanager
def gpts(db: MigratedDatabase) -> Iterator[Gpts]:
    """GPTs made in the block, removed when it ends."""
    made = Gpts(db, [], [])
    try:
        yield made
    finally:
        made.close()


def new_session(
    db: MigratedDatabase,
    gpt_id: str | None,
    *,
    user: str = USER_A,
    status: str = "active",
    title: str | None = "t",
) -> str:
    """A chat session made by the owner (removed with its GPT); its id."""
    ident = str(uuid.uuid4())
    owner_query(
        db,
        "insert into public.chat_sessions (id, user_id, gpt_id, status, title)"
        " values ($1, $2, $3, $4::public.chat_status, $5)",
        uuid.UUID(ident), uuid.UUID(user), uuid.UUID(gpt_id) if gpt_id else None, status, title,
    )  # fmt: skip
    return ident


@contextmanager
def prices(db: MigratedDatabase, **per_model: tuple[str, str]) -> Iterator[None]:
    """model_prices rows (input, output per million, USD) for test models, removed after."""
    for model, (given, taken) in per_model.items():
        owner_query(
            db,
            "insert into public.model_prices (model, input_per_million, output_per_million,"
            " effective_from) values ($1, $2::numeric, $3::numeric, now() - interval '1 day')",
            model, given, taken,
        )  # fmt: skip
    try:
        yield
    finally:
        owner_query(
            db, "delete from public.model_prices where model = any($1::text[])", list(per_model)
        )


# ---------------------------------------------------------------------------------------
# Requests and what they recorded
# ---------------------------------------------------------------------------------------


def ask(
    world: World,
    session_id: str,
    content: object,
    *,
    actor: str = "user_a",
    stream: bool | None = None,
    key: str | None = None,
    **extra: object,
) -> httpx.Response:
    """POST a message to a session as `actor` (the whole response, streamed or not)."""
    body: dict[str, object] = {"content": content, **extra}
    if stream is not None:
        body["stream"] = stream
    headers = world.headers(actor) if actor != "nobody" else {}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(
        f"{world.server.url}/api/v1/chat/sessions/{session_id}/messages",
        headers=headers,
        json=body,
        timeout=30,
    )


def sse_events(text: str, *, exact: bool = False) -> list[tuple[str, Any]]:
    """The named events of a Server-Sent Events body, in order: (name, parsed data); with
    `exact`, non-integer numbers as Decimal. Comments (keep-alives) are skipped."""
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue  # blank, or a comment (a keep-alive)
        fields = dict(line.split(": ", 1) for line in lines)
        data = json.loads(fields["data"], parse_float=Decimal if exact else float)
        events.append((fields["event"], data))
    return events


def decimals(response: httpx.Response) -> Any:
    """The response's JSON with every non-integer number as an exact Decimal."""
    return response.json(parse_float=Decimal)


@dataclass(frozen=True)
class Recorded:
    """How many messages, turns and usage rows the database holds."""

    messages: int
    turns: int
    usage: int


def recorded(db: MigratedDatabase) -> Recorded:
    """What every request so far recorded, counted (the tests run one at a time)."""
    [row] = owner_query(
        db,
        "select (select count(*) from public.chat_messages),"
        " (select count(*) from public.chat_turns),"
        " (select count(*) from public.usage_analytics)",
    )
    return Recorded(*row)


def messages_of(db: MigratedDatabase, session_id: str) -> list[dict[str, Any]]:
    """A session's messages, oldest first."""
    rows = owner_query(
        db,
        "select to_jsonb(m) from public.chat_messages m where session_id = $1"
        " order by created_at, id",
        uuid.UUID(session_id),
    )
    return [orjson.loads(r[0]) for r in rows]


def turns_of(db: MigratedDatabase, session_id: str) -> list[dict[str, Any]]:
    """A session's turns, oldest first."""
    rows = owner_query(
        db,
        "select to_jsonb(t) from public.chat_turns t where session_id = $1 order by created_at, id",
        uuid.UUID(session_id),
    )
    return [orjson.loads(r[0]) for r in rows]


def usage_of(db: MigratedDatabase, session_id: str) -> list[dict[str, Any]]:
    """A session's usage rows, oldest first (cost as an exact string)."""
    rows = owner_query(
        db,
        "select to_jsonb(u) || jsonb_build_object('cost', u.cost::text)"
        " from public.usage_analytics u where session_id = $1 order by created_at, id",
        uuid.UUID(session_id),
    )
    return [orjson.loads(r[0]) for r in rows]


def wait_for(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    """Poll `check` until it returns something truthy; that value (or fail)."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, "gave up waiting"
            return found
        time.sleep(0.05)
