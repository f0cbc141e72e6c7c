"""Reading the audit trail from the database: verification of the whole chain (as the owner),
export of filtered rows (as whoever asks: RLS decides which rows), and the purge."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from gptdesk.audit.chain import FIELDS, ChainWalker, Problem, Start
from gptdesk.audit.export import Filters, csv_header, csv_line, export_query, jsonl_line

BATCH_ROWS = 2_000
_VERIFY_SQL = (
    "select "
    + ", ".join(f"{sql} as {name}" for name, sql in FIELDS)
    + ", hash from public.audit_logs order by public.audit_logs.seq"
)


@dataclass
class Report:
    """What `verify` found: rows checked, the chain head, and every problem."""

    rows: int
    head_seq: int
    head_hash: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """No row edited, deleted, inserted or moved."""
        return not self.problems


async def verify(conn: asyncpg.Connection) -> Report:
    """Walk the whole chain in one snapshot; `conn` must be the owner's."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchrow("select * from audit.chain_head where one")
        if head is None:
            raise RuntimeError("the audit chain head is missing: run gptdesk migrate")
        start = Start(
            first_seq=head["purged_through_seq"] + 1,
            prev_hash=head["purged_through_hash"],
            head_seq=head["seq"],
            head_hash=head["hash"],
        )
        walker = ChainWalker(start)
        problems: list[Problem] = []
        async for row in conn.cursor(_VERIFY_SQL, prefetch=BATCH_ROWS):
            problems.extend(walker.feed(row))
        problems.extend(walker.finish())
    return Report(walker.rows, start.head_seq, start.head_hash, problems)


async def export(conn: asyncpg.Connection, filters: Filters, fmt: str) -> AsyncIterator[bytes]:
    """The matching rows as JSONL or CSV lines; `conn` must be in a transaction."""
    sql, args = export_query(filters)
    if fmt == "csv":
        yield csv_header()
    async for row in conn.cursor(sql, *args, prefetch=BATCH_ROWS):
        yield csv_line(row) if fmt == "csv" else jsonl_line(row)


async def purge(conn: asyncpg.Connection, older_than: datetime, justification: str) -> int:
    """Remove the rows older than `older_than` at the start of the chain; audited."""
    return await conn.fetchval("select public.purge_audit_logs($1, $2)", older_than, justification)
