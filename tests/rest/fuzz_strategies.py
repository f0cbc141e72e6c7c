"""Whole fuzzed requests to /rest/v1: method, path, query string, headers and body.

A quarter of the requests are "junk" ones, with odd names, characters and values anywhere;
the rest are well formed, so that most reach PostgreSQL and the property is tested on the
SQL the server builds.

Nothing in the world may change: reads go as any actor; writes go only as anon or as
user_b, PATCH and DELETE always with a filter naming rows user_b may not change, inserts
always with a column that makes the row one user_b may not insert (team A's team, user_a as
owner), and /rpc calls never with ids user_b may act on. `Fuzzed` is one generated request;
`route` says what the server makes of its path.
"""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import orjson
from hypothesis import strategies as st

from tests.rest.fuzz_grammar import (
    GOOD_VALUES,
    IDENT,
    JUNK,
    NOWHERE,
    Vocabulary,
    parameters,
)
from tests.rest.snapshots import IDS
from tests.rest.world import TEAM_A, USERS, World

READERS = ("anon", "user_a", "admin_a", "user_b", "super_admin", "service_role")
WRITERS = ("anon", "user_b")
# What user_b may never change: PATCH and DELETE carry this filter (first in the query).
WRITE_GUARD = {
    "teams": ("id", f"in.({TEAM_A},{NOWHERE})"),
    "users": ("id", f"in.({USERS['user_a']},{USERS['admin_a']},{NOWHERE})"),
    "gpts": ("id", f"in.({IDS['gpt_a_private']},{IDS['gpt_a_public']},{NOWHERE})"),
    "chat_sessions": ("id", f"in.({IDS['session_a']},{NOWHERE})"),
    "chat_messages": ("id", f"in.({IDS['message_a']},{IDS['reply_a']})"),
    "usage_analytics": ("id", f"in.({IDS['usage_a']})"),
    "audit_logs": ("id", f"in.({IDS['audit_a']})"),
    "documents": ("id", f"in.({IDS['doc_a']},{IDS['doc_a_admin']},{NOWHERE})"),
    "gpt_ratings": ("gpt_id", f"in.({IDS['gpt_a_private']})"),
    "team_invitations": ("id", f"in.({IDS['invitation_a']},{IDS['invitation_a_revoked']})"),
    "security_settings": ("id", "is.false"),
    "model_prices": ("model", "eq.no-such-model"),
    "llm_providers": ("id", f"in.({IDS['provider']},{NOWHERE})"),
    "llm_provider_secrets": ("provider_id", f"in.({IDS['provider']})"),
    "gpt_monthly_usage": ("gpt_id", f"in.({IDS['gpt_a_private']},{NOWHERE})"),
    "chat_turns": ("id", f"in.({IDS['turn_a']},{NOWHERE})"),
    "gpt_versions": ("gpt_id", f"in.({IDS['gpt_a_private']},{NOWHERE})"),
    "usage_daily_teams": ("team_id", f"in.({TEAM_A},{NOWHERE})"),
    "usage_daily_gpts": ("team_id", f"in.({TEAM_A},{NOWHERE})"),
    "usage_daily_users": ("team_id", f"in.({TEAM_A},{NOWHERE})"),
    "usage_daily_totals": ("slot", "in.(0,15)"),
    "budgets": ("id", f"in.({IDS['budget_a']},{NOWHERE})"),
    "budget_alerts": ("id", f"in.({IDS['alert_a']},{NOWHERE})"),
}
# What every inserted row carries, so user_b's insert is one RLS refuses. Tables without an
# entry take no insert from user_b at all (no grant, or super admins / service_role only).
INSERT_GUARD: dict[str, dict[str, str]] = {
    "gpts": {"team_id": TEAM_A},
    "documents": {"team_id": TEAM_A},
    "team_invitations": {"team_id": TEAM_A},
    "chat_sessions": {"user_id": USERS["user_a"]},
    "chat_messages": {"session_id": IDS["session_a"]},
    "gpt_ratings": {"user_id": USERS["user_a"]},
    "chat_turns": {"user_id": USERS["user_a"]},
}
# /rpc arguments: ids user_b cannot act on (not the public GPT, nor team B's, nor user_b).
RPC_IDS = [
    IDS["gpt_a_private"], TEAM_A, USERS["user_a"], USERS["admin_a"], USERS["super_admin"], NOWHERE,
]  # fmt: skip
# log_action and record_gpt_refusal write an audit row for any signed-in caller: called only
# with GET (read only).
WRITING_FUNCTIONS = frozenset({"log_action", "record_gpt_refusal"})


PREFERENCES = st.sampled_from(
    ["return=representation", "return=minimal", "return=headers-only", "count=exact",
     "count=planned", "count=estimated", "resolution=merge-duplicates",
     "resolution=ignore-duplicates", "missing=default", "missing=null", "handling=strict",
     "handling=lenient", "max-affected=0", "max-affected=5", "tx=rollback", "tx=commit",
     "timezone=UTC", "timezone=Nowhere/Else"]
)  # fmt: skip
ODD_PREFERENCES = st.sampled_from(["max-affected=-1", "params=single-object", "nonsense", "="])
ACCEPTS = st.sampled_from(
    ["application/json", "application/vnd.pgrst.object+json", "text/csv", "*/*",
     "application/vnd.pgrst.object+json;nulls=stripped", "application/vnd.pgrst.array+json",
     "application/vnd.pgrst.array+json;nulls=stripped", "application/json;q=0, text/csv"]
)  # fmt: skip
ODD_ACCEPTS = st.sampled_from(
    [
        "application/openapi+json",
        "text/*",
        "application/xml",
        "image/png",
        ";",
        "application/json;q=abc",
        "*/*;q=0",
    ]
)
RANGES = st.sampled_from(["0-1", "items=0-9", "5-", "0-0", "1-1"])
ODD_RANGES = st.sampled_from(["10-2", "-1", "items=", "bytes=0-1", "a-b", "0-99999999999"])
ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@st.composite
def headers(draw: st.DrawFn, actor: str, world: World, junk: bool, reading: bool) -> dict[str, str]:
    """The actor's credentials and optional PostgREST headers (odd ones in junk requests)."""
    sent = dict(world.headers(actor))
    if junk:
        mangle = draw(st.sampled_from([None, None, "junk", "empty", "basic", "none"]))
        if mangle == "junk":
            sent["Authorization"] = "Bearer " + draw(ASCII)
        elif mangle == "empty":
            sent["Authorization"] = ""
        elif mangle == "basic":
            sent["Authorization"] = "Basic dXNlcjpwYXNz"
        elif mangle == "none":
            sent.pop("Authorization")
    prefer = PREFERENCES | ODD_PREFERENCES | ASCII if junk else PREFERENCES
    profiles = ["public"] + (["auth", "", "public,auth", "PUBLIC"] if junk else [])
    optional = {
        "Accept": ACCEPTS | ODD_ACCEPTS | ASCII if junk else ACCEPTS,
        "Prefer": st.lists(prefer, min_size=1, max_size=4).map(", ".join),
        # PostgREST reads Range on GET only; writes get one in junk requests
        "Range": RANGES | ODD_RANGES | ASCII if junk else (RANGES if reading else st.nothing()),
        "Range-Unit": st.sampled_from(["items", "bytes"]),
        "Accept-Profile": st.sampled_from(profiles),
        "Content-Profile": st.sampled_from(profiles),
        "Content-Type": st.sampled_from(["application/json", "text/csv", "text/plain"]),
    }
    for name, values in optional.items():
        if draw(st.integers(0, 2)) == 2 and not values.is_empty:
            sent[name] = draw(values)
    # HTTP/1.1 header values cannot start or end with whitespace
    return {name: value.strip() for name, value in sent.items()}


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20), GOOD_VALUES,
    st.sampled_from(["\x00", "x" * 5000]),
)  # fmt: skip
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
# Bodies that hold no JSON object where a row could be: never a row, whatever the table.
NO_ROWS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"", b"{", b"[", b"null", b"1", b'"x"', b"[[]]", b"[1,2]", b"\x00", b"\xff",
                     b"[1e400]", b"[123456789012345678901234567890]", b'"\\u0000"']),
    st.lists(st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2)), max_size=3).map(
        orjson.dumps
    ),
)  # fmt: skip


@st.composite
def rows(draw: st.DrawFn, v: Vocabulary, table: str, junk: bool) -> dict[str, Any]:
    """An object of the table's columns (others and junk too, in junk requests)."""
    keys = st.sampled_from(v.columns[table])
    if junk:
        keys = keys | IDENT | JUNK
    return draw(st.dictionaries(keys, JSON_VALUES, min_size=1, max_size=4))


@dataclass(frozen=True)
class Fuzzed:
    """One generated request."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def __str__(self) -> str:
        body = self.body[:300]
        return (
            f"{self.method} {self.path}?{self.query[:600]}\nheaders={self.headers}\nbody={body!r}"
        )


def encode(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in params)


RAW_QUERY = st.sampled_from(["&", "&&", "&=", "&a", "&%", "&%zz", "&a=b=c", "&%00=x"])


def route(path: str) -> tuple[str, str]:
    """What the server makes of a path after /rest/v1/: ("table" | "rpc" | "other", name)."""
    decoded = unquote(path).strip("/")
    name, _, rest = decoded.partition("/")
    if name == "rpc" and rest:
        return "rpc", rest
    if rest or not name:
        return "other", decoded
    return "table", name


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# /rpc values: ids user_b cannot act on, and no other uuid (hypothesis also draws string
# constants of the test modules, some of them ids of rows user_b may rate).
RPC_VALUES = st.one_of(
    st.sampled_from(RPC_IDS),
    st.integers(-10, 10),
    st.none(),
    st.booleans(),
    JUNK.filter(lambda text: not UUID.search(text)),
)


@st.composite
def paths(draw: st.DrawFn, v: Vocabulary, junk: bool) -> str:
    """A table most of the time; an /rpc function; in junk requests, names nobody knows."""
    # no dot segment (httpx would resolve it)
    unknown = st.one_of(IDENT, JUNK).filter(lambda name: name not in (".", ".."))
    functions = st.sampled_from(sorted(v.functions))
    choice = draw(st.integers(0, 9 if junk else 7))
    if choice < 7:
        return draw(st.sampled_from(v.tables))
    if choice == 7:
        return "rpc/" + draw(functions)
    if choice == 8:
        return draw(
            unknown.map(lambda name: quote(name, safe=""))
            | (functions | unknown).map(lambda name: "rpc/" + quote(name, safe=""))
        )
    return draw(st.sampled_from(["", "rpc", "rpc/", "gpts/", "/gpts", "gpts/x", "%2e%2e"]))


@st.composite
def requests(draw: st.DrawFn, v: Vocabulary, world: World) -> Fuzzed:
    junk = draw(st.integers(0, 3)) == 3
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "PATCH", "DELETE"]))
    path = draw(paths(v, junk))
    kind, name = route(path)
    if kind == "rpc" and method == "POST" and name in WRITING_FUNCTIONS:
        kind, name, path = "rpc", "no_such_function", "rpc/no_such_function"
    table = name if kind == "table" and name in v.columns else draw(st.sampled_from(v.tables))
    reading = method in ("GET", "HEAD")
    params = draw(parameters(v, table, junk, reading))
    actor = draw(st.sampled_from(READERS if reading else WRITERS))
    body = b""
    if kind == "rpc" and reading:
        arguments = v.functions.get(name, [])
        params += [
            (argument, draw(GOOD_VALUES | st.sampled_from(RPC_IDS))) for argument in arguments
        ]
        if junk:
            params += draw(
                st.lists(st.tuples(st.sampled_from([*arguments, "x"]), JUNK), max_size=2)
            )
    elif kind == "rpc" and method == "POST":
        arguments = st.sampled_from([*v.functions.get(name, []), "x"])
        call = st.dictionaries(arguments, RPC_VALUES, max_size=3).map(orjson.dumps)
        body = draw(call | NO_ROWS if junk else call)
    elif kind == "table" and name == table and method in ("PATCH", "DELETE"):
        params = [WRITE_GUARD[table], *params]
        if method == "PATCH":
            patch = rows(v, table, junk).map(orjson.dumps)
            body = draw(patch | NO_ROWS if junk else patch)
    elif kind == "table" and name == table and method == "POST":
        guard = INSERT_GUARD.get(table, {})
        params = [p for p in params if p[0] != "columns"]
        if guard and draw(st.booleans()):
            listed = draw(st.lists(st.sampled_from(v.columns[table]), max_size=3))
            params.append(("columns", ",".join(dict.fromkeys([*guard, *listed]))))
        if draw(st.integers(0, 3)) == 3:
            params.append(("on_conflict", draw(st.sampled_from(v.columns[table]))))
        guarded = rows(v, table, junk).map(lambda row: {**row, **guard})
        inserts = guarded.map(orjson.dumps) | st.lists(guarded, max_size=3).map(orjson.dumps)
        body = draw(inserts | NO_ROWS if junk else inserts)
    elif method in ("POST", "PATCH"):
        body = draw(NO_ROWS)
    while len(encode(params)) > 20_000:  # httpx refuses URLs over 64 KiB
        params.pop()
    query = encode(params) + (draw(RAW_QUERY) if junk and draw(st.booleans()) else "")
    return Fuzzed(method, path, query, draw(headers(actor, world, junk, reading)), body)
