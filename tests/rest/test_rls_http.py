"""The RLS case table of the foundation, repeated through HTTP.

Another team's rows are invisible to select, and update, delete and upsert of them change
nothing. Three views of the same truth:

* every statement of tests/rls/cases.yaml that reads, or that is denied, sent as the
  PostgREST request that means the same thing (a read for every actor; a denied write must
  answer `[]`, 42501 or the case's expect_error, and leave every row as it was);
* for every public table and actor, the rows `GET /rest/v1/<table>` shows are exactly the
  rows the same claims see inside the request scope (`Scope.as_claims`);
* cross-team PATCH, DELETE and upserts by id, with the owner checking afterwards that no
  row of any public table changed (a change is undone by loading the world again).
"""

import datetime
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio

from gptdesk.db.scope import Scope
from tests.conftest import MigratedDatabase
from tests.rest.snapshots import IDS, TABLES, assert_unchanged, snapshot
from tests.rest.world import TEAM_A, TEAM_B, USERS, World
from tests.rls.test_rls_cases import TABLE, Case

ACTORS = tuple(TABLE.actors)
REPRESENTATION = {"Prefer": "return=representation"}
NOW = datetime.datetime.now(datetime.UTC)


# ---------------------------------------------------------------------------------------
# The owner's connection, HTTP for the async tests, and reading PostgREST's answers.
# ---------------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(db: MigratedDatabase, world: World) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the owner (RLS bypassed), for snapshots of the world."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def api(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP to /rest/v1 for the async tests (headers per request pick the actor)."""
    async with httpx.AsyncClient(base_url=f"{world.server.url}/rest/v1") as client:
        yield client


def error_code(response: httpx.Response) -> str | None:
    """The PostgREST error code of a JSON error body, if it is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def refused(response: httpx.Response, actor: str) -> bool:
    """42501 as PostgREST answers it: 401 for anon, 403 for everyone else."""
    status = 401 if actor == "anon" else 403
    return response.status_code == status and error_code(response) == "42501"


# ---------------------------------------------------------------------------------------
# cases.yaml as HTTP requests.
# ---------------------------------------------------------------------------------------


class Untranslatable(Exception):
    """A statement with no PostgREST request that means the same thing."""


@dataclass(frozen=True)
class Request:
    """One PostgREST request: what a statement of the case table becomes."""

    kind: str  # read, update, delete, insert, call
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


_SELECT = re.compile(
    r"select (?P<cols>[\w, ]+) from public\.(?P<table>\w+)(?: where (?P<where>.+))?"
)
_UPDATE = re.compile(r"update public\.(?P<table>\w+) set (?P<sets>.+?) where (?P<where>.+)")
_DELETE = re.compile(r"delete from public\.(?P<table>\w+)(?: where (?P<where>.+))?")
_INSERT = re.compile(
    r"insert into public\.(?P<table>\w+) \((?P<cols>[\w, ]+)\) values \((?P<values>.+)\)"
)
_CALL = re.compile(r"select public\.(?P<function>\w+)\((?P<args>.*)\)")
_STRING = r"'((?:[^']|'')*)'"
_UNITS = {"day": datetime.timedelta(days=1), "year": datetime.timedelta(days=365)}


def split_top(text: str) -> list[str]:
    """Split on commas outside quotes and parentheses."""
    parts, current, depth, quoted = [], [], 0, False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        if char == "," and not quoted and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    return [*parts, "".join(current).strip()]


def sql_value(expr: str, actor: str | None) -> Any:
    """The JSON value of one SQL expression of the case table (the few forms it uses)."""
    expr = expr.strip()
    if found := re.fullmatch(_STRING + "::jsonb", expr):
        return orjson.loads(found[1].replace("''", "'"))
    if found := re.fullmatch(_STRING, expr):
        return found[1].replace("''", "'")
    if found := re.fullmatch(r":(\w+)::uuid \|\| " + _STRING, expr):
        return IDS[found[1]] + found[2].replace("''", "'")
    if found := re.fullmatch(r":(\w+)", expr):
        return actor if found[1] == "actor" else IDS[found[1]]
    if re.fullmatch(r"-?\d+", expr):
        return int(expr)
    if re.fullmatch(r"-?\d+\.\d+", expr):
        return float(expr)
    if expr in ("null", "true", "false"):
        return {"null": None, "true": True, "false": False}[expr]
    if expr == "now()":
        return NOW.isoformat()
    if found := re.fullmatch(r"now\(\) \+ interval '(\d+) (day|year)'", expr):
        return (NOW + int(found[1]) * _UNITS[found[2]]).isoformat()
    if found := re.fullmatch(r"repeat\('(.)', (\d+)\)", expr):
        return found[1] * int(found[2])
    raise Untranslatable(expr)


def filters(where: str | None, table: str, actor: str | None) -> tuple[tuple[str, str], ...]:
    """`a = :x and b = :y` as `a=eq.x&b=eq.y`; no WHERE at all as `<key>=not.is.null`."""
    if where is None:
        return ((PRIMARY_KEYS[table][0], "not.is.null"),)
    pairs = []
    for condition in where.split(" and "):
        found = re.fullmatch(r"(\w+) = (.+)", condition.strip())
        if not found:
            raise Untranslatable(condition)
        pairs.append((found[1], f"eq.{sql_value(found[2], actor)}"))
    return tuple(pairs)


def translate(case: Case, arguments: Mapping[str, list[str]]) -> Request:
    """The PostgREST request meaning the same as the case's statement, run as its actor."""
    sql = " ".join(case.sql.split())
    actor = dict(TABLE.actors[case.actor]).get("sub")
    if found := _CALL.fullmatch(sql):
        names = arguments[found["function"]]
        values = [sql_value(arg, actor) for arg in split_top(found["args"])]
        body = dict(zip(names, values, strict=False))
        return Request("call", "POST", f"/rpc/{found['function']}", body=body)
    if found := _SELECT.fullmatch(sql):
        table = found["table"]
        params = (("select", found["cols"].replace(" ", "")),)
        return Request("read", "GET", f"/{table}", params + filters(found["where"], table, actor))
    if found := _UPDATE.fullmatch(sql):
        body = {}
        for assignment in split_top(found["sets"]):
            column, _, expr = assignment.partition(" = ")
            body[column] = sql_value(expr, actor)
        table = found["table"]
        where = filters(found["where"], table, actor)
        return Request("update", "PATCH", f"/{table}", where, body, REPRESENTATION)
    if found := _DELETE.fullmatch(sql):
        table = found["table"]
        where = filters(found["where"], table, actor)
        return Request("delete", "DELETE", f"/{table}", where, None, REPRESENTATION)
    if found := _INSERT.fullmatch(sql):
        columns = [name.strip() for name in found["cols"].split(",")]
        values = [sql_value(expr, actor) for expr in split_top(found["values"])]
        body = dict(zip(columns, values, strict=True))
        return Request("insert", "POST", f"/{found['table']}", body=body)
    raise Untranslatable(sql)


# The primary key of each table: what a read of "which rows" selects (`id` unless named
# here). Checked against the catalog by test_primary_keys_match_the_catalog.
_OTHER_KEYS = {
    "gpt_ratings": ("gpt_id", "user_id"),
    "gpt_monthly_usage": ("gpt_id", "month"),
    "llm_provider_secrets": ("provider_id",),
    "usage_daily_totals": ("day", "slot"),
}
PRIMARY_KEYS = {table: _OTHER_KEYS.get(table, ("id",)) for table in TABLES}
# Statements with no PostgREST equivalent: a data-modifying CTE, and an UPDATE whose value
# is computed from the row (`set x = not x`).
UNTRANSLATABLE = {
    "gpts:create an already-approved GPT in team A (plain users' start pending)",
    "security_settings:flip the admin aal2 policy",
}
# Every case that reads, and every case denied to its actor: reads change nothing, and
# denied writes must not. Allowed writes would change the world and are left to
# test_rls_cases, which rolls each one back.
HTTP_CASES = [
    case
    for case in TABLE.cases
    if (case.op == "select" or case.expect == "denied")
    and f"{case.table}:{case.name}" not in UNTRANSLATABLE
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def arguments(owner: asyncpg.Connection) -> dict[str, list[str]]:
    """The argument names of each public function, for calls through /rpc."""
    rows = await owner.fetch(
        "select proname, proargnames from pg_proc where pronamespace = 'public'::regnamespace"
    )
    return {row["proname"]: list(row["proargnames"] or []) for row in rows}


async def send(
    api: httpx.AsyncClient, world: World, actor: str, request: Request
) -> httpx.Response:
    """Send `request` as `actor`."""
    return await api.request(
        request.method,
        request.path,
        params=request.params,
        json=request.body,
        headers={**world.headers(actor), **request.headers},
    )


def _case_id(case: Case) -> str:
    return case.id


async def test_cases_translate(arguments: dict[str, list[str]]) -> None:
    """Every statement of the case table but the known few becomes a request."""
    failed = set()
    for case in TABLE.cases:
        try:
            translate(case, arguments)
        except Untranslatable:
            failed.add(f"{case.table}:{case.name}")
    assert failed == UNTRANSLATABLE


@pytest.mark.parametrize("case", HTTP_CASES, ids=_case_id)
async def test_case_through_http(
    case: Case,
    api: httpx.AsyncClient,
    world: World,
    owner: asyncpg.Connection,
    arguments: dict[str, list[str]],
) -> None:
    request = translate(case, arguments)
    before = await snapshot(owner)
    try:
        response = await send(api, world, case.actor, request)
        what = f"{case.actor} {request.method} {request.path} {request.params} {request.body}"
        answer = f"{response.status_code} {response.text}"
        if request.kind == "read" and case.expect == "allowed":
            assert response.status_code == 200, f"{what} -> {answer}"
            assert len(response.json()) >= 1, f"{what} -> {answer}"
        elif request.kind in ("read", "update", "delete"):
            empty = response.status_code == 200 and response.json() == []
            assert empty or refused(response, case.actor) or _expected_error(response, case), (
                f"{what} -> {answer}"
            )
        else:  # insert, call: a denied one raises
            assert refused(response, case.actor) or _expected_error(response, case), (
                f"{what} -> {answer}"
            )
    finally:
        await assert_unchanged(owner, world, before)


def _expected_error(response: httpx.Response, case: Case) -> bool:
    """The case's expect_error: 23514 (a CHECK refusing the row) as a 400, PTxyz (a
    governance function refusing the caller) as the status xyz."""
    extra = case.denied_by - {"42501"}
    status = int(error_code(response)[2:]) if error_code(response).startswith("PT") else 400
    return response.status_code == status and error_code(response) in extra


# ---------------------------------------------------------------------------------------
# Visibility: what each actor's GET shows is what the request scope shows.
# ---------------------------------------------------------------------------------------


async def test_primary_keys_match_the_catalog(owner: asyncpg.Connection) -> None:
    rows = await owner.fetch(
        "select c.relname, array_agg(a.attname order by k.ord) as columns "
        "from pg_constraint con join pg_class c on c.oid = con.conrelid "
        "cross join lateral unnest(con.conkey) with ordinality k(attnum, ord) "
        "join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum "
        "where c.relnamespace = 'public'::regnamespace and con.contype = 'p' "
        "and c.relname <> 'schema_migrations' group by c.relname"
    )
    assert {row["relname"]: tuple(row["columns"]) for row in rows} == PRIMARY_KEYS


def _keys(rows: list[Any], columns: tuple[str, ...]) -> set[tuple[str, ...]]:
    return {tuple(str(row[column]) for column in columns) for row in rows}


def _world_key(key: tuple[str, ...]) -> bool:
    """A row of the world: every key column is one of its ids (or the settings row)."""
    return all(part in IDS.values() or part == "True" for part in key)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("table", TABLES)
async def test_get_shows_what_the_scope_shows(
    table: str, actor: str, api: httpx.AsyncClient, world: World, scope: Scope
) -> None:
    columns = PRIMARY_KEYS[table]
    denied = None
    try:
        async with scope.as_claims(TABLE.actors[actor], read_only=True) as conn:
            rows = await conn.fetch(f'select {", ".join(columns)} from public."{table}"')
        expected = _keys(rows, columns)
    except asyncpg.PostgresError as error:
        denied = error.sqlstate
    # page through (a table may hold more rows than one read returns: the audit trail grows
    # with every test), in key order
    read: list[Any] = []
    while True:
        response = await api.get(
            f"/{table}",
            params={"select": ",".join(columns), "order": ",".join(columns),
                    "offset": str(len(read)), "limit": "1000"},
            headers={**world.headers(actor), "Prefer": "count=exact"},
        )  # fmt: skip
        if denied is not None:
            assert denied == "42501"
            assert refused(response, actor), f"{response.status_code} {response.text}"
            return
        assert response.status_code in (200, 206), response.text
        page = response.json()
        read += page
        total = int(response.headers["Content-Range"].rsplit("/", 1)[1])
        if not page or len(read) >= total:
            break
    got = _keys(read, columns)
    assert total == len(got), "the read was capped"
    world_rows = {key for key in expected if _world_key(key)}
    assert {key for key in got if _world_key(key)} == world_rows
    assert got == expected


@pytest.mark.parametrize(
    ("actor", "hidden"),
    [
        ("user_b", ["team_a", "user_a", "admin_a", "gpt_a_private", "session_a", "message_a",
                    "reply_a", "usage_a", "audit_a", "doc_a", "doc_a_admin", "invitation_a",
                    "turn_a"]),
        ("user_a", ["team_b", "user_b", "gpt_b_private", "doc_b", "invitation_b"]),
        ("admin_a", ["team_b", "user_b", "gpt_b_private", "doc_b", "invitation_b"]),
    ],
)  # fmt: skip
def test_other_teams_rows_are_invisible(
    actor: str, hidden: list[str], rest: httpx.Client, world: World
) -> None:
    """The headline, stated plainly: no table's read shows a row of the other team.

    (Keys only: a visible row may name the other team, as team A's public GPT names team A.)
    """
    seen: set[str] = set()
    for table in TABLES:
        response = rest.get(f"/{table}", headers=world.headers(actor))
        if response.status_code == 200:
            seen |= {str(row[key]) for row in response.json() for key in PRIMARY_KEYS[table]}
    assert {IDS[name] for name in hidden} & seen == set()


async def test_anon_reads_nothing(
    api: httpx.AsyncClient, world: World, owner: asyncpg.Connection
) -> None:
    """anon: `[]` where it holds SELECT (no policy lets it see a row), else 401 42501."""
    answers = {}
    for table in TABLES:
        granted = await owner.fetchval(
            "select has_table_privilege('anon', $1, 'select')", f"public.{table}"
        )
        response = await api.get(f"/{table}", headers=world.headers("anon"))
        answers[table] = (response.status_code, error_code(response) or response.json())
        expected = (200, []) if granted else (401, "42501")
        assert answers[table] == expected, f"{table}: {response.text}"
    assert answers["gpts"] == (200, [])
    assert answers["team_invitations"] == (401, "42501")


# ---------------------------------------------------------------------------------------
# Cross-team writes by id: PATCH, DELETE and upserts of the other team's rows.
# ---------------------------------------------------------------------------------------

# A column each table's PATCH sets, with a value no world row has.
EDITS: dict[str, tuple[str, Any]] = {
    "teams": ("description", "edited by another team"),
    "users": ("full_name", "Edited by another team"),
    "gpts": ("name", "Edited by another team"),
    "chat_sessions": ("title", "Edited by another team"),
    "chat_messages": ("content", "edited by another team"),
    "usage_analytics": ("tokens_used", 0),
    "audit_logs": ("action", "gpt.forged"),
    "documents": ("name", "edited.txt"),
    "gpt_ratings": ("rating", 1),
    "team_invitations": ("revoked_at", NOW.isoformat()),
    "gpt_monthly_usage": ("cost", 0),
    "chat_turns": ("status", "failed"),
}
TEAM_A_ROWS = [
    ("teams", {"id": "team_a"}),
    ("users", {"id": "user_a"}),
    ("users", {"id": "admin_a"}),
    ("gpts", {"id": "gpt_a_private"}),
    ("gpts", {"id": "gpt_a_public"}),
    ("chat_sessions", {"id": "session_a"}),
    ("chat_messages", {"id": "message_a"}),
    ("chat_messages", {"id": "reply_a"}),
    ("usage_analytics", {"id": "usage_a"}),
    ("audit_logs", {"id": "audit_a"}),
    ("documents", {"id": "doc_a"}),
    ("documents", {"id": "doc_a_admin"}),
    ("gpt_ratings", {"gpt_id": "gpt_a_private", "user_id": "user_a"}),
    ("team_invitations", {"id": "invitation_a"}),
    ("team_invitations", {"id": "invitation_a_revoked"}),
    ("gpt_monthly_usage", {"gpt_id": "gpt_a_private"}),
    ("chat_turns", {"id": "turn_a"}),
]
TEAM_B_ROWS = [
    ("teams", {"id": "team_b"}),
    ("users", {"id": "user_b"}),
    ("gpts", {"id": "gpt_b_private"}),
    ("documents", {"id": "doc_b"}),
    ("team_invitations", {"id": "invitation_b"}),
]
CROSS_TEAM = [
    pytest.param(actor, table, key, id=f"{actor}:{table}:{'+'.join(key.values())}")
    for actor, rows in (("user_b", TEAM_A_ROWS), ("user_a", TEAM_B_ROWS), ("admin_a", TEAM_B_ROWS))
    for table, key in rows
]


def _zero_rows(response: httpx.Response, representation: bool) -> bool:
    """Nothing written: `[]` with a representation, else 204 with `Content-Range: */0`."""
    if representation:
        return response.status_code == 200 and response.json() == []
    return response.status_code == 204 and response.headers.get("Content-Range") == "*/0"


@pytest.mark.parametrize(("actor", "table", "key"), CROSS_TEAM)
async def test_cross_team_patch_and_delete_change_nothing(
    actor: str,
    table: str,
    key: dict[str, str],
    api: httpx.AsyncClient,
    world: World,
    owner: asyncpg.Connection,
) -> None:
    column, value = EDITS[table]
    params = {name: f"eq.{IDS[placeholder]}" for name, placeholder in key.items()}
    may_update = await owner.fetchval(
        "select has_column_privilege('authenticated', $1, $2, 'update')", f"public.{table}", column
    )
    may_delete = await owner.fetchval(
        "select has_table_privilege('authenticated', $1, 'delete')", f"public.{table}"
    )
    before = await snapshot(owner)
    try:
        for prefer, representation in (
            ("return=representation", True),
            ("return=minimal, count=exact", False),
        ):
            headers = {**world.headers(actor), "Prefer": prefer}
            patch = await api.patch(
                f"/{table}", params=params, json={column: value}, headers=headers
            )
            delete = await api.delete(f"/{table}", params=params, headers=headers)
            for response, granted in ((patch, may_update), (delete, may_delete)):
                method = response.request.method
                answer = f"{method} {prefer}: {response.status_code} {response.text}"
                if granted:
                    assert _zero_rows(response, representation), answer
                else:  # no privilege at all: PostgreSQL refuses before RLS is asked
                    assert refused(response, actor), answer
    finally:
        await assert_unchanged(owner, world, before)


@dataclass(frozen=True)
class Upsert:
    """A POST with `Prefer: resolution=…` aimed at another team's row, and the answer."""

    name: str
    table: str
    body: dict[str, Any]
    status: int = 403
    code: str | None = "42501"
    because: str = "violates row-level security policy for"  # in the error message
    resolution: str = "merge-duplicates"
    on_conflict: str | None = None


_GPT = {"id": IDS["gpt_a_private"], "name": "Renamed by team B"}
_PUBLIC_GPT = {"id": IDS["gpt_a_public"], "name": "Renamed by team B", "team_id": TEAM_B}
_SESSION = {"id": IDS["session_a"], "title": "Taken over", "user_id": USERS["user_b"]}
_DOCUMENT = {
    "id": IDS["doc_a"],
    "team_id": TEAM_B,
    "name": "handbook.pdf",
    "object_path": f"{TEAM_B}/documents/handbook.pdf",
}
_RATING = {"gpt_id": IDS["gpt_a_private"], "user_id": USERS["user_a"], "rating": 1}
_PROFILE = {"id": USERS["user_a"], "email": "user_a@team-a.test", "full_name": "Taken over"}
_INVITATION = {
    "id": IDS["invitation_a"],
    "team_id": TEAM_B,
    "email": "invitee@team-a.test",
    "token_hash": "f" * 64,
    "expires_at": (NOW + datetime.timedelta(days=1)).isoformat(),
}
_TURN = {
    "id": IDS["turn_a"],
    "user_id": USERS["user_b"],
    "session_id": IDS["session_a"],
    "user_message_id": IDS["message_a"],
}
# The UPDATE policy refusing the row an upsert conflicts with (PostgreSQL raises, not skips).
USING = "violates row-level security policy (USING expression)"
# As user_b. Each answer is what the server says; every one must leave the rows as they were.
UPSERTS = [
    # No team: the INSERT policy refuses the proposed row before any conflict is looked at.
    Upsert("gpt, no team", "gpts", _GPT),
    Upsert("gpt, on_conflict=id", "gpts", _GPT, on_conflict="id"),
    Upsert("gpt, moved to team A", "gpts", {**_GPT, "team_id": TEAM_A}),
    # Team B: the proposed row passes the INSERT policy; the conflicting row is team A's,
    # and the UPDATE policy's USING refuses it.
    Upsert("gpt, as team B's", "gpts", {**_GPT, "team_id": TEAM_B}, because=USING),
    Upsert("public gpt, as team B's", "gpts", _PUBLIC_GPT, because=USING),
    # ignore-duplicates: ON CONFLICT DO NOTHING, so nothing is inserted and nothing changes.
    Upsert(
        "gpt, ignore-duplicates",
        "gpts",
        {**_GPT, "team_id": TEAM_B},
        status=201,
        code=None,
        because="",
        resolution="ignore-duplicates",
    ),
    Upsert("chat session, as user_b's", "chat_sessions", _SESSION, because=USING),
    Upsert("document, moved to team B", "documents", _DOCUMENT, because=USING),
    Upsert("rating of user_a", "gpt_ratings", _RATING),
    Upsert("team A", "teams", {"id": TEAM_A, "name": "Taken over"}),
    Upsert("user_a's profile", "users", _PROFILE),
    # invitations: authenticated may not even name the id column in an INSERT
    Upsert("team A's invitation", "team_invitations", _INVITATION, because="permission denied"),
    # turns: an upsert needs UPDATE, which authenticated does not hold
    Upsert("user_a's turn", "chat_turns", _TURN, because="permission denied"),
]


@pytest.mark.parametrize("upsert", UPSERTS, ids=lambda upsert: upsert.name)
async def test_cross_team_upsert_changes_nothing(
    upsert: Upsert, api: httpx.AsyncClient, world: World, owner: asyncpg.Connection
) -> None:
    headers = {
        **world.headers("user_b"),
        "Prefer": f"resolution={upsert.resolution}, return=representation",
    }
    params = {"on_conflict": upsert.on_conflict} if upsert.on_conflict else {}
    before = await snapshot(owner)
    try:
        response = await api.post(
            f"/{upsert.table}", params=params, json=upsert.body, headers=headers
        )
        assert (response.status_code, error_code(response)) == (upsert.status, upsert.code), (
            response.text
        )
        if upsert.status == 201:
            assert response.json() == []
        else:
            assert upsert.because in response.json()["message"]
    finally:
        await assert_unchanged(owner, world, before)
