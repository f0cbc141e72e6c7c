"""The analytics tests' own people: two fresh teams (x and y) with an admin and users each, a
super admin in no team, their GPTs, and an access token per person for a live server.

Everything is written by the owner under unique names and removed by `remove_crew`
(deleting the teams and the sign-in identities cascades to profiles, GPTs, usage rows,
budgets and alerts; the audit trail keeps its rows). Admins' sessions are aal2, so they
keep their powers whether or not the server asks admins for MFA.
"""

import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from gptdesk.auth.tokens import mint_access_token
from tests.conftest import LiveServer

# actor: (role, team key or None, full name or None: the profile makes one up)
ACTORS: dict[str, tuple[str, str | None, str | None]] = {
    "admin_x": ("admin", "x", "Admin X"),
    "user_x": ("user", "x", "User X"),
    "user_x2": ("user", "x", None),
    "admin_y": ("admin", "y", "Admin Y"),
    "user_y": ("user", "y", "User Y"),
    "super": ("super_admin", None, "Super Admin"),
}


@dataclass(frozen=True)
class Gpt:
    """A GPT the crew's owner made."""

    id: str
    name: str
    team: str  # team key
    model: str
    public: bool


@dataclass
class Crew:
    """Ids, names and tokens of one crew, and the server the tokens are good for."""

    server: LiveServer
    secret: str
    tag: str
    teams: dict[str, str]  # team key -> id
    users: dict[str, str]  # actor -> id
    tokens: dict[str, str]
    names: dict[str, str]  # team, user and GPT ids -> the name the API shows
    gpts: list[Gpt] = field(default_factory=list)

    def headers(self, actor: str) -> dict[str, str]:
        """What a client of `actor` sends (anon: the project key only)."""
        key = self.server.anon_key
        if actor == "anon":
            return {"apikey": key, "Authorization": f"Bearer {key}"}
        return {"apikey": key, "Authorization": f"Bearer {self.tokens[actor]}"}

    def team_of(self, actor: str) -> str | None:
        """The id of `actor`'s team (None for the super admin)."""
        team = ACTORS[actor][1]
        return self.teams[team] if team else None

    def get(self, path: str, actor: str, **params: str) -> httpx.Response:
        """GET `path` on the server as `actor`."""
        return httpx.get(
            f"{self.server.url}{path}", headers=self.headers(actor), params=params, timeout=30
        )

    def gpts_of(self, team: str) -> list[Gpt]:
        """The crew's GPTs of team `team` (a key)."""
        return [g for g in self.gpts if g.team == team]


async def make_crew(conn: asyncpg.Connection, server: LiveServer, secret: str) -> Crew:
    """Two teams, their people and a token each (live aal2/aal1 sessions)."""
    tag = secrets.token_hex(4)
    teams = {key: str(uuid.uuid4()) for key in ("x", "y")}
    names: dict[str, str] = {}
    for key, team in teams.items():
        names[team] = f"Analytics team {key} {tag}"
        await conn.execute(
            "insert into public.teams (id, name) values ($1, $2)", uuid.UUID(team), names[team]
        )
    users: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for actor, (role, team_key, full_name) in ACTORS.items():
        ident = uuid.uuid4()
        email = f"{actor}-{tag}@analytics.test"
        app_meta: dict[str, Any] = {"provider": "email", "providers": ["email"], "role": role}
        if team_key:
            app_meta["team_id"] = teams[team_key]
        user_meta = {"full_name": full_name} if full_name else {}
        await conn.execute(
            "insert into auth.users (id, aud, role, email, email_confirmed_at,"
            " raw_app_meta_data, raw_user_meta_data)"
            " values ($1, 'authenticated', 'authenticated', $2, now(), $3::jsonb, $4::jsonb)",
            ident, email, json.dumps(app_meta), json.dumps(user_meta),
        )  # fmt: skip
        users[actor] = str(ident)
        aal = "aal1" if role == "user" else "aal2"
        session = uuid.uuid4()
        await conn.execute(
            "insert into auth.sessions (id, user_id, aal) values ($1, $2, $3)", session, ident, aal
        )
        user = await conn.fetchrow(
            "select id, email, role, aud from auth.users where id = $1", ident
        )
        assert user is not None
        tokens[actor] = mint_access_token(
            secret=secret, issuer="http://test/auth/v1", lifetime=3600, user=dict(user),
            session_id=str(session), aal=aal, amr=[],
        ).token  # fmt: skip
    profiles = await conn.fetch(
        "select id::text, coalesce(full_name, email) as shown from public.users"
        " where id = any($1::uuid[])",
        list(users.values()),
    )
    assert len(profiles) == len(ACTORS), "every crew member has a profile"
    names.update({p["id"]: p["shown"] for p in profiles})
    return Crew(server, secret, tag, teams, users, tokens, names)


async def add_gpt(
    conn: asyncpg.Connection,
    crew: Crew,
    team: str,
    model: str,
    *,
    public: bool = False,
    creator: str | None = None,
) -> Gpt:
    """An active, approved GPT of crew team `team` answering with `model`."""
    ident = str(uuid.uuid4())
    name = f"Analytics GPT {team}{len(crew.gpts)} {crew.tag}"
    await conn.execute(
        "insert into public.gpts (id, name, team_id, creator_id, model, status, approval_status,"
        " is_public) values ($1, $2, $3, $4, $5, 'active', 'approved', $6)",
        uuid.UUID(ident), name, uuid.UUID(crew.teams[team]),
        uuid.UUID(crew.users[creator or f"admin_{team}"]), model, public,
    )  # fmt: skip
    gpt = Gpt(ident, name, team, model, public)
    crew.gpts.append(gpt)
    crew.names[ident] = name
    return gpt


async def remove_crew(conn: asyncpg.Connection, crew: Crew) -> None:
    """Remove the crew's teams and people, and all that goes with them."""
    await conn.execute(
        "delete from public.usage_analytics where team_id = any($1::uuid[])"
        " or user_id = any($2::uuid[])",
        list(crew.teams.values()), list(crew.users.values()),
    )  # fmt: skip
    await conn.execute(
        "delete from public.teams where id = any($1::uuid[])", list(crew.teams.values())
    )
    await conn.execute(
        "delete from auth.users where id = any($1::uuid[])", list(crew.users.values())
    )
