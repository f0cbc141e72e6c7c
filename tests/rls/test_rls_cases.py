"""The RLS case table: every statement of cases.yaml run as every actor through the request scope.

The world (world.sql) is loaded once for this module by the owner and removed afterwards
(world_teardown.sql). Each case opens `scope.as_claims(actor's claims)`, runs its one
statement, notes the outcome and raises a private sentinel so the scope rolls back: cases
never see each other's changes. The file's format is documented at the top of cases.yaml.
"""

import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import yaml

from gptdesk.db.scope import Scope

HERE = Path(__file__).parent
OPS = ("select", "insert", "update", "delete")
OUTCOMES = ("allowed", "denied")
INSUFFICIENT_PRIVILEGE = "42501"
# SQLSTATEs a statement may name in `expect_error` to have them count as denied too.
EXTRA_DENIALS = {
    "23514": "check_violation",
    "PT403": "a governance function refusing the caller (PostgREST answers 403)",
}
STATEMENT_KEYS = {"name", "op", "sql", "expect", "expect_error"}
# `:name` binds a parameter; `::type` (a cast) and `:` inside a word do not.
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_TRAILING_COUNT = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class Case:
    """One statement of the table, run as one actor, with the outcome it must have."""

    table: str
    name: str
    op: str
    sql: str
    actor: str
    expect: str
    denied_by: frozenset[str] = frozenset({INSUFFICIENT_PRIVILEGE})

    @property
    def id(self) -> str:
        return f"{self.table}:{self.name}:{self.actor}"


@dataclass(frozen=True)
class CaseTable:
    """cases.yaml, parsed and checked for shape."""

    actors: Mapping[str, Mapping[str, Any]]
    ids: Mapping[str, uuid.UUID]
    cases: list[Case]
    ops_by_table: Mapping[str, set[str]]


def load_case_table(path: Path = HERE / "cases.yaml") -> CaseTable:
    """Read the case table; refuse unknown ops, outcomes, actors or placeholders."""
    data = yaml.safe_load(path.read_text())
    actors = {name: spec["claims"] for name, spec in data["actors"].items()}
    ids = {name: uuid.UUID(str(value)) for name, value in data["ids"].items()}
    known = {*ids, "actor"}
    cases: list[Case] = []
    ops_by_table: dict[str, set[str]] = {}
    for table, statements in data["tables"].items():
        names: set[str] = set()
        for statement in statements:
            name, op, sql = statement["name"], statement["op"], statement["sql"]
            where = f"{table}: {name!r}"
            if name in names:
                raise ValueError(f"{where} appears twice")
            stray = set(statement) - STATEMENT_KEYS
            if stray:
                raise ValueError(f"{where}: unknown keys {sorted(stray)}")
            names.add(name)
            if op not in OPS:
                raise ValueError(f"{where}: op {op!r} is not one of {OPS}")
            unknown = set(_PLACEHOLDER.findall(sql)) - known
            if unknown:
                raise ValueError(f"{where}: unknown placeholders {sorted(unknown)}")
            denied_by = {INSUFFICIENT_PRIVILEGE}
            if "expect_error" in statement:
                code = statement["expect_error"]
                if code not in EXTRA_DENIALS:  # a bare 23514 is read as a number: quote it
                    raise ValueError(
                        f"{where}: expect_error {code!r} is not one of {sorted(EXTRA_DENIALS)}"
                    )
                denied_by.add(code)
            expect = statement["expect"]
            if set(expect) != set(actors):
                raise ValueError(f"{where}: expect must name exactly the actors {sorted(actors)}")
            for actor, outcome in expect.items():
                if outcome not in OUTCOMES:
                    raise ValueError(f"{where}: {actor} expects {outcome!r}, not one of {OUTCOMES}")
                cases.append(Case(table, name, op, sql, actor, outcome, frozenset(denied_by)))
            ops_by_table.setdefault(table, set()).add(op)
    return CaseTable(actors, ids, cases, ops_by_table)


def bind(sql: str, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Turn `:name` placeholders into $1-style parameters, one per distinct name."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _PLACEHOLDER.sub(number, sql), [values[name] for name in order]


TABLE = load_case_table()


class _RollBack(Exception):
    """Raised at the end of every case so the request scope rolls its transaction back."""


@dataclass(frozen=True)
class Observed:
    """What a statement did: its outcome as the case table counts it, and the evidence."""

    outcome: str
    evidence: str


async def observe(
    conn: asyncpg.Connection,
    op: str,
    sql: str,
    args: list[Any],
    denied_by: frozenset[str] = frozenset({INSUFFICIENT_PRIVILEGE}),
) -> Observed:
    """Run one statement and classify what happened (see the outcomes in cases.yaml).

    An error counts as denied when its SQLSTATE is in `denied_by`: 42501, plus whatever the
    statement's `expect_error` names; any other error fails the case.
    """
    try:
        if op == "select":
            rows = await conn.fetch(sql, *args)
            return Observed("allowed" if rows else "denied", f"{len(rows)} row(s)")
        status = await conn.execute(sql, *args)
    except asyncpg.PostgresError as exc:
        if exc.sqlstate in denied_by:
            return Observed("denied", f"{exc.sqlstate}: {exc}")
        raise
    found = _TRAILING_COUNT.search(status)
    count = int(found.group(1)) if found else -1
    if op == "insert":
        return Observed("allowed" if count >= 1 else "unexpected", status)
    return Observed({1: "allowed", 0: "denied"}.get(count, "unexpected"), status)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(db: Any) -> AsyncIterator[None]:
    """The world of world.sql, loaded by the owner for this module and removed after it."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        await conn.execute((HERE / "world.sql").read_text())
        yield
        await conn.execute((HERE / "world_teardown.sql").read_text())
    finally:
        await conn.close()


@pytest.mark.parametrize("case", TABLE.cases, ids=[case.id for case in TABLE.cases])
async def test_rls_case(case: Case, world: None, scope: Scope) -> None:
    claims = TABLE.actors[case.actor]
    sub = claims.get("sub")
    sql, args = bind(case.sql, {**TABLE.ids, "actor": uuid.UUID(sub) if sub else None})
    observed: Observed | None = None
    try:
        async with scope.as_claims(claims) as conn:
            observed = await observe(conn, case.op, sql, args, case.denied_by)
            raise _RollBack
    except _RollBack:
        pass
    assert observed is not None
    assert observed.outcome == case.expect, (
        f"{case.actor} {case.op} on {case.table} ({case.name}): expected {case.expect}, "
        f"got {observed.outcome} ({observed.evidence})"
    )


async def test_every_table_has_every_operation(db: Any) -> None:
    """The table covers every public table (and nothing else) for all four operations."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        tables = {
            row["relname"]
            for row in await conn.fetch(
                "select c.relname from pg_catalog.pg_class c "
                "where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') "
                "and c.relname <> 'schema_migrations'"
            )
        }
    finally:
        await conn.close()
    assert set(TABLE.ops_by_table) == tables
    missing = {t: sorted(set(OPS) - ops) for t, ops in TABLE.ops_by_table.items() if set(OPS) - ops}
    assert not missing, f"operations without a case: {missing}"


async def test_every_public_table_has_row_level_security(db: Any) -> None:
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        unprotected = await conn.fetch(
            "select c.relname from pg_catalog.pg_class c "
            "where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') "
            "and not c.relrowsecurity"
        )
    finally:
        await conn.close()
    assert [row["relname"] for row in unprotected] == []


def test_placeholders_skip_casts() -> None:
    sql, args = bind("select :a::uuid, :b, :a", {"a": 1, "b": 2})
    assert (sql, args) == ("select $1::uuid, $2, $1", [1, 2])
