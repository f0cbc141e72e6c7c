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

Nothing in the world may change: reads go as any actor; writes go only as anon or as
user_b, PATCH and DELETE always with a filter naming rows user_b may not change, inserts
always with a column that makes the row one user_b may not insert (team A's team, user_a as
owner), and /rpc calls never with ids user_b may act on. The last test checks, as the owner,
that every public row is as it was.

The examples are derandomized, so a run is repeatable; GPTDESK_FUZZ_EXAMPLES=<n> runs n
random ones instead.
"""

import asyncio
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import asyncpg
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptdesk.rest.ast import OPERATORS, QUANTIFIABLE
from gptdesk.rest.schema_cache import TYPE_ALIASES, SchemaCache, load_schema_cache
from tests.conftest import MigratedDatabase
from tests.rest.conftest import TEAM_A, TEAM_B, USERS, World
from tests.rest.test_rls_http import IDS, Snapshot, assert_unchanged, snapshot

_EXAMPLES = os.environ.get("GPTDESK_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_EXAMPLES or 300),
    derandomize=_EXAMPLES is None,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOWHERE = "00000000-0000-4000-8000-00000000dead"  # an id no row has
READERS = ("anon", "user_a", "admin_a", "user_b", "super_admin", "service_role")
WRITERS = ("anon", "user_b")
# Functions the SQL builder itself calls: a 42883 may name these (wrong argument types).
BUILDER_FUNCTIONS = frozenset(
    {"to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery"}
)

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
}
# /rpc arguments: ids user_b cannot act on (not the public GPT, nor team B's, nor user_b).
RPC_IDS = [
    IDS["gpt_a_private"], TEAM_A, USERS["user_a"], USERS["admin_a"], USERS["super_admin"], NOWHERE,
]  # fmt: skip
# log_action writes an audit row for any signed-in caller: called only with GET (read only).
WRITING_FUNCTIONS = frozenset({"log_action"})
# Bugs the fuzz found are pinned by the tests after it (reg* casts, PATCH `{}`, newlines
# in the path, POST /rpc without arguments, repeated keys in a spread).


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
def vocab(db: MigratedDatabase) -> "Vocabulary":
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
# Strategies: pieces of the PostgREST grammar. A quarter of the requests are "junk" ones,
# with odd names, characters and values anywhere; the rest are well formed, so that most
# reach PostgreSQL and the property is tested on the SQL the server builds.
# ---------------------------------------------------------------------------------------

SPECIAL = st.sampled_from(
    ['"', "'", "(", ")", ",", ".", ":", "::", "->", "->>", "!", "*", "\\", "\x00", "%", "&",
     "=", ";", "--", "/*", "$1", "{", "}", "[", "]", " ", "\t", "\n", "é", "😀", "\u202e",
     "\ufeff", "ß", "İ", "not.", "or(", "and(", "eq.", "in.(", "null", "select", "drop table"]
)  # fmt: skip
JUNK = st.one_of(
    st.text(max_size=12),
    st.lists(SPECIAL, min_size=1, max_size=6).map("".join),
    st.sampled_from([1000, 9000]).map(lambda n: "x" * n),
)
IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
CASTS = st.sampled_from(
    ["text", "int", "integer", "int4", "bigint", "smallint", "numeric", "decimal", "real",
     "double precision", "float", "json", "jsonb", "uuid", "boolean", "bool", "date",
     "timestamptz", "timestamp", "interval", "inet", "bytea", "tsvector", "tsquery", "money",
     "character varying", "char", "varchar", "user_role", "gpt_status", "void", "record",
     "anyelement", "cstring", "no_such_type", "TEXT"]
)  # fmt: skip
GOOD_VALUES = st.one_of(
    st.sampled_from(
        [*IDS.values(), NOWHERE, "null", "true", "false", "0", "-1", "1.5", "2024-01-01",
         "2024-01-01T00:00:00Z", "infinity", "{}", "[]", '{"a":1}', "[1,2]", "{a,b}", "a*",
         "*GPT*", "gpt-4", "Team A public GPT", "active", "user", "admin", "a & b", "team"]
    ),
    st.integers(-(10**6), 10**6).map(str),
    IDENT,
)  # fmt: skip
ODD_VALUES = st.one_of(
    st.sampled_from(
        ["unknown", "not_null", "-infinity", "NaN", "1e400", "99999999999999999999", "2024-13-45",
         "(a,b)", '"q"', "a & & b", "'", "%", "\\", "(", "{", "\x00"]
    ),
    st.integers().map(str),
    JUNK,
)  # fmt: skip
IS_VALUES = st.sampled_from(["null", "not_null", "true", "false", "unknown"])
TEXT_SEARCH = ("fts", "plfts", "phfts", "wfts")


def quoted(name: str) -> str:
    """A double-quoted identifier, with PostgREST's backslash escapes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Vocabulary:
    """The names the fuzz may use, from the schema cache."""

    tables: list[str]
    columns: dict[str, list[str]]
    json_columns: dict[str, list[str]]
    all_columns: list[str]
    related: dict[str, list[str]]  # the tables each table can embed
    hints: dict[tuple[str, str], list[str]]  # (table, embedded): what `!hint` may name
    relations: list[str]
    functions: dict[str, list[str]]  # the argument names of each function's overloads
    types: frozenset[str]  # what a `::cast` may name
    configs: frozenset[str]  # text search configurations


def vocabulary(cache: SchemaCache) -> Vocabulary:
    columns = {name: list(table.columns) for name, table in cache.tables.items()}
    json_columns = {
        name: [c.name for c in table.columns.values() if c.type_name in ("json", "jsonb")]
        for name, table in cache.tables.items()
    }
    related: dict[str, set[str]] = {name: set() for name in cache.tables}
    hints: dict[tuple[str, str], set[str]] = {}
    for fk in cache.foreign_keys:
        related[fk.table].add(fk.foreign_table)
        related[fk.foreign_table].add(fk.table)
        for pair in ((fk.table, fk.foreign_table), (fk.foreign_table, fk.table)):
            hints.setdefault(pair, set()).update({fk.name, *fk.columns})
    functions = {
        name: [arg for function in overloads for arg in function.arg_names if arg]
        for name, overloads in cache.functions.items()
    }
    return Vocabulary(
        sorted(cache.tables),
        columns,
        json_columns,
        sorted({column for names in columns.values() for column in names}),
        {name: sorted(found) for name, found in related.items()},
        {pair: sorted(found) for pair, found in hints.items()},
        sorted({*cache.tables, *(h for found in hints.values() for h in found)}),
        functions,
        frozenset(cache.types),
        cache.text_search_configs,
    )


def word(words: list[str], junk: bool) -> st.SearchStrategy[str]:
    """One of `words`; in a junk request, sometimes anything at all, bare or quoted."""
    known = st.sampled_from(words)
    if not junk:
        return st.one_of(known, known.map(quoted)) if words else IDENT
    odd = st.one_of(IDENT, JUNK)
    return st.one_of(known, odd, st.one_of(known, odd).map(quoted))


@st.composite
def fields(draw: st.DrawFn, v: Vocabulary, table: str, junk: bool) -> str:
    """`col`, or for a json column (any column, in junk) `col->key->>key`."""
    column = draw(word(v.columns[table], junk))
    json = junk or column in v.json_columns[table]
    steps = draw(st.integers(0, 3 if json else 0))
    for _ in range(steps):
        key = draw(st.one_of(IDENT, st.integers(-2, 5).map(str), *([JUNK] if junk else [])))
        column += draw(st.sampled_from(["->", "->>"])) + key
    return column


@st.composite
def select_lists(
    draw: st.DrawFn,
    v: Vocabulary,
    table: str,
    junk: bool,
    depth: int = 0,
    embeds: list[str] | None = None,
) -> str:
    """`select=`: stars, fields, aliases, casts and embeds (aliased, hinted, inner, spread).

    `embeds` collects the names the top level's embeds go by (for their filters and order).
    """
    items = []
    kinds = ["*", "field", "field", "alias", "cast", "embed", "embed"] + (["junk"] if junk else [])
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=4)):
        if kind == "embed" and depth < 3:
            targets = v.related[table] or v.tables
            target = draw(st.sampled_from(targets) if not junk else word(v.relations, True))
            child = target if target in v.columns else table
            hints = v.hints.get((table, child)) or ["no_such_key"]
            modifier = draw(
                st.sampled_from(["", "", "!inner", "!left"])
                | st.sampled_from(hints).map(lambda hint: "!" + hint)
            )
            prefix = draw(st.sampled_from(["", "", "", "other:", "..."]))
            inner = draw(select_lists(v, child, junk, depth + 1))
            items.append(f"{prefix}{target}{modifier}({inner})")
            if embeds is not None and target in v.columns and prefix != "...":
                embeds.append("other" if prefix else target)
        elif kind == "*":
            items.append("*")
        elif kind == "junk":
            items.append(draw(JUNK))
        else:
            item = draw(fields(v, table, junk))
            if kind == "alias":
                item = draw(IDENT) + ":" + item
            if kind == "cast":
                item += "::" + draw(CASTS)
            items.append(item)
    return ",".join(items)


@st.composite
def operations(draw: st.DrawFn, junk: bool) -> str:
    """`[not.]op[(any|all)|(config)].value` with a value that fits the operator's shape."""
    values = st.one_of(GOOD_VALUES, ODD_VALUES) if junk else GOOD_VALUES
    operator = draw(st.sampled_from(sorted(OPERATORS)) | (IDENT if junk else st.nothing()))
    negated = draw(st.sampled_from(["", "", "not."]))
    items = st.lists(values, max_size=3).map(",".join)
    if operator == "in":
        value = draw(items.map(lambda inner: f"({inner})"))
    elif operator == "is":
        value = draw(IS_VALUES | (values if junk else st.nothing()))
    elif operator in QUANTIFIABLE and draw(st.booleans()):
        operator += draw(st.sampled_from(["(any)", "(all)"]))
        value = draw(items.map(lambda inner: "{" + inner + "}"))
    elif operator in TEXT_SEARCH and draw(st.booleans()):
        operator += draw(st.sampled_from(["(english)", "(simple)", "(no_such_config)"]))
        value = draw(values)
    else:
        value = draw(values)
    if junk and draw(st.integers(0, 4)) == 4:
        value = draw(JUNK)
    return f"{negated}{operator}.{value}"


@st.composite
def logic_trees(draw: st.DrawFn, v: Vocabulary, table: str, junk: bool, depth: int = 0) -> str:
    """The inside of `or=(…)`: `col.op.value` conditions and nested `and(…)`, `not.or(…)`."""
    children = []
    for _ in range(draw(st.integers(1 if not junk else 0, 3))):
        if depth < 3 and draw(st.integers(0, 3)) == 3:
            operator = draw(st.sampled_from(["and", "or", "not.and", "not.or"]))
            children.append(f"{operator}({draw(logic_trees(v, table, junk, depth + 1))})")
        elif junk and draw(st.integers(0, 3)) == 3:
            children.append(draw(JUNK))
        else:
            children.append(f"{draw(fields(v, table, junk))}.{draw(operations(junk))}")
    return ",".join(children)


@st.composite
def orders(draw: st.DrawFn, v: Vocabulary, table: str, junk: bool) -> str:
    """`order=col.desc.nullslast,rel(col).asc`."""
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        direction = draw(st.sampled_from(["", ".asc", ".desc", ".nullsfirst", ".desc.nullslast"]))
        if v.related[table] and draw(st.integers(0, 3)) == 3:
            other = draw(st.sampled_from(v.related[table]))
            terms.append(f"{other}({draw(fields(v, other, junk))}){direction}")
        else:
            terms.append(draw(fields(v, table, junk)) + direction)
        if junk and draw(st.integers(0, 3)) == 3:
            terms[-1] = draw(JUNK)
    return ",".join(terms)


@st.composite
def parameters(
    draw: st.DrawFn, v: Vocabulary, table: str, junk: bool, reading: bool
) -> list[tuple[str, str]]:
    """Query parameters for `table`: select, filters, logic, order, paging (and junk)."""
    numbers = st.integers(0, 50).map(str)
    if junk:
        numbers = numbers | st.sampled_from(["-1", "", "1.5", "0x10", "99999999999999999999"])
    found: list[tuple[str, str]] = []
    embeds: list[str] = []  # the names the select's top-level embeds go by
    if draw(st.integers(0, 3)) > 0:
        found.append(("select", draw(select_lists(v, table, junk, embeds=embeds))))
    kinds = ["filter", "filter", "filter", "logic", "order"]
    kinds += ["page"] if reading or junk else []
    kinds += ["embedded"] * 2 if (reading and embeds) or junk else []
    kinds += ["select", "junk"] if junk else []
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=4)):
        if kind == "select":
            found.append(("select", draw(select_lists(v, table, junk))))
        elif kind == "filter":
            found.append((draw(fields(v, table, junk)), draw(operations(junk))))
        elif kind == "logic":
            key = draw(st.sampled_from(["or", "and", "not.or", "not.and"]))
            found.append((key, f"({draw(logic_trees(v, table, junk))})"))
        elif kind == "order":
            found.append(("order", draw(orders(v, table, junk))))
        elif kind == "page":
            found.append((draw(st.sampled_from(["limit", "offset"])), draw(numbers)))
        elif kind == "embedded":  # a filter, order or page of an embed
            name = draw(st.sampled_from(embeds or v.related[table] or [table]))
            other = name if name in v.columns else draw(st.sampled_from(v.tables))
            suffix = draw(st.sampled_from(["filter", "filter", "or", "order", "limit", "offset"]))
            if suffix == "filter":
                found.append((f"{name}.{draw(fields(v, other, junk))}", draw(operations(junk))))
            elif suffix == "or":
                found.append((f"{name}.or", f"({draw(logic_trees(v, other, junk))})"))
            elif suffix == "order":
                found.append((f"{name}.order", draw(orders(v, other, junk))))
            else:
                found.append((f"{name}.{suffix}", draw(numbers)))
        else:
            found.append((draw(JUNK), draw(JUNK)))
    return found


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
# Known answers, and the world after the fuzz.
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
