"""The `gptdesk audit` commands' work, given the owner's database URL: verify the chain,
export rows, purge old rows. The command-line wrappers are in gptdesk.cli."""

import sys
from datetime import datetime
from typing import BinaryIO, TextIO

from gptdesk.audit import trail
from gptdesk.audit.export import Filters
from gptdesk.db.database import connect

MAX_PROBLEMS_SHOWN = 50


async def run_verify(dsn: str, out: TextIO = sys.stdout) -> bool:
    """Verify the chain, print what was found; True when it is intact."""
    conn = await connect(dsn)
    try:
        report = await trail.verify(conn)
    finally:
        await conn.close()
    if report.intact:
        print(
            f"audit chain intact: {report.rows} row(s), head {report.head_seq} {report.head_hash}",
            file=out,
        )
        return True
    print(
        f"audit chain BROKEN: {len(report.problems)} problem(s) in {report.rows} row(s)", file=out
    )
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        print(f"  {problem.kind}: {problem.message}", file=out)
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        print(f"  … and {len(report.problems) - MAX_PROBLEMS_SHOWN} more", file=out)
    return False


async def run_export(dsn: str, filters: Filters, fmt: str, out: BinaryIO) -> None:
    """Write the matching rows to `out` as JSONL or CSV."""
    conn = await connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            async for line in trail.export(conn, filters, fmt):
                out.write(line)
        out.flush()
    finally:
        await conn.close()


async def run_purge(dsn: str, older_than: datetime, justification: str) -> int:
    """Purge rows older than `older_than` from the start of the chain; the count removed."""
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            return await trail.purge(conn, older_than, justification)
    finally:
        await conn.close()
