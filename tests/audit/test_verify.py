"""`gptdesk audit verify` against copies of a real trail: untouched, then tampered with by the
owner (who can switch the refusing trigger off) in each way a trail can be forged, and after
purges. Every break must fail the command (exit 1) and name the row where it shows, and
nothing else.

The cases are a table: each tampers with its own copy of the template and says which problem
lines verify must print. Each copy is verified by the command's own work
(gptdesk.audit.commands.run_verify, printing what the command prints), and the command is
run as a process on an intact and a broken one, for its output and exit code; starting a
process per case would cost seconds each.
"""

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from gptdesk.audit.commands import run_verify
from tests.audit.conftest import (
    OLD_ROWS,
    TRAIL_ROWS,
    chain_rows,
    copy_database,
    gptdesk_audit,
    name_of,
)
from tests.conftest import MigratedDatabase, drop_database


async def tamper(conn: asyncpg.Connection, *statements: str) -> None:
    """Run `statements` as the owner with the audit triggers switched off, in one transaction."""
    async with conn.transaction():
        await conn.execute("alter table public.audit_logs disable trigger refuse_change")
        await conn.execute("alter table public.audit_logs disable trigger chain_row")
        await conn.execute("alter table public.audit_logs disable trigger record_subjects")
        for statement in statements:
            await conn.execute(statement)
        await conn.execute("alter table public.audit_logs enable trigger record_subjects")
        await conn.execute("alter table public.audit_logs enable trigger chain_row")
        await conn.execute("alter table public.audit_logs enable trigger refuse_change")


def does_not_follow(seq: int, row_id: str) -> str:
    return (
        f"out_of_order: row {seq} ({row_id}) does not follow the row before it: "
        "a row was deleted, inserted or moved here"
    )


def edited(seq: int, row_id: str) -> str:
    return f"edited: row {seq} ({row_id}) was changed after it was written"


# Each case changes its copy and returns the problem lines verify must print (none: intact).
Case = Callable[[asyncpg.Connection], Awaitable[list[str]]]


async def untouched(conn: asyncpg.Connection) -> list[str]:
    """Rows 1 to TRAIL_ROWS: read in numeric order (as text, '10' would come before '2')."""
    return []


async def edited_details(conn: asyncpg.Connection) -> list[str]:
    target = (await chain_rows(conn, "action = 'probe.noted'"))[1]
    await tamper(
        conn,
        'update public.audit_logs set details = details || \'{"note": "nothing to see"}\' '
        f"where seq = {target['seq']}",
    )
    return [edited(target["seq"], target["id"])]


async def edited_and_rehashed(conn: asyncpg.Connection) -> list[str]:
    """A forger who rehashes the row with audit.row_hash still breaks the next row's link."""
    rows = await chain_rows(conn)
    seq = rows[4]["seq"]
    await tamper(
        conn,
        f"update public.audit_logs set user_agent = 'forged' where seq = {seq}",
        f"update public.audit_logs a set hash = audit.row_hash(a) where seq = {seq}",
    )
    return [does_not_follow(seq + 1, rows[5]["id"])]


async def middle_row_deleted(conn: asyncpg.Connection) -> list[str]:
    seq = (await chain_rows(conn))[4]["seq"]
    await tamper(conn, f"delete from public.audit_logs where seq = {seq}")
    return [f"missing: row(s) {seq} before row {seq + 1} were deleted"]


async def rows_deleted_together(conn: asyncpg.Connection) -> list[str]:
    await tamper(conn, "delete from public.audit_logs where seq between 2 and 4")
    return ["missing: row(s) 2 to 4 before row 5 were deleted"]


async def last_rows_deleted(conn: asyncpg.Connection) -> list[str]:
    last = (await chain_rows(conn))[-1]["seq"]
    await tamper(conn, f"delete from public.audit_logs where seq >= {last - 1}")
    return [f"truncated: rows {last - 1} to {last} at the end of the chain were deleted"]


async def last_row_deleted_head_rewound(conn: asyncpg.Connection) -> list[str]:
    """The head's seq moved back too: the kept last row is not the hash the head holds."""
    last = (await chain_rows(conn))[-1]["seq"]
    await tamper(
        conn,
        f"delete from public.audit_logs where seq = {last}",
        "update audit.chain_head set seq = seq - 1",
    )
    return [f"edited: the last row ({last - 1}) is not the one the chain head recorded"]


async def rows_swapped(conn: asyncpg.Connection) -> list[str]:
    rows = await chain_rows(conn)
    first, second = rows[3], rows[4]
    a, b = first["seq"], second["seq"]
    await tamper(
        conn,
        f"update public.audit_logs set seq = -1 where seq = {a}",
        f"update public.audit_logs set seq = {a} where seq = {b}",
        f"update public.audit_logs set seq = {b} where seq = -1",
    )
    return [
        does_not_follow(a, second["id"]),
        edited(a, second["id"]),
        does_not_follow(b, first["id"]),
        edited(b, first["id"]),
        does_not_follow(b + 1, rows[5]["id"]),  # its link still names the row that was fifth
    ]


async def forged_row_appended(conn: asyncpg.Connection) -> list[str]:
    """Chained and hashed as the trigger would, but the head still ends before it."""
    head = await conn.fetchrow("select seq, hash from audit.chain_head")
    await tamper(
        conn,
        "insert into public.audit_logs (seq, prev_hash, hash, action, resource_type) "
        f"values ({head['seq'] + 1}, '{head['hash']}', '', 'gpt.approved', 'gpt')",
        f"update public.audit_logs a set hash = audit.row_hash(a) where seq = {head['seq'] + 1}",
    )
    return [f"out_of_order: rows after {head['seq']}, the last the chain head recorded, were added"]


async def forged_row_inserted(conn: asyncpg.Connection) -> list[str]:
    """Room made mid-chain by renumbering the rows after it; the forged row itself and the
    head are set as the trigger would, so only the renumbered rows show it."""
    rows = await chain_rows(conn)
    at = rows[3]["seq"]
    await tamper(
        conn,
        f"update public.audit_logs set seq = -seq where seq > {at}",
        "update public.audit_logs set seq = 1 - seq where seq < 0",
        "insert into public.audit_logs (seq, prev_hash, hash, action, resource_type) "
        f"values ({at + 1}, '{rows[3]['hash']}', '', 'gpt.approved', 'gpt')",
        f"update public.audit_logs a set hash = audit.row_hash(a) where seq = {at + 1}",
        "update audit.chain_head set seq = seq + 1",
    )
    renumbered = [edited(row["seq"] + 1, row["id"]) for row in rows[4:]]
    return [does_not_follow(at + 2, rows[4]["id"]), *renumbered]


async def head_rewritten(conn: asyncpg.Connection) -> list[str]:
    """The owner rechains the end and moves the head along: nothing in the database shows it."""
    last = (await chain_rows(conn))[-1]["seq"]
    await tamper(
        conn,
        f"update public.audit_logs set details = '{{}}' where seq = {last}",
        f"update public.audit_logs a set hash = audit.row_hash(a) where seq = {last}",
        "update audit.chain_head h set hash = a.hash from public.audit_logs a "
        f"where a.seq = {last}",
    )
    return []


async def purged(conn: asyncpg.Connection) -> list[str]:
    assert await conn.fetchval("select public.purge_audit_logs('2010-01-01', 'retention')") == (
        OLD_ROWS
    )
    return []


async def purged_nothing(conn: asyncpg.Connection) -> list[str]:
    assert await conn.fetchval("select public.purge_audit_logs('2000-01-01', 'retention')") == 0
    return []


async def purged_then_first_deleted(conn: asyncpg.Connection) -> list[str]:
    """The recorded start of a purged chain guards its first remaining row."""
    await conn.fetchval("select public.purge_audit_logs('2010-01-01', 'retention')")
    first = OLD_ROWS + 1
    await tamper(conn, f"delete from public.audit_logs where seq = {first}")
    return [f"missing: row(s) {first} before row {first + 1} were deleted"]


INTACT: tuple[Case, ...] = (untouched, head_rewritten, purged, purged_nothing)
BROKEN: tuple[Case, ...] = (
    edited_details,
    edited_and_rehashed,
    middle_row_deleted,
    rows_deleted_together,
    last_rows_deleted,
    last_row_deleted_head_rewound,
    rows_swapped,
    forged_row_appended,
    forged_row_inserted,
    purged_then_first_deleted,
)
CASES: dict[str, Case] = {case.__name__: case for case in (*INTACT, *BROKEN)}


@dataclass(frozen=True)
class Verdict:
    """What verify found in a case's copy, and what the case expects."""

    db: MigratedDatabase
    code: int  # the command's exit code: 0 intact, 1 broken
    lines: list[str]
    expected: list[str]
    rows: int  # in the copy after the case
    head: str  # as verify prints it: "head <seq> <hash>"


async def judge(case: Case, db: MigratedDatabase) -> Verdict:
    """Apply `case` to its copy, then verify the copy as the command would."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        expected = await case(conn)
        rows = await conn.fetchval("select count(*) from public.audit_logs")
        head = await conn.fetchrow("select seq, hash from audit.chain_head")
    finally:
        await conn.close()
    out = io.StringIO()
    intact = await run_verify(db.admin_dsn, out)
    lines = out.getvalue().splitlines()
    return Verdict(
        db, 0 if intact else 1, lines, expected, rows, f"head {head['seq']} {head['hash']}"
    )


@pytest.fixture(scope="module")
async def verdicts(postgres_cluster: str, audit_template: str) -> AsyncIterator[dict[str, Verdict]]:
    """Every case applied to its own copy and judged; the copies made and dropped together
    (each CREATE and DROP DATABASE waits for a checkpoint, which concurrent ones share)."""
    made = await asyncio.gather(
        *(copy_database(postgres_cluster, audit_template, "gptdesk_audit_case") for _ in CASES),
        return_exceptions=True,
    )
    copies = [db for db in made if isinstance(db, MigratedDatabase)]
    try:
        assert len(copies) == len(CASES), made
        judged = await asyncio.gather(
            *(judge(case, db) for case, db in zip(CASES.values(), copies, strict=True))
        )
        yield dict(zip(CASES, judged, strict=True))
    finally:
        await asyncio.gather(*(drop_database(postgres_cluster, name_of(db)) for db in copies))


@pytest.mark.parametrize("case", ["untouched", "edited_details"])
def test_the_command_prints_and_exits_as_verify_finds(
    verdicts: dict[str, Verdict], cli_data_dir: Path, case: str
) -> None:
    """`gptdesk audit verify` itself, run as a process: its output and exit code."""
    verdict = verdicts[case]
    result = gptdesk_audit(verdict.db, cli_data_dir, "verify")
    assert "Traceback" not in result.stderr, result.stderr
    assert (result.returncode, result.stdout.splitlines()) == (verdict.code, verdict.lines)
    assert verdict.code == (1 if case == "edited_details" else 0)


def test_an_untouched_trail_verifies(verdicts: dict[str, Verdict]) -> None:
    verdict = verdicts["untouched"]
    assert verdict.rows == TRAIL_ROWS
    assert (verdict.code, verdict.lines) == (
        0,
        [f"audit chain intact: {TRAIL_ROWS} row(s), {verdict.head}"],
    )


@pytest.mark.parametrize("case", [case.__name__ for case in BROKEN])
def test_tampering_is_named(verdicts: dict[str, Verdict], case: str) -> None:
    verdict = verdicts[case]
    assert verdict.code == 1, verdict.lines
    assert verdict.lines[0].startswith("audit chain BROKEN: "), verdict.lines
    assert verdict.expected
    assert [line.strip() for line in verdict.lines[1:]] == verdict.expected
    assert verdict.lines[0] == (
        f"audit chain BROKEN: {len(verdict.expected)} problem(s) in {verdict.rows} row(s)"
    )


def test_a_rewritten_head_shows_only_against_a_head_kept_elsewhere(
    verdicts: dict[str, Verdict],
) -> None:
    """The owner can rechain the end and move the head: verify passes, but the head it
    prints is not the one it printed (and an auditor kept) before."""
    before, after = verdicts["untouched"], verdicts["head_rewritten"]
    assert after.code == 0, after.lines
    assert after.lines == [f"audit chain intact: {TRAIL_ROWS} row(s), {after.head}"]
    assert after.head != before.head
    assert after.head.split()[1] == before.head.split()[1]  # the same last seq


@pytest.mark.parametrize(("case", "removed"), [("purged", OLD_ROWS), ("purged_nothing", 0)])
def test_a_purged_trail_still_verifies(
    verdicts: dict[str, Verdict], case: str, removed: int
) -> None:
    verdict = verdicts[case]
    assert verdict.rows == TRAIL_ROWS - removed + 1  # with the audit.purged row
    assert (verdict.code, verdict.lines) == (
        0,
        [f"audit chain intact: {verdict.rows} row(s), {verdict.head}"],
    )
    assert verdict.head.split()[1] == str(TRAIL_ROWS + 1)
