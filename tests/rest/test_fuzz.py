"""Fuzzing /rest/v1: query strings, headers, methods and bodies built from PostgREST's grammar.

Every generated request goes to the live server, and every answer must hold to:

* no 5xx;
* an error is PostgREST's JSON body with exactly `code`, `details`, `hint`, `message` (a
  HEAD's has no body; `Proxy-Status` names the code), and a success with a JSON media type
  parses as JSON;
* no raw SQL syntax error (42601, or a message starting "syntax error") — except PostgreSQL's
  "syntax error in tsquery", which is about a full-text search value, not the statement;
* nothing outside the schema cache reached PostgreSQL: an unknown table or function is
  refused before any SQL (a `PGRST…` code, never a SQLSTATE), 42P01 never appears, 42703
  is only the planner's `column <table>.<column> does not exist` for a table the cache
  knows and a column it does not, 42704 names a type or text search configuration the
  cache does not know, and 42883 names only an operator, a function the SQL builder itself
  calls, or an exposed function.

Nothing in the world may change (tests/rest/fuzz_strategies.py keeps the writes from
changing it; tests/rest/fuzz_grammar.py builds the query strings). After the property come
pinned answers to bugs it found, and last, the owner checks that every public row is as it
was.

The examples are derandomized, so a run is repeatable; GPTDESK_FUZZ_EXAMPLES=<n> runs n
random ones instead.
"""

import asyncio
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptdesk.rest.schema_cache import TYPE_ALIASES, load_schema_cache
from tests.conftest import MigratedDatabase
from tests.rest.fuzz_grammar import NOWHERE, Vocabulary, vocabulary
from tests.rest.fuzz_strategies import Fuzzed, requests, route
from tests.rest.snapshots import IDS, Snapshot, assert_unchanged, snapshot
from tests.rest.world import TEAM_B, World

_EXAMPLES = os.environ.get("GPTDESK_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_EXAMPLES or 300),
    derandomize=_EXAMPLES is None,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Functions the SQL builder itself calls: a 42883 may name these (wrong argument types).
BUILDER_FUNCTIONS = frozenset(
    {"to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery"}
)


# ---------------------------------------------------------------------------------------
# Fixtures: the schema cache (what is "known") and the world as it was before the fuzz.
# ---------------------------------------------------------------------------------------


def _as_owner(db: MigratedDatabase, work: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(db.admin_dsn)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def vocab(db: MigratedDatabase) -> Vocabulary:
    """The names the fuzz draws from and checks against: the schema cache's, as the server
    loads it."""
    return vocabulary(_as_owner(db, load_schema_cache))


@pytest.fixture(scope="module")
def before(db: MigratedDatabase, world: World) -> Snapshot:
    """Every public row before the fuzz."""
    return _as_owner(db, snapshot)


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    """A client for whole URLs (the fuzz writes its own query strings)."""
    with httpx.Client(base_url=world.server.url, timeout=30.0) as client:
        yield client


# ---------------------------------------------------------------------------------------
# The property.
# ---------------------------------------------------------------------------------------

_PLANNER_42703 = re.compile(r"column (?P<table>[^.]+)\.(?P<column>.*) does not exist", re.S)
_UNDEFINED_42704 = re.compile(
    r'(?P<what>type|text search configuration) "(?P<name>.*)" does not exist', re.S
)
_FUNCTION_42883 = re.compile(r"function (?:public\.)?(?P<name>\w+)\(")


def _known_type(v: Vocabulary, name: str) -> bool:
    key = name.strip().lower()
    return TYPE_ALIASES.get(key, key) in v.types


def check_error(code: str, message: str | None, v: Vocabulary, request: Fuzzed) -> None:
    """No raw SQL syntax error; nothing outside the schema cache named to PostgreSQL."""
    where = f"{code} {message!r} for\n{request}"
    kind, name = route(request.path)
    known = {"table": v.columns, "rpc": v.functions}.get(kind)
    if (known is not None and name not in known) or (kind == "other" and name):
        # no SQL runs for a path or name the cache does not know
        assert code.startswith("PGRST"), f"an unknown {kind} reached PostgreSQL: {where}"
    text = message or ""
    tsquery = text.startswith("syntax error in tsquery")
    assert code != "42601" or tsquery, f"raw SQL syntax error: {where}"
    assert not text.lower().startswith("syntax error") or tsquery, f"raw syntax error: {where}"
    assert code not in ("42P01", "42602", "42P02", "42702"), f"PostgreSQL resolved a name: {where}"
    if code == "42703" and message is not None:
        found = _PLANNER_42703.fullmatch(message)
        assert found, f"42703 not from the planner: {where}"
        columns = v.columns.get(found["table"])
        assert columns is not None, f"42703 names a table the cache does not know: {where}"
        assert found["column"] not in columns, f"42703 for a known column: {where}"
    if code == "42704" and message is not None:
        found = _UNDEFINED_42704.fullmatch(message)
        assert found, f"42704 not from the planner: {where}"
        known = (
            _known_type(v, found["name"]) if found["what"] == "type" else found["name"] in v.configs
        )
        assert not known, f"42704 for something the cache knows: {where}"
    if code == "42883" and message is not None and not message.startswith("operator does not"):
        found = _FUNCTION_42883.match(message)
        assert found, f"42883 not about an operator or function: {where}"
        allowed = BUILDER_FUNCTIONS | set(v.functions)
        assert found["name"] in allowed, f"42883 names a function nobody chose: {where}"


def check(response: httpx.Response, request: Fuzzed, v: Vocabulary) -> None:
    """The property every answer must hold to."""
    status = response.status_code
    where = f"{status} {response.text[:500]!r} for\n{request}"
    assert status < 500, f"server error: {where}"
    content_type = response.headers.get("content-type", "")
    if status < 400:
        json_like = content_type.startswith(("application/json", "application/vnd.pgrst"))
        if json_like and request.method != "HEAD" and response.content:
            orjson.loads(response.content)
        return
    if request.method == "HEAD":
        assert response.content == b"", f"HEAD with a body: {where}"
        proxy = response.headers.get("proxy-status", "")
        assert proxy.startswith("PostgREST; error="), f"no Proxy-Status: {where}"
        check_error(proxy.split("=", 1)[1], None, v, request)
        return
    assert content_type.startswith("application/json"), f"error not JSON: {where}"
    body = orjson.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"code", "details", "hint", "message"}, where
    assert isinstance(body["code"], str) and isinstance(body["message"], str), where
    check_error(body["code"], body["message"], v, request)


def send(http: httpx.Client, request: Fuzzed) -> httpx.Response:
    url = f"/rest/v1/{request.path}" + (f"?{request.query}" if request.query else "")
    return http.request(request.method, url, headers=request.headers, content=request.body)


@FUZZ
@given(data=st.data())
def test_fuzzed_requests_hold_the_property(
    data: st.DataObject,
    http: httpx.Client,
    world: World,
    vocab: Vocabulary,
    before: Snapshot,
) -> None:
    # The schema cache is not an argument itself: with it as one, hypothesis reported the
    # failures it found as FlakyStrategyDefinition instead of shrinking them.
    request = data.draw(requests(vocab, world), label="request")
    check(send(http, request), request, vocab)


# ---------------------------------------------------------------------------------------
# Known answers, and the world after the fuzz. Bugs the fuzz found are pinned here (reg*
# casts, PATCH `{}`, newlines in the path, POST /rpc without arguments, repeated keys in a
# spread); they stay in this module so that the last test's check covers them too.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "code"),
    [
        ("no_such_table", "select=id", "PGRST205"),
        ("gpts", "select=id,no_such_column", "42703"),
        ("gpts", "no_such_column=eq.1", "42703"),
        ("gpts", "select=id&order=no_such_column", "42703"),
        ("gpts", "select=id,name::no_such_type", "42704"),
        ("gpts", "name=fts(no_such_config).x", "42704"),
        ("rpc/no_such_function", "", "PGRST202"),
        ("gpts", "select=id,no_such_table(id)", "PGRST200"),
    ],
)
def test_unknown_names_are_refused_by_the_planner(
    path: str, query: str, code: str, http: httpx.Client, world: World, vocab: Vocabulary
) -> None:
    request = Fuzzed("GET", path, query, dict(world.headers("user_b")), b"")
    response = send(http, request)
    assert error_code(response) == code, response.text
    check(response, request, vocab)


def error_code(response: httpx.Response) -> str | None:
    body = response.json()
    return body.get("code") if isinstance(body, dict) else None


@pytest.mark.parametrize(
    "query",
    [
        "select=model::regclass",
        "select=name::regtype",
    ],
)
def test_reg_casts(query: str, http: httpx.Client, world: World, vocab: Vocabulary) -> None:
    """A cast to an OID alias type (regclass, regtype, regproc, …) would turn row values into
    catalog names PostgreSQL resolves and parses, past the schema cache: not a cast type."""
    assert not any(name.startswith("reg") for name in vocab.types)
    world_gpt = f"id=in.({IDS['gpt_a_public']},{IDS['gpt_b_private']})"  # the rows it reads
    request = Fuzzed("GET", "gpts", f"{query}&{world_gpt}", dict(world.headers("user_b")), b"")
    response = send(http, request)
    check(response, request, vocab)
    assert error_code(response) == "42704", response.text


@pytest.mark.parametrize("prefer", ["return=minimal", "return=representation"])
def test_patch_with_empty_object(
    prefer: str, http: httpx.Client, world: World, vocab: Vocabulary
) -> None:
    """`PATCH {}` sets nothing and changes nothing: 204, or `[]` with a representation."""
    headers = {**world.headers("user_b"), "Prefer": prefer}
    request = Fuzzed("PATCH", "gpts", f"id=eq.{NOWHERE}", headers, b"{}")
    response = send(http, request)
    check(response, request, vocab)
    assert response.status_code in (200, 204), response.text


@pytest.mark.parametrize("path", ["no%0Asuch", "gpts%0A", "%0A"])
def test_newline_in_path(path: str, http: httpx.Client, world: World, vocab: Vocabulary) -> None:
    """A table name with a newline is a name the cache does not know: 404 PGRST205."""
    request = Fuzzed("GET", path, "select=id", dict(world.headers("user_b")), b"")
    response = send(http, request)
    check(response, request, vocab)
    assert error_code(response) == "PGRST205", response.text


@pytest.mark.parametrize("body", [b"", b"{}"])
def test_post_rpc_without_arguments(
    body: bytes, http: httpx.Client, world: World, vocab: Vocabulary
) -> None:
    """request_user_agent() takes no argument and nobody may call it: 403 42501."""
    assert vocab.functions["request_user_agent"] == []
    headers = dict(world.headers("service_role"))
    request = Fuzzed("POST", "rpc/request_user_agent", "", headers, body)
    response = send(http, request)
    check(response, request, vocab)
    assert (response.status_code, error_code(response)) == (403, "42501"), response.text


@pytest.mark.parametrize(
    "select", ["id,...users(id,id)", "id,...users(*,email)", "...users(k:email,k:id)"]
)
def test_spread_with_repeated_key(
    select: str, http: httpx.Client, world: World, vocab: Vocabulary
) -> None:
    """A repeated key in a spread is answered as at the top level (JSON with both keys)."""
    request = Fuzzed(
        "GET", "documents", f"select={quote(select)}", dict(world.headers("user_a")), b""
    )
    response = send(http, request)
    check(response, request, vocab)
    assert response.status_code == 200, response.text


# Writes that succeed are not fuzzed (the world must not change), so their responses are
# checked here over a fixed matrix of Accept and Prefer headers: user_b inserts a GPT into team B,
# renames it and deletes it, and the owner removes whatever is left.
SUCCESSFUL_WRITES = [
    (accept, prefer)
    for accept in [
        "application/json",
        "text/csv",
        "application/vnd.pgrst.object+json",
        "application/vnd.pgrst.object+json;nulls=stripped",
    ]
    for prefer in [
        "return=minimal",
        "return=representation",
        "return=headers-only",
        "return=representation, count=exact",
        "return=headers-only, count=exact",
        "resolution=merge-duplicates, return=representation",
        "return=representation, max-affected=0, handling=strict",
    ]
]


@pytest.mark.parametrize(("accept", "prefer"), SUCCESSFUL_WRITES)
def test_successful_writes_hold_the_property(
    accept: str,
    prefer: str,
    http: httpx.Client,
    world: World,
    vocab: Vocabulary,
    db: MigratedDatabase,
) -> None:
    headers = {**world.headers("user_b"), "Accept": accept, "Prefer": prefer}
    name = f"fuzz probe {accept} {prefer}"
    body = orjson.dumps({"name": name, "team_id": TEAM_B})
    by_name = f"name=eq.{quote(name, safe='')}"
    requests_ = [
        Fuzzed("POST", "gpts", "select=id,name,teams(name)", headers, body),
        Fuzzed("PATCH", "gpts", by_name, headers, orjson.dumps({"description": "renamed"})),
        Fuzzed("DELETE", "gpts", by_name, headers, b""),
    ]
    try:
        for request in requests_:
            check(send(http, request), request, vocab)
    finally:

        async def clean(conn: asyncpg.Connection) -> None:
            await conn.execute("delete from public.gpts where name = $1", name)

        _as_owner(db, clean)


def test_world_unchanged_after_the_fuzz(
    db: MigratedDatabase, world: World, before: Snapshot
) -> None:
    """Last: every public row is as it was before the fuzz."""

    async def compare(conn: asyncpg.Connection) -> None:
        await assert_unchanged(conn, world, before)

    _as_owner(db, compare)
