"""What the governance tests share: the world's extra admins, GPTs made (and removed) by the
owner or through /rest/v1, the two surfaces a transition is called through, and the state,
versions and audit rows of a GPT as the owner reads them.

GPTs made by the owner are a trusted writer's: `approval="approved"` approves version 1 at
once. Version 1 is made by the GPT's creator (user_a unless said otherwise), so no admin
meets the own-version rule unless a test means it to.
"""

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import orjson
from postgrest.exceptions import APIError
from supabase import Client

from tests.conftest import MigratedDatabase
from tests.llm.fake_openai import FakeUpstream
from tests.rest.world import TEAM_A, TEAM_B, USERS, World

USER_A = USERS["user_a"]
ADMIN_A = USERS["admin_a"]
USER_B = USERS["user_b"]
SUPER = USERS["super_admin"]
# Admins the governance tests add to the world (tests/governance/conftest.py).
ADMIN_A2 = "20000000-0000-4000-8000-0000000000a3"
ADMIN_B = "20000000-0000-4000-8000-0000000000b2"
EXTRA_ADMINS = {"admin_a2": (ADMIN_A2, TEAM_A), "admin_b": (ADMIN_B, TEAM_B)}
ACTOR_IDS = {**USERS, "admin_a2": ADMIN_A2, "admin_b": ADMIN_B, "service_role": None}

# A configuration no scoring rule applies to: priced, not frontier, described, categorised.
CLEAN = {
    "description": "Answers travel questions",
    "category": "travel",
    "prompt": "You help colleagues plan business trips.",
    "model": "gpt-4o-mini",
    "temperature": 0.7,
    "max_tokens": 500,
}
# How a kind of GPT the matrix uses differs from CLEAN, and who must review it.
KINDS: dict[str, dict[str, Any]] = {
    "team": {},
    "public": {"is_public": True},
    "high_risk": {"prompt": "You reset colleagues' passwords and hand out API keys."},
}
STATE_KEYS = (
    "id", "name", "status", "approval_status", "version", "approved_version", "published",
    "risk_level", "compliance_score", "risk_reasons", "risk_override", "reviewer",
)  # fmt: skip

# /api/v1 action → (the /rest/v1/rpc function, its argument naming the reason or comment)
FUNCTIONS = {
    "approve": "approve_gpt",
    "reject": "reject_gpt",
    "suspend": "suspend_gpt",
    "reinstate": "reinstate_gpt",
    "rollback": "rollback_gpt",
    "risk-override": "override_gpt_risk",
}
# …and the action the refusal is audited under (`gpt.<it>_refused`).
REFUSED_AS = {**{a: a for a in FUNCTIONS}, "risk-override": "override_risk"}


# ---------------------------------------------------------------------------------------
# The owner's connection
# ---------------------------------------------------------------------------------------


class Owner:
    """One connection as the owner (it bypasses RLS), on a loop of its own, for arranging
    and reading rows from synchronous tests without a connection per query."""

    def __init__(self, db: MigratedDatabase) -> None:
        self.db = db
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(db.admin_dsn))

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """The rows of `sql`, as tuples."""
        return [tuple(r) for r in self.loop.run_until_complete(self.conn.fetch(sql, *args))]

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


@contextmanager
def owner_of(db: MigratedDatabase) -> Iterator[Owner]:
    owner = Owner(db)
    try:
        yield owner
    finally:
        owner.close()


# ---------------------------------------------------------------------------------------
# GPTs
# ---------------------------------------------------------------------------------------


@dataclass
class Made:
    """GPTs made in a test; `close` removes them with their sessions and versions."""

    owner: Owner
    world: World
    gpts: list[str] = field(default_factory=list)

    def gpt(
        self,
        *,
        creator: str = USER_A,
        team: str = TEAM_A,
        approval: str = "pending",
        status: str = "active",
        **config: Any,
    ) -> str:
        """A GPT made by the owner (a trusted writer) from CLEAN and `config`; its id."""
        ident = str(uuid.uuid4())
        fields = {
            "id": ident, "name": f"gov {ident[:8]}", "creator_id": creator, "team_id": team,
            "approval_status": approval, "status": status, **CLEAN, **config,
        }  # fmt: skip
        columns = ", ".join(fields)
        self.owner.query(
            f"insert into public.gpts ({columns}) select {columns}"
            " from jsonb_populate_record(null::public.gpts, $1::jsonb)",
            orjson.dumps(fields).decode(),
        )
        self.gpts.append(ident)
        return ident

    def posted(self, actor: str, team: str = TEAM_A, **config: Any) -> dict[str, Any]:
        """A GPT POSTed to /rest/v1/gpts by `actor` from CLEAN and `config`; the row."""
        body = {"name": f"gov {uuid.uuid4().hex[:8]}", "team_id": team, **CLEAN, **config}
        made = httpx.post(
            f"{self.world.server.url}/rest/v1/gpts",
            headers={**self.world.headers(actor), "Prefer": "return=representation"},
            json=body,
        )
        assert made.status_code == 201, made.text
        [row] = made.json()
        self.gpts.append(row["id"])
        return dict(row)

    def session(self, gpt: str, user: str = USER_A) -> str:
        """A chat session of `user` with the GPT, made by the owner; its id."""
        ident = str(uuid.uuid4())
        self.owner.query(
            "insert into public.chat_sessions (id, user_id, gpt_id, title)"
            " values ($1, $2, $3, 't')",
            uuid.UUID(ident), uuid.UUID(user), uuid.UUID(gpt),
        )  # fmt: skip
        return ident

    def close(self) -> None:
        self.owner.query(
            "delete from public.chat_sessions where gpt_id = any($1::uuid[])", self.gpts
        )
        self.owner.query("delete from public.gpts where id = any($1::uuid[])", self.gpts)


@contextmanager
def making(owner: Owner, world: World) -> Iterator[Made]:
    """GPTs made in the block, removed when it ends."""
    made = Made(owner, world)
    try:
        yield made
    finally:
        made.close()


def patch(world: World, actor: str, gpt: str, **fields: Any) -> httpx.Response:
    """PATCH /rest/v1/gpts?id=eq.{gpt} as `actor` (a request role: RLS and the guard apply)."""
    return httpx.patch(
        f"{world.server.url}/rest/v1/gpts",
        params={"id": f"eq.{gpt}"},
        headers={**world.headers(actor), "Prefer": "return=representation"},
        json=fields,
    )


def changed(world: World, actor: str, gpt: str, **fields: Any) -> dict[str, Any]:
    """The row after `actor` changed it; the change must go through."""
    answer = patch(world, actor, gpt, **fields)
    assert answer.status_code == 200, answer.text
    [found] = answer.json()
    return dict(found)


def owner_update(owner: Owner, gpt: str, **fields: Any) -> None:
    """Change a GPT as the owner, a trusted writer: its approval stays what it was, and
    approval_status approves or rejects the current version."""
    owner.query(
        "update public.gpts g set (" + ", ".join(fields) + ") = (select "
        + ", ".join(f"r.{name}" for name in fields)
        + " from jsonb_populate_record(g, $2::jsonb) r) where g.id = $1",
        uuid.UUID(gpt), orjson.dumps(fields).decode(),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# What the owner sees
# ---------------------------------------------------------------------------------------


def row(owner: Owner, gpt: str) -> dict[str, Any]:
    """The GPT's whole row."""
    [(found,)] = owner.query("select to_jsonb(g) from public.gpts g where id = $1", uuid.UUID(gpt))
    return dict(orjson.loads(found))


def state(owner: Owner, gpt: str) -> dict[str, Any]:
    """The GPT's governance state, as the transitions return it."""
    return state_of(row(owner, gpt))


def state_of(found: dict[str, Any]) -> dict[str, Any]:
    """The governance state in a GPT's row."""
    return {key: found[key] for key in STATE_KEYS}


def versions(owner: Owner, gpt: str) -> list[dict[str, Any]]:
    """The GPT's versions, oldest first."""
    rows = owner.query(
        "select to_jsonb(v) from public.gpt_versions v where gpt_id = $1 order by version",
        uuid.UUID(gpt),
    )
    return [orjson.loads(r[0]) for r in rows]


def audit(owner: Owner, gpt: str) -> list[dict[str, Any]]:
    """The audit rows about the GPT, oldest first."""
    rows = owner.query(
        "select to_jsonb(a) from public.audit_logs a where resource_id = $1 order by seq",
        uuid.UUID(gpt),
    )
    return [orjson.loads(r[0]) for r in rows]


@dataclass(frozen=True)
class Everything:
    """All a transition could change: the row, the versions, the audit trail."""

    row: dict[str, Any]
    versions: list[dict[str, Any]]
    audit: list[dict[str, Any]]


def everything(owner: Owner, gpt: str) -> Everything:
    """The GPT's row, versions and audit rows, read at once."""
    [(found, kept, trail)] = owner.query(
        "select (select to_jsonb(g) from public.gpts g where g.id = $1),"
        " (select coalesce(jsonb_agg(to_jsonb(v) order by v.version), '[]')"
        "    from public.gpt_versions v where v.gpt_id = $1),"
        " (select coalesce(jsonb_agg(to_jsonb(a) order by a.seq), '[]')"
        "    from public.audit_logs a where a.resource_id = $1)",
        uuid.UUID(gpt),
    )
    return Everything(orjson.loads(found), orjson.loads(kept), orjson.loads(trail))


# ---------------------------------------------------------------------------------------
# Transitions through /api/v1 and /rest/v1/rpc
# ---------------------------------------------------------------------------------------


def act(world: World, actor: str, gpt: str, action: str, **body: Any) -> httpx.Response:
    """POST /api/v1/gpts/{gpt}/{action} as `actor`."""
    headers = world.headers(actor) if actor != "nobody" else {}
    return httpx.post(
        f"{world.server.url}/api/v1/gpts/{gpt}/{action}", headers=headers, json=body, timeout=30
    )


def acted(world: World, actor: str, gpt: str, action: str, **body: Any) -> dict[str, Any]:
    """The state an action answered with; it must succeed."""
    answer = act(world, actor, gpt, action, **body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def refused(answer: httpx.Response, status: int, code: str) -> None:
    """An /api/v1 refusal: its status and stable code."""
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code, answer.text


def rpc_arguments(action: str, gpt: str, body: dict[str, Any]) -> dict[str, Any]:
    """The /rest/v1/rpc arguments of an /api/v1 action's body (every argument named)."""
    names = {
        "approve": ("comment",),
        "reject": ("comment",),
        "suspend": ("reason",),
        "reinstate": ("comment",),
        "rollback": ("version", "comment"),
        "risk-override": ("risk_level", "compliance_score", "justification"),
    }[action]
    return {"gpt_id": gpt, **{name: body.get(name) for name in names}}


@dataclass(frozen=True)
class Outcome:
    """A transition's outcome on either surface: the HTTP-like status, the stable code
    (None on success) and the state it answered with."""

    status: int
    code: str | None
    state: dict[str, Any] | None


def through_api(world: World, actor: str, gpt: str, action: str, body: dict[str, Any]) -> Outcome:
    answer = act(world, actor, gpt, action, **body)
    if answer.status_code == 200:
        return Outcome(200, None, answer.json())
    return Outcome(answer.status_code, answer.json()["error"]["code"], None)


def through_rpc(client: Client, gpt: str, action: str, body: dict[str, Any]) -> Outcome:
    """The transition through supabase-py: PTxyz errors carry the status, details the code."""
    try:
        data = client.rpc(FUNCTIONS[action], rpc_arguments(action, gpt, body)).execute().data
    except APIError as error:
        assert error.code and error.code.startswith("PT"), error.json()
        return Outcome(int(error.code[2:]), error.details, None)
    return Outcome(200, None, data)


# ---------------------------------------------------------------------------------------
# Chats
# ---------------------------------------------------------------------------------------


def ask(world: World, session: str, question: str, actor: str = "user_a") -> httpx.Response:
    """POST a question to a chat session as `actor` (answered as JSON)."""
    return httpx.post(
        f"{world.server.url}/api/v1/chat/sessions/{session}/messages",
        headers=world.headers(actor),
        json={"content": question, "stream": False},
        timeout=30,
    )


def answered_with(
    world: World, upstream: FakeUpstream, session: str, actor: str = "user_a"
) -> dict[str, Any]:
    """What the model was asked with for a new question in the session: the model, the
    system prompt (None without one), temperature and max_tokens. The chat must succeed."""
    question = f"question {uuid.uuid4().hex}"
    answer = ask(world, session, question, actor)
    assert answer.status_code == 201, answer.text
    [sent] = upstream.asked(question)
    first = sent["messages"][0]
    return {
        "model": sent["model"],
        "prompt": first["content"] if first["role"] == "system" else None,
        "temperature": sent["temperature"],
        "max_tokens": sent["max_tokens"],
    }
